//! Users, tasks and sessions in memory, behind the repository ports, with the same
//! contract as the SQL adapters: what the adapter contract suite of `taskforge-infra`
//! checks of PostgreSQL and SQLite, it checks of these too.
//!
//! One [`InMemoryStore`] is one database: its three repositories share it, so a
//! deleted user takes their tasks and sessions along and a task needs an existing
//! owner. Every operation holds the store's lock from start to end, so each is atomic
//! and parallel calls serialise as they would on a database row.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::DomainError;
use crate::auth::throttle::ThrottleState;
use crate::auth::{
    ClientInfo, PasswordReset, Rotation, Session, SessionRepository, SessionSummary,
};
use crate::idempotency::{Claim, IdempotencyKey, IdempotencyRepository, IdempotentOutcome};
use crate::page::{Page, PageRequest, Slice, Window};
use crate::task::{
    ChangeEvent, FeedCursor, FeedItem, FeedPage, Task, TaskChange, TaskChangeLog, TaskFilter,
    TaskPosition, TaskRepository, TaskSort, TaskSortValue, TaskStatus, WriteLog,
};
use crate::user::{
    LoginIdentifier, PasswordHash, SessionEffect, User, UserCredentials, UserFilter, UserPosition,
    UserRepository, changed_meanwhile,
};

mod accounts;

/// What a database would hold.
#[derive(Debug, Default)]
struct State {
    users: HashMap<Uuid, (User, PasswordHash)>,
    tasks: HashMap<Uuid, Task>,
    sessions: HashMap<Uuid, Session>,
    /// Where each session was started from and when it was last used.
    session_use: HashMap<Uuid, (ClientInfo, DateTime<Utc>)>,
    /// Password resets by token digest, with when each was used.
    resets: HashMap<String, (PasswordReset, Option<DateTime<Utc>>)>,
    /// The login throttle's state per identifier.
    throttles: HashMap<String, ThrottleState>,
    /// The change log, in commit order (one writer at a time: the lock).
    changes: Vec<(i64, TaskChange)>,
    /// The last position handed out.
    last_seq: i64,
    /// Changes up to this position were purged.
    purged_through: i64,
    /// Idempotency keys by (user, key).
    keys: HashMap<(Uuid, String), KeyEntry>,
}

/// One idempotency key's state.
#[derive(Debug, Clone)]
struct KeyEntry {
    fingerprint: String,
    done: Option<IdempotentOutcome>,
    claimed_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

impl State {
    /// Stores what a write leaves beside the task: its change, its key's outcome.
    fn record(&mut self, log: &WriteLog) {
        self.append(log.change.clone());
        if let Some(completion) = &log.completion
            && let Some(entry) = self
                .keys
                .get_mut(&(completion.user_id, completion.key.as_str().to_owned()))
        {
            entry.done = Some(completion.outcome.clone());
        }
    }

    fn append(&mut self, change: TaskChange) {
        self.last_seq += 1;
        self.changes.push((self.last_seq, change));
    }
}

/// In-memory feed cursors: `m:<seq>` (changes after a position) or
/// `m:<horizon>:<task id>` (the first pass over every task, up to a task id, then the
/// changes after the horizon).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MemoryCursor {
    Changes(i64),
    Snapshot { horizon: i64, after: Uuid },
}

impl MemoryCursor {
    fn encode(self) -> FeedCursor {
        FeedCursor(match self {
            MemoryCursor::Changes(seq) => format!("m:{seq}"),
            MemoryCursor::Snapshot { horizon, after } => format!("m:{horizon}:{after}"),
        })
    }

    fn decode(cursor: &FeedCursor) -> Result<Self, DomainError> {
        let invalid = || DomainError::invalid("since", "is not a cursor of this change log");
        let parts: Vec<&str> = cursor.0.split(':').collect();
        match parts.as_slice() {
            ["m", seq] => Ok(MemoryCursor::Changes(seq.parse().map_err(|_| invalid())?)),
            ["m", horizon, after] => Ok(MemoryCursor::Snapshot {
                horizon: horizon.parse().map_err(|_| invalid())?,
                after: Uuid::parse_str(after).map_err(|_| invalid())?,
            }),
            _ => Err(invalid()),
        }
    }
}

/// An in-memory database of users, tasks and sessions. Cheap to clone: clones share
/// the data.
#[derive(Debug, Clone, Default)]
pub struct InMemoryStore {
    state: Arc<Mutex<State>>,
}

impl InMemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The [`UserRepository`] of this store.
    pub fn users(&self) -> InMemoryUserRepository {
        InMemoryUserRepository(self.clone())
    }

    /// The [`TaskRepository`] of this store.
    pub fn tasks(&self) -> InMemoryTaskRepository {
        InMemoryTaskRepository(self.clone())
    }

    /// The [`TaskChangeLog`] of this store.
    pub fn changes(&self) -> InMemoryTaskChangeLog {
        InMemoryTaskChangeLog(self.clone())
    }

    /// The [`IdempotencyRepository`] of this store.
    pub fn idempotency(&self) -> InMemoryIdempotencyRepository {
        InMemoryIdempotencyRepository(self.clone())
    }

    /// The [`crate::auth::PasswordResetRepository`] of this store.
    pub fn resets(&self) -> InMemoryPasswordResetRepository {
        InMemoryPasswordResetRepository(self.clone())
    }

    /// The [`crate::auth::LoginThrottleRepository`] of this store.
    pub fn login_throttle(&self) -> InMemoryLoginThrottle {
        InMemoryLoginThrottle(self.clone())
    }

    /// The [`SessionRepository`] of this store.
    pub fn sessions(&self) -> InMemorySessionRepository {
        InMemorySessionRepository(self.clone())
    }

    /// Every session of a user, revoked ones included, oldest first: for assertions
    /// (the port itself has no such read).
    pub fn sessions_of(&self, user_id: Uuid) -> Vec<Session> {
        let mut sessions: Vec<Session> = self
            .lock()
            .sessions
            .values()
            .filter(|s| s.user_id == user_id)
            .cloned()
            .collect();
        sessions.sort_by_key(|s| (s.created_at, s.id));
        sessions
    }

    /// The session with this id, revoked or not: for assertions (the port itself has
    /// no such read).
    pub fn session(&self, id: Uuid) -> Option<Session> {
        self.lock().sessions.get(&id).cloned()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every operation leaves the state whole before it can panic.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// [`UserRepository`] over an [`InMemoryStore`].
#[derive(Debug, Clone)]
pub struct InMemoryUserRepository(InMemoryStore);

/// [`TaskRepository`] over an [`InMemoryStore`].
#[derive(Debug, Clone)]
pub struct InMemoryTaskRepository(InMemoryStore);

/// [`SessionRepository`] over an [`InMemoryStore`].
#[derive(Debug, Clone)]
pub struct InMemorySessionRepository(InMemoryStore);

/// [`crate::auth::PasswordResetRepository`] over an [`InMemoryStore`].
#[derive(Debug, Clone)]
pub struct InMemoryPasswordResetRepository(InMemoryStore);

/// [`crate::auth::LoginThrottleRepository`] over an [`InMemoryStore`].
#[derive(Debug, Clone)]
pub struct InMemoryLoginThrottle(InMemoryStore);

/// [`TaskChangeLog`] over an [`InMemoryStore`].
#[derive(Debug, Clone)]
pub struct InMemoryTaskChangeLog(InMemoryStore);

/// [`IdempotencyRepository`] over an [`InMemoryStore`].
#[derive(Debug, Clone)]
pub struct InMemoryIdempotencyRepository(InMemoryStore);

fn user_not_found(id: Uuid) -> DomainError {
    DomainError::NotFound(format!("user {id} not found"))
}

fn task_not_found(id: Uuid) -> DomainError {
    DomainError::NotFound(format!("task {id} not found"))
}

/// The SQL adapters' unique indexes: email, and username case-insensitively.
fn check_unique(state: &State, user: &User) -> Result<(), DomainError> {
    for (other, _) in state.users.values().filter(|(u, _)| u.id != user.id) {
        if other.email == user.email {
            return Err(DomainError::Conflict("email already registered".into()));
        }
        let key = |u: &User| u.username.as_ref().map(|n| n.key());
        if key(other).is_some() && key(other) == key(user) {
            return Err(DomainError::Conflict("username already taken".into()));
        }
    }
    Ok(())
}

fn another_active_admin(state: &State, except: Uuid) -> bool {
    state
        .users
        .values()
        .any(|(u, _)| u.id != except && u.is_active_admin())
}

fn revoke_where(state: &mut State, now: DateTime<Utc>, matches: impl Fn(&Session) -> bool) {
    for session in state.sessions.values_mut() {
        if session.revoked_at.is_none() && matches(session) {
            session.revoked_at = Some(now);
        }
    }
}

/// Cuts a page out of items already in order.
fn page_of<T: Clone>(items: &[T], page: PageRequest) -> Page<T> {
    let start = usize::try_from(page.offset()).unwrap_or(usize::MAX);
    let limit = usize::try_from(page.limit()).unwrap_or(usize::MAX);
    Page {
        items: items.iter().skip(start).take(limit).cloned().collect(),
        total: items.len() as u64,
        limit: page.limit(),
        offset: page.offset(),
    }
}

/// Cuts a window out of items already in order: from its offset, or after the
/// items for which `up_to_position` holds; counted up to the window's cap.
fn slice_of<T: Clone, K>(
    items: &[T],
    window: &Window<K>,
    up_to_position: impl Fn(&T, &K) -> bool,
) -> Slice<T> {
    let start = match &window.after {
        Some(position) => items
            .iter()
            .take_while(|item| up_to_position(item, position))
            .count(),
        None => usize::try_from(window.offset).unwrap_or(usize::MAX),
    };
    let limit = usize::try_from(window.limit).unwrap_or(usize::MAX);
    let (total, total_exact) = window.total_of(items.len() as u64);
    Slice {
        items: items.iter().skip(start).take(limit).cloned().collect(),
        total,
        total_exact,
        more: items.len() > start.saturating_add(limit),
    }
}

#[async_trait]
impl UserRepository for InMemoryUserRepository {
    async fn insert(&self, user: &User, password_hash: &PasswordHash) -> Result<(), DomainError> {
        let mut state = self.0.lock();
        if state.users.contains_key(&user.id) {
            return Err(DomainError::Conflict("already exists".into()));
        }
        check_unique(&state, user)?;
        state
            .users
            .insert(user.id, (user.clone(), password_hash.clone()));
        Ok(())
    }

    async fn find_by_id(&self, id: Uuid) -> Result<Option<User>, DomainError> {
        Ok(self.0.lock().users.get(&id).map(|(u, _)| u.clone()))
    }

    async fn find_by_email(&self, email: &str) -> Result<Option<User>, DomainError> {
        let state = self.0.lock();
        Ok(state
            .users
            .values()
            .find(|(u, _)| u.email.as_str() == email)
            .map(|(u, _)| u.clone()))
    }

    async fn find_credentials(
        &self,
        identifier: &LoginIdentifier,
    ) -> Result<Option<UserCredentials>, DomainError> {
        let state = self.0.lock();
        let found = state.users.values().find(|(u, _)| match identifier {
            LoginIdentifier::Email(email) => u.email.as_str() == email,
            LoginIdentifier::Username(name) => {
                u.username.as_ref().map(|n| n.key()) == Some(name.to_ascii_lowercase())
            }
        });
        Ok(found.map(|(user, hash)| UserCredentials {
            user: user.clone(),
            password_hash: hash.clone(),
        }))
    }

    async fn password_hash(&self, id: Uuid) -> Result<Option<PasswordHash>, DomainError> {
        Ok(self.0.lock().users.get(&id).map(|(_, h)| h.clone()))
    }

    async fn list(
        &self,
        filter: &UserFilter,
        window: Window<UserPosition>,
    ) -> Result<Slice<User>, DomainError> {
        let needle = filter.q.as_deref().map(str::to_lowercase);
        let state = self.0.lock();
        let mut users: Vec<User> = state
            .users
            .values()
            .map(|(u, _)| u)
            .filter(|u| {
                needle.as_deref().is_none_or(|q| {
                    u.email.as_str().contains(q)
                        || u.username.as_ref().is_some_and(|n| n.key().contains(q))
                }) && filter.role.is_none_or(|r| u.role == r)
                    && filter.is_active.is_none_or(|a| u.is_active == a)
            })
            .cloned()
            .collect();
        users.sort_by_key(|u| std::cmp::Reverse((u.created_at, u.id)));
        Ok(slice_of(&users, &window, |u, after| {
            (u.created_at, u.id) >= (after.created_at, after.id)
        }))
    }

    async fn update(
        &self,
        user: &User,
        password_hash: Option<PasswordHash>,
        sessions: SessionEffect,
        now: DateTime<Utc>,
    ) -> Result<User, DomainError> {
        let mut state = self.0.lock();
        let (stored, stored_hash) = state
            .users
            .get(&user.id)
            .cloned()
            .ok_or_else(|| user_not_found(user.id))?;
        if stored.updated_at != user.updated_at {
            return Err(changed_meanwhile(user.id));
        }
        if stored.is_active_admin()
            && !user.is_active_admin()
            && !another_active_admin(&state, user.id)
        {
            return Err(DomainError::Conflict(
                "cannot demote or deactivate the last active admin".into(),
            ));
        }
        check_unique(&state, user)?;
        if password_hash.is_some() {
            // A new password kills every reset token of the user.
            state.resets.retain(|_, (r, _)| r.user_id != user.id);
        }
        let hash = password_hash.unwrap_or(stored_hash);
        let updated = User {
            updated_at: now,
            ..user.clone()
        };
        state.users.insert(user.id, (updated.clone(), hash));
        if sessions == SessionEffect::RevokeAll {
            revoke_where(&mut state, now, |s| s.user_id == user.id);
        }
        Ok(updated)
    }

    async fn delete(&self, id: Uuid, actor_id: Uuid, at: DateTime<Utc>) -> Result<(), DomainError> {
        let mut state = self.0.lock();
        let (stored, _) = state.users.get(&id).ok_or_else(|| user_not_found(id))?;
        if stored.is_active_admin() && !another_active_admin(&state, id) {
            return Err(DomainError::Conflict(
                "cannot delete the last active admin".into(),
            ));
        }
        let mut owned: Vec<Task> = state
            .tasks
            .values()
            .filter(|t| t.owner_id == id)
            .cloned()
            .collect();
        owned.sort_by_key(|t| t.id);
        for task in &owned {
            state.append(TaskChange::deleted(task, actor_id, at));
        }
        state.tasks.retain(|_, t| t.owner_id != id);
        state.sessions.retain(|_, s| s.user_id != id);
        state.resets.retain(|_, (r, _)| r.user_id != id);
        state.users.remove(&id);
        Ok(())
    }
}

/// Whether a task passes every filter, as the SQL adapters' `WHERE` decides.
fn matches(task: &Task, filter: &TaskFilter) -> bool {
    let contains = |text: &str, needle: &str| text.to_lowercase().contains(needle);
    let needle = filter.q.as_deref().map(str::to_lowercase);
    filter.owner_id.is_none_or(|o| task.owner_id == o)
        && filter.status.is_none_or(|s| task.status == s)
        && filter
            .completed
            .is_none_or(|c| (task.status == TaskStatus::Done) == c)
        && filter.priority.is_none_or(|p| task.priority == p)
        && needle.as_deref().is_none_or(|q| {
            contains(task.title.as_str(), q)
                || task
                    .description
                    .as_ref()
                    .is_some_and(|d| contains(d.as_str(), q))
        })
        && filter
            .due_before
            .is_none_or(|before| task.due_date.is_some_and(|d| d < before))
        && filter
            .due_after
            .is_none_or(|after| task.due_date.is_some_and(|d| d > after))
}

/// The list order: the key in the sort's direction (tasks without a due date last
/// either way), then the id in the same direction.
fn compare(a: &Task, b: &Task, sort: TaskSort) -> Ordering {
    compare_positions(
        &TaskPosition::of(a, sort.key),
        &TaskPosition::of(b, sort.key),
        sort.descending,
    )
}

/// The list order of two positions of the same sort key.
fn compare_positions(a: &TaskPosition, b: &TaskPosition, descending: bool) -> Ordering {
    let directed = |o: Ordering| if descending { o.reverse() } else { o };
    let by_key = match (&a.value, &b.value) {
        (TaskSortValue::Instant(x), TaskSortValue::Instant(y)) => directed(x.cmp(y)),
        (TaskSortValue::Due(x), TaskSortValue::Due(y)) => match (x, y) {
            (Some(x), Some(y)) => directed(x.cmp(y)),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        },
        (TaskSortValue::Priority(x), TaskSortValue::Priority(y)) => {
            directed(x.rank().cmp(&y.rank()))
        }
        // `str` orders by UTF-8 bytes, which is code-point order.
        (TaskSortValue::Title(x), TaskSortValue::Title(y)) => directed(x.as_str().cmp(y)),
        // Positions of different keys never meet: the service checks the cursor's sort.
        _ => Ordering::Equal,
    };
    by_key.then_with(|| directed(a.id.cmp(&b.id)))
}

#[async_trait]
impl TaskRepository for InMemoryTaskRepository {
    async fn insert(&self, task: &Task, log: &WriteLog) -> Result<(), DomainError> {
        let mut state = self.0.lock();
        if !state.users.contains_key(&task.owner_id) {
            return Err(DomainError::NotFound("user not found".into()));
        }
        if state.tasks.contains_key(&task.id) {
            return Err(DomainError::Conflict("already exists".into()));
        }
        state.tasks.insert(task.id, task.clone());
        state.record(log);
        Ok(())
    }

    async fn find_by_id(&self, id: Uuid) -> Result<Option<Task>, DomainError> {
        Ok(self.0.lock().tasks.get(&id).cloned())
    }

    async fn list(
        &self,
        filter: &TaskFilter,
        sort: TaskSort,
        window: Window<TaskPosition>,
    ) -> Result<Slice<Task>, DomainError> {
        let state = self.0.lock();
        let mut tasks: Vec<Task> = state
            .tasks
            .values()
            .filter(|t| matches(t, filter))
            .cloned()
            .collect();
        tasks.sort_by(|a, b| compare(a, b, sort));
        Ok(slice_of(&tasks, &window, |task, after| {
            compare_positions(&TaskPosition::of(task, sort.key), after, sort.descending)
                != Ordering::Greater
        }))
    }

    async fn update(
        &self,
        task: &Task,
        expected_version: i64,
        log: &WriteLog,
    ) -> Result<(), DomainError> {
        let mut state = self.0.lock();
        let stored = state
            .tasks
            .get(&task.id)
            .ok_or_else(|| task_not_found(task.id))?;
        if stored.version != expected_version {
            return Err(DomainError::PreconditionFailed(
                "task version changed".into(),
            ));
        }
        if !state.users.contains_key(&task.owner_id) {
            return Err(DomainError::NotFound("user not found".into()));
        }
        state.tasks.insert(task.id, task.clone());
        state.record(log);
        Ok(())
    }

    async fn delete(
        &self,
        id: Uuid,
        expected_version: Option<i64>,
        log: &WriteLog,
    ) -> Result<(), DomainError> {
        let mut state = self.0.lock();
        let stored = state.tasks.get(&id).ok_or_else(|| task_not_found(id))?;
        if expected_version.is_some_and(|v| v != stored.version) {
            return Err(DomainError::PreconditionFailed(
                "task version changed".into(),
            ));
        }
        state.tasks.remove(&id);
        state.record(log);
        Ok(())
    }
}

#[async_trait]
impl SessionRepository for InMemorySessionRepository {
    async fn insert(&self, session: &Session) -> Result<(), DomainError> {
        self.start(session, &ClientInfo::default()).await
    }

    async fn start(&self, session: &Session, client: &ClientInfo) -> Result<(), DomainError> {
        let mut state = self.0.lock();
        if !state.users.contains_key(&session.user_id) {
            return Err(DomainError::NotFound("user not found".into()));
        }
        if state.sessions.contains_key(&session.id) {
            return Err(DomainError::Conflict("already exists".into()));
        }
        state.sessions.insert(session.id, session.clone());
        state
            .session_use
            .insert(session.id, (client.clone(), session.created_at));
        Ok(())
    }

    async fn list_live(
        &self,
        user_id: Uuid,
        now: DateTime<Utc>,
        page: PageRequest,
    ) -> Result<Page<SessionSummary>, DomainError> {
        let state = self.0.lock();
        let mut live: Vec<SessionSummary> = state
            .sessions
            .values()
            .filter(|s| s.user_id == user_id && s.revoked_at.is_none() && s.expires_at > now)
            .map(|s| {
                let (client, last_used_at) = state
                    .session_use
                    .get(&s.id)
                    .cloned()
                    .unwrap_or((ClientInfo::default(), s.created_at));
                SessionSummary {
                    id: s.id,
                    created_at: s.created_at,
                    last_used_at,
                    expires_at: s.expires_at,
                    user_agent: client.user_agent,
                    ip: client.ip,
                }
            })
            .collect();
        live.sort_by_key(|s| std::cmp::Reverse((s.created_at, s.id)));
        Ok(page_of(&live, page))
    }

    async fn revoke_own(
        &self,
        user_id: Uuid,
        session_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<bool, DomainError> {
        let mut state = self.0.lock();
        match state.sessions.get_mut(&session_id) {
            Some(s) if s.user_id == user_id && s.revoked_at.is_none() && s.expires_at > now => {
                s.revoked_at = Some(now);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn rotate(
        &self,
        session_id: Uuid,
        presented_jti: Uuid,
        new_jti: Uuid,
        new_expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Rotation, DomainError> {
        let mut state = self.0.lock();
        let Some(session) = state.sessions.get_mut(&session_id) else {
            return Ok(Rotation::Rejected);
        };
        let live = session.revoked_at.is_none() && session.expires_at > now;
        if !live {
            return Ok(Rotation::Rejected);
        }
        if session.refresh_jti == presented_jti {
            session.refresh_jti = new_jti;
            session.expires_at = new_expires_at;
            let rotated = session.clone();
            if let Some((_, last_used_at)) = state.session_use.get_mut(&session_id) {
                *last_used_at = now;
            }
            return Ok(Rotation::Rotated(rotated));
        }
        session.revoked_at = Some(now);
        Ok(Rotation::ReuseDetected)
    }

    async fn find_session_user(&self, session_id: Uuid) -> Result<Option<User>, DomainError> {
        let state = self.0.lock();
        Ok(state
            .sessions
            .get(&session_id)
            .filter(|s| s.revoked_at.is_none())
            .and_then(|s| state.users.get(&s.user_id))
            .map(|(u, _)| u.clone()))
    }

    async fn revoke(&self, session_id: Uuid, now: DateTime<Utc>) -> Result<(), DomainError> {
        revoke_where(&mut self.0.lock(), now, |s| s.id == session_id);
        Ok(())
    }

    async fn revoke_all(&self, user_id: Uuid, now: DateTime<Utc>) -> Result<(), DomainError> {
        revoke_where(&mut self.0.lock(), now, |s| s.user_id == user_id);
        Ok(())
    }

    async fn purge(&self, now: DateTime<Utc>) -> Result<u64, DomainError> {
        let mut state = self.0.lock();
        let before = state.sessions.len();
        state
            .sessions
            .retain(|_, s| s.expires_at > now && s.revoked_at.is_none());
        let State {
            sessions,
            session_use,
            ..
        } = &mut *state;
        session_use.retain(|id, _| sessions.contains_key(id));
        Ok((before - state.sessions.len()) as u64)
    }
}

impl State {
    /// Refuses a position the log cannot continue from: before the last purge, or past
    /// the last change (a cursor of another store).
    fn gone_unless_held(&self, seq: i64) -> Result<(), DomainError> {
        if seq < self.purged_through {
            Err(DomainError::Gone(
                "this cursor is older than the change log's retention; sync from scratch".into(),
            ))
        } else if seq > self.last_seq {
            Err(DomainError::Gone(
                "this cursor is past the end of the change log; sync from scratch".into(),
            ))
        } else {
            Ok(())
        }
    }

    fn event(&self, seq: i64, change: &TaskChange) -> ChangeEvent {
        ChangeEvent {
            seq,
            cursor: MemoryCursor::Changes(seq).encode(),
            change: change.clone(),
        }
    }
}

#[async_trait]
impl TaskChangeLog for InMemoryTaskChangeLog {
    async fn feed<'a>(
        &self,
        viewer: Option<Uuid>,
        after: Option<&'a FeedCursor>,
        limit: u64,
    ) -> Result<FeedPage, DomainError> {
        let state = self.0.lock();
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let cursor = match after {
            Some(cursor) => MemoryCursor::decode(cursor)?,
            None => MemoryCursor::Snapshot {
                horizon: state.last_seq,
                after: Uuid::nil(),
            },
        };
        match cursor {
            MemoryCursor::Snapshot { horizon, after } => {
                state.gone_unless_held(horizon)?;
                let mut tasks: Vec<&Task> = state
                    .tasks
                    .values()
                    .filter(|t| t.id > after && viewer.is_none_or(|v| t.owner_id == v))
                    .collect();
                tasks.sort_by_key(|t| t.id);
                let has_more = tasks.len() > limit;
                tasks.truncate(limit);
                let next = match (has_more, tasks.last()) {
                    (true, Some(last)) => MemoryCursor::Snapshot {
                        horizon,
                        after: last.id,
                    },
                    _ => MemoryCursor::Changes(horizon),
                };
                let changed_since = state
                    .changes
                    .iter()
                    .any(|(seq, change)| *seq > horizon && change.visible_to(viewer));
                Ok(FeedPage {
                    items: tasks.into_iter().cloned().map(FeedItem::Task).collect(),
                    next: next.encode(),
                    has_more: has_more || changed_since,
                })
            }
            MemoryCursor::Changes(from) => {
                state.gone_unless_held(from)?;
                // Each task once, at its latest change, in the order of those.
                let mut latest: HashMap<Uuid, i64> = HashMap::new();
                for (seq, change) in &state.changes {
                    if *seq > from && change.visible_to(viewer) {
                        latest.insert(change.task_id, *seq);
                    }
                }
                let mut order: Vec<(i64, Uuid)> = latest.into_iter().map(|(t, s)| (s, t)).collect();
                order.sort();
                let has_more = order.len() > limit;
                order.truncate(limit);
                let next = match (has_more, order.last()) {
                    (true, Some((seq, _))) => *seq,
                    _ => state.last_seq.max(from),
                };
                let items = order
                    .into_iter()
                    .map(|(_, id)| match state.tasks.get(&id) {
                        Some(task) if viewer.is_none_or(|v| task.owner_id == v) => {
                            FeedItem::Task(task.clone())
                        }
                        _ => FeedItem::Deleted(id),
                    })
                    .collect();
                Ok(FeedPage {
                    items,
                    next: MemoryCursor::Changes(next).encode(),
                    has_more,
                })
            }
        }
    }

    async fn events_after(
        &self,
        viewer: Option<Uuid>,
        after: &FeedCursor,
        limit: u64,
    ) -> Result<Vec<ChangeEvent>, DomainError> {
        let state = self.0.lock();
        let from = match MemoryCursor::decode(after)? {
            MemoryCursor::Changes(seq) => seq,
            MemoryCursor::Snapshot { horizon, .. } => horizon,
        };
        state.gone_unless_held(from)?;
        Ok(state
            .changes
            .iter()
            .filter(|(seq, change)| *seq > from && change.visible_to(viewer))
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .map(|(seq, change)| state.event(*seq, change))
            .collect())
    }

    async fn end(&self) -> Result<FeedCursor, DomainError> {
        Ok(MemoryCursor::Changes(self.0.lock().last_seq).encode())
    }

    async fn history(
        &self,
        task_id: Uuid,
        page: PageRequest,
    ) -> Result<Page<ChangeEvent>, DomainError> {
        let state = self.0.lock();
        let events: Vec<ChangeEvent> = state
            .changes
            .iter()
            .filter(|(_, change)| change.task_id == task_id)
            .map(|(seq, change)| state.event(*seq, change))
            .collect();
        Ok(page_of(&events, page))
    }

    async fn purge(&self, before: DateTime<Utc>) -> Result<u64, DomainError> {
        let mut state = self.0.lock();
        let count = state.changes.len();
        if let Some(last_purged) = state
            .changes
            .iter()
            .filter(|(_, change)| change.at < before)
            .map(|(seq, _)| *seq)
            .max()
        {
            state.purged_through = state.purged_through.max(last_purged);
        }
        state.changes.retain(|(_, change)| change.at >= before);
        Ok((count - state.changes.len()) as u64)
    }
}

#[async_trait]
impl IdempotencyRepository for InMemoryIdempotencyRepository {
    async fn claim(
        &self,
        user_id: Uuid,
        key: &IdempotencyKey,
        fingerprint: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> Result<Claim, DomainError> {
        let mut state = self.0.lock();
        let slot = (user_id, key.as_str().to_owned());
        let free = match state.keys.get(&slot) {
            None => true,
            Some(entry) => {
                entry.expires_at <= now || (entry.done.is_none() && entry.claimed_at < stale_before)
            }
        };
        if free {
            state.keys.insert(
                slot,
                KeyEntry {
                    fingerprint: fingerprint.to_owned(),
                    done: None,
                    claimed_at: now,
                    expires_at,
                },
            );
            return Ok(Claim::Claimed);
        }
        let entry = &state.keys[&slot];
        Ok(if entry.fingerprint != fingerprint {
            Claim::Mismatch
        } else {
            match &entry.done {
                Some(outcome) => Claim::Done(outcome.clone()),
                None => Claim::InProgress,
            }
        })
    }

    async fn release(&self, user_id: Uuid, key: &IdempotencyKey) -> Result<(), DomainError> {
        let mut state = self.0.lock();
        let slot = (user_id, key.as_str().to_owned());
        if state
            .keys
            .get(&slot)
            .is_some_and(|entry| entry.done.is_none())
        {
            state.keys.remove(&slot);
        }
        Ok(())
    }

    async fn purge(&self, now: DateTime<Utc>) -> Result<u64, DomainError> {
        let mut state = self.0.lock();
        let count = state.keys.len();
        state.keys.retain(|_, entry| entry.expires_at > now);
        Ok((count - state.keys.len()) as u64)
    }
}
