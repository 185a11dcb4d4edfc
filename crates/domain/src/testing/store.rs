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
use crate::auth::{Rotation, Session, SessionRepository};
use crate::page::{Page, PageRequest};
use crate::task::{Task, TaskFilter, TaskRepository, TaskSort, TaskSortKey, TaskStatus};
use crate::user::{
    LoginIdentifier, PasswordHash, SessionEffect, User, UserCredentials, UserFilter, UserRepository,
};

/// What a database would hold.
#[derive(Debug, Default)]
struct State {
    users: HashMap<Uuid, (User, PasswordHash)>,
    tasks: HashMap<Uuid, Task>,
    sessions: HashMap<Uuid, Session>,
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
        page: PageRequest,
    ) -> Result<Page<User>, DomainError> {
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
        Ok(page_of(&users, page))
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
        if stored.is_active_admin()
            && !user.is_active_admin()
            && !another_active_admin(&state, user.id)
        {
            return Err(DomainError::Conflict(
                "cannot demote or deactivate the last active admin".into(),
            ));
        }
        check_unique(&state, user)?;
        let hash = password_hash.unwrap_or(stored_hash);
        state.users.insert(user.id, (user.clone(), hash));
        if sessions == SessionEffect::RevokeAll {
            revoke_where(&mut state, now, |s| s.user_id == user.id);
        }
        Ok(user.clone())
    }

    async fn delete(&self, id: Uuid) -> Result<(), DomainError> {
        let mut state = self.0.lock();
        let (stored, _) = state.users.get(&id).ok_or_else(|| user_not_found(id))?;
        if stored.is_active_admin() && !another_active_admin(&state, id) {
            return Err(DomainError::Conflict(
                "cannot delete the last active admin".into(),
            ));
        }
        state.tasks.retain(|_, t| t.owner_id != id);
        state.sessions.retain(|_, s| s.user_id != id);
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
    let directed = |o: Ordering| if sort.descending { o.reverse() } else { o };
    let by_key = match sort.key {
        TaskSortKey::CreatedAt => directed(a.created_at.cmp(&b.created_at)),
        TaskSortKey::UpdatedAt => directed(a.updated_at.cmp(&b.updated_at)),
        TaskSortKey::DueDate => match (a.due_date, b.due_date) {
            (Some(x), Some(y)) => directed(x.cmp(&y)),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        },
        TaskSortKey::Priority => directed(a.priority.rank().cmp(&b.priority.rank())),
        // `str` orders by UTF-8 bytes, which is code-point order.
        TaskSortKey::Title => directed(a.title.as_str().cmp(b.title.as_str())),
    };
    by_key.then_with(|| directed(a.id.cmp(&b.id)))
}

#[async_trait]
impl TaskRepository for InMemoryTaskRepository {
    async fn insert(&self, task: &Task) -> Result<(), DomainError> {
        let mut state = self.0.lock();
        if !state.users.contains_key(&task.owner_id) {
            return Err(DomainError::NotFound("user not found".into()));
        }
        if state.tasks.contains_key(&task.id) {
            return Err(DomainError::Conflict("already exists".into()));
        }
        state.tasks.insert(task.id, task.clone());
        Ok(())
    }

    async fn find_by_id(&self, id: Uuid) -> Result<Option<Task>, DomainError> {
        Ok(self.0.lock().tasks.get(&id).cloned())
    }

    async fn list(
        &self,
        filter: &TaskFilter,
        sort: TaskSort,
        page: PageRequest,
    ) -> Result<Page<Task>, DomainError> {
        let state = self.0.lock();
        let mut tasks: Vec<Task> = state
            .tasks
            .values()
            .filter(|t| matches(t, filter))
            .cloned()
            .collect();
        tasks.sort_by(|a, b| compare(a, b, sort));
        Ok(page_of(&tasks, page))
    }

    async fn update(&self, task: &Task, expected_version: i64) -> Result<(), DomainError> {
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
        Ok(())
    }

    async fn delete(&self, id: Uuid, expected_version: Option<i64>) -> Result<(), DomainError> {
        let mut state = self.0.lock();
        let stored = state.tasks.get(&id).ok_or_else(|| task_not_found(id))?;
        if expected_version.is_some_and(|v| v != stored.version) {
            return Err(DomainError::PreconditionFailed(
                "task version changed".into(),
            ));
        }
        state.tasks.remove(&id);
        Ok(())
    }
}

#[async_trait]
impl SessionRepository for InMemorySessionRepository {
    async fn insert(&self, session: &Session) -> Result<(), DomainError> {
        let mut state = self.0.lock();
        if !state.users.contains_key(&session.user_id) {
            return Err(DomainError::NotFound("user not found".into()));
        }
        if state.sessions.contains_key(&session.id) {
            return Err(DomainError::Conflict("already exists".into()));
        }
        state.sessions.insert(session.id, session.clone());
        Ok(())
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
            return Ok(Rotation::Rotated(session.clone()));
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
        Ok((before - state.sessions.len()) as u64)
    }
}
