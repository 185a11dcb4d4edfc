//! Task rules: ownership, defaults, status/completion, and optimistic concurrency.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::changes::{ChangeEvent, FeedCursor, FeedPage, TaskChange, WriteLog};
use super::model::{Description, Priority, Task, TaskFilter, TaskSort, TaskStatus, Title};
use super::ports::{TaskChangeLog, TaskRepository};
use super::position::TaskPosition;
use crate::DomainError;
use crate::clock::{Clock, to_micros};
use crate::idempotency::{
    Claim, Completion, Idempotency, IdempotencyKey, IdempotencyRepository, IdempotentOutcome,
};
use crate::ids::IdSource;
use crate::page::{DEFAULT_MAX_EXACT_COUNT, KeysetPage, ListRequest, Page, PageRequest, Window};
use crate::user::{User, UserRepository};

/// How long an idempotency key answers repeats of its request.
const KEY_LIFETIME: chrono::Duration = chrono::Duration::hours(24);
/// A key claimed this long ago by a request that never wrote (its server died with it)
/// may be claimed again, unless writes may land later than that
/// ([`TaskService::with_writes_landing_within`]).
const CLAIM_STALE_AFTER: chrono::Duration = chrono::Duration::seconds(60);
/// How much later than the longest write a claim goes stale: room for the clocks of
/// two instances that disagree.
const CLAIM_MARGIN: chrono::Duration = chrono::Duration::seconds(10);
/// The most items a page of the incremental feed holds, and its default.
pub const MAX_FEED_LIMIT: u64 = 500;
/// The default size of a page of the incremental feed.
pub const DEFAULT_FEED_LIMIT: u64 = 100;

/// What a write did: done now, or done before under the same idempotency key, in
/// which case nothing was written now and `value` is what the first request got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written<T> {
    /// The outcome.
    pub value: T,
    /// Whether it repeats an earlier outcome.
    pub replayed: bool,
}

impl<T> Written<T> {
    fn fresh(value: T) -> Self {
        Self {
            value,
            replayed: false,
        }
    }
}

/// How often a write without `If-Match` re-reads and retries after losing a race.
/// Each lost race means another writer succeeded, so this bounds only pathological
/// contention; past it the client gets a 409 and may retry.
const MAX_WRITE_ATTEMPTS: usize = 32;

/// Which tasks a request addresses: all the actor may see, or one user's
/// (`/users/{user_id}/tasks…`, where the owner is fixed for admins too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskScope {
    /// The actor's own tasks, or every task for an admin.
    Visible,
    /// Only this user's tasks; the actor must be that user or an admin.
    OwnedBy(Uuid),
}

/// An `If-Match` precondition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    /// `*`: the task must exist.
    Any,
    /// One of these versions (values that are no version never match).
    Versions(Vec<i64>),
}

impl Precondition {
    fn holds_for(&self, version: i64) -> bool {
        match self {
            Precondition::Any => true,
            Precondition::Versions(versions) => versions.contains(&version),
        }
    }
}

/// The status a request asks for, from `status` and/or `completed`, which must agree
/// when both are sent. `completed: true` means `done`, `completed: false` means `todo`
/// (or the given non-done status).
///
/// # Errors
/// [`DomainError::Validation`] on `completed` when it contradicts `status`.
pub fn resolve_status(
    status: Option<TaskStatus>,
    completed: Option<bool>,
) -> Result<Option<TaskStatus>, DomainError> {
    match (status, completed) {
        (Some(status), Some(completed)) if (status == TaskStatus::Done) != completed => {
            Err(DomainError::invalid(
                "completed",
                "contradicts status: completed is true exactly when status is done",
            ))
        }
        (Some(status), _) => Ok(Some(status)),
        (None, Some(true)) => Ok(Some(TaskStatus::Done)),
        (None, Some(false)) => Ok(Some(TaskStatus::Todo)),
        (None, None) => Ok(None),
    }
}

/// A whole task as a client states it (create and PUT); absent fields are defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskDraft {
    /// Required.
    pub title: Title,
    /// Default none.
    pub description: Option<Description>,
    /// Default `todo`.
    pub status: TaskStatus,
    /// Default `medium`.
    pub priority: Priority,
    /// Default none.
    pub due_date: Option<DateTime<Utc>>,
    /// Default: the actor (create) or unchanged (PUT).
    pub owner_id: Option<Uuid>,
}

impl TaskDraft {
    /// A draft with only a title; everything else at its default.
    pub fn new(title: Title) -> Self {
        Self {
            title,
            description: None,
            status: TaskStatus::Todo,
            priority: Priority::Medium,
            due_date: None,
            owner_id: None,
        }
    }
}

/// A partial change (PATCH). `None` leaves a field alone; `Some(None)` clears a nullable one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskPatch {
    /// New title.
    pub title: Option<Title>,
    /// New description or `Some(None)` to clear it.
    pub description: Option<Option<Description>>,
    /// New status (already reconciled with `completed`).
    pub status: Option<TaskStatus>,
    /// New priority.
    pub priority: Option<Priority>,
    /// New due date or `Some(None)` to clear it.
    pub due_date: Option<Option<DateTime<Utc>>>,
    /// New owner (admins only, unless it is the actor).
    pub owner_id: Option<Uuid>,
}

/// Tasks and who may touch them.
pub struct TaskService {
    tasks: Arc<dyn TaskRepository>,
    users: Arc<dyn UserRepository>,
    changes: Arc<dyn TaskChangeLog>,
    idempotency: Arc<dyn IdempotencyRepository>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdSource>,
    max_exact_count: u64,
    claim_stale_after: chrono::Duration,
}

impl TaskService {
    /// Wires the service to its ports.
    pub fn new(
        tasks: Arc<dyn TaskRepository>,
        users: Arc<dyn UserRepository>,
        changes: Arc<dyn TaskChangeLog>,
        idempotency: Arc<dyn IdempotencyRepository>,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdSource>,
    ) -> Self {
        Self {
            tasks,
            users,
            changes,
            idempotency,
            clock,
            ids,
            max_exact_count: DEFAULT_MAX_EXACT_COUNT,
            claim_stale_after: CLAIM_STALE_AFTER,
        }
    }

    /// The longest a write may still land after its request started: the request's
    /// deadline and storage's own (a queued statement may run after its request has
    /// answered 503). A key whose request never finished is taken over only once no
    /// write of that request can land any more, so that a retry never writes beside
    /// it: `longest` plus a margin for the instances' clocks, and never sooner than
    /// the default 60 seconds.
    #[must_use]
    pub fn with_writes_landing_within(mut self, longest: std::time::Duration) -> Self {
        let longest = chrono::Duration::from_std(longest).unwrap_or(chrono::Duration::MAX);
        self.claim_stale_after =
            CLAIM_STALE_AFTER.max(longest.checked_add(&CLAIM_MARGIN).unwrap_or(longest));
        self
    }

    /// Counts the matches of a list exactly up to `max` (default
    /// [`DEFAULT_MAX_EXACT_COUNT`]); beyond it a page's total is `max`, not exact.
    #[must_use]
    pub fn with_max_exact_count(mut self, max: u64) -> Self {
        self.max_exact_count = max;
        self
    }

    /// Claims the key of an idempotent write: `Ok(None)` to go ahead (the key, if
    /// any, is now this request's), `Ok(Some(outcome))` to answer a repeat.
    async fn claim(
        &self,
        actor: &User,
        once: Option<&Idempotency>,
    ) -> Result<Option<IdempotentOutcome>, DomainError> {
        let Some(once) = once else {
            return Ok(None);
        };
        let now = self.clock.now();
        let claim = self
            .idempotency
            .claim(
                actor.id,
                &once.key,
                &once.fingerprint,
                now,
                now + KEY_LIFETIME,
                now.checked_sub_signed(self.claim_stale_after)
                    .unwrap_or(DateTime::<Utc>::MIN_UTC),
            )
            .await?;
        match claim {
            Claim::Claimed => Ok(None),
            Claim::Done(outcome) => Ok(Some(outcome)),
            Claim::Mismatch => Err(key_reused()),
            Claim::InProgress => Err(DomainError::Conflict(
                "a request with this Idempotency-Key is still in progress; retry later".into(),
            )),
        }
    }

    /// Gives a claimed key back when its write failed and wrote nothing, so the
    /// client may correct the request and retry with the same key. After a failure
    /// whose outcome is unknown (storage unavailable or failing) the key stays claimed:
    /// a retry gets 409 until the write is known to be done (its completion then answers
    /// it) or the claim is stale (it was not), and is never applied twice.
    async fn settle<T>(
        &self,
        actor: &User,
        once: Option<&Idempotency>,
        result: Result<T, DomainError>,
    ) -> Result<T, DomainError> {
        let wrote_nothing = matches!(
            &result,
            Err(err) if !matches!(err, DomainError::Unavailable(_) | DomainError::Unexpected(_))
        );
        if wrote_nothing
            && let Some(once) = once
            && let Err(err) = self.idempotency.release(actor.id, &once.key).await
        {
            // The key stays claimed until it is stale; the client's retry waits.
            tracing::warn!(error = %err, "could not give back an idempotency key");
        }
        result
    }

    /// Runs `write` under the request's key, if it has one: a repeat is answered with
    /// `replay` of the stored outcome and writes nothing; a failed write gives the key
    /// back when it wrote nothing (see [`TaskService::settle`]). `write` is a future not
    /// yet started: nothing of it runs for a repeat.
    async fn exactly_once<T>(
        &self,
        actor: &User,
        once: Option<&Idempotency>,
        replay: fn(IdempotentOutcome) -> Result<Written<T>, DomainError>,
        write: impl Future<Output = Result<Written<T>, DomainError>>,
    ) -> Result<Written<T>, DomainError> {
        if let Some(done) = self.claim(actor, once).await? {
            return replay(done);
        }
        let result = write.await;
        self.settle(actor, once, result).await
    }

    /// The record answering repeats of a write that leaves `outcome`.
    fn completion(
        actor: &User,
        once: Option<&Idempotency>,
        outcome: impl FnOnce() -> IdempotentOutcome,
    ) -> Option<Completion> {
        once.map(|once| Completion {
            user_id: actor.id,
            key: once.key.clone(),
            outcome: outcome(),
        })
    }

    /// Creates a task. The owner is the scope's user, else `draft.owner_id`, else the actor.
    ///
    /// # Errors
    /// [`DomainError::Forbidden`] for a non-admin creating for someone else or outside
    /// their scope; [`DomainError::Validation`] on `owner_id` for an owner that does not
    /// exist or contradicts the scope; [`DomainError::NotFound`] for a scoped user that
    /// does not exist.
    #[tracing::instrument(level = "debug", name = "TaskService::create", skip_all, fields(user.id = %actor.id, task.id = tracing::field::Empty))]
    pub async fn create(
        &self,
        actor: &User,
        scope: TaskScope,
        draft: TaskDraft,
        once: Option<&Idempotency>,
    ) -> Result<Written<Task>, DomainError> {
        check_scope(actor, scope)?;
        if let Some(owner) = draft.owner_id {
            check_owner_change(actor, owner)?;
        }
        let owner_id = match (scope, draft.owner_id) {
            (TaskScope::OwnedBy(user_id), Some(owner)) if owner != user_id => {
                return Err(DomainError::invalid(
                    "owner_id",
                    "must equal the user_id of the path",
                ));
            }
            (TaskScope::OwnedBy(user_id), _) => user_id,
            (TaskScope::Visible, owner) => owner.unwrap_or(actor.id),
        };
        let now = self.clock.now();
        let mut task = Task {
            id: self.ids.new_id(),
            owner_id,
            title: draft.title,
            description: draft.description,
            status: TaskStatus::Todo,
            priority: draft.priority,
            due_date: draft.due_date.map(to_micros),
            completed_at: None,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        task.set_status(draft.status, now);
        tracing::Span::current().record("task.id", tracing::field::display(task.id));
        let log = WriteLog {
            change: TaskChange::created(&task, actor.id),
            completion: Self::completion(actor, once, || {
                IdempotentOutcome::Task(Box::new(task.clone()))
            }),
        };
        let write = async {
            match self.tasks.insert(&task, &log).await {
                Ok(()) => Ok(Written::fresh(task.clone())),
                Err(DomainError::NotFound(_)) => Err(match scope {
                    TaskScope::OwnedBy(user_id) => {
                        DomainError::NotFound(format!("user {user_id} not found"))
                    }
                    TaskScope::Visible => DomainError::invalid("owner_id", "no such user"),
                }),
                Err(other) => Err(other),
            }
        };
        self.exactly_once(actor, once, replayed_task, write).await
    }

    /// One task the actor may see in this scope.
    ///
    /// # Errors
    /// [`DomainError::Forbidden`] outside the actor's scope; [`DomainError::NotFound`]
    /// when the task does not exist or is not visible (another user's task is "not found").
    #[tracing::instrument(level = "debug", name = "TaskService::get", skip_all, fields(user.id = %actor.id, task.id = %id))]
    pub async fn get(&self, actor: &User, scope: TaskScope, id: Uuid) -> Result<Task, DomainError> {
        check_scope(actor, scope)?;
        self.find_visible(actor, scope, id).await
    }

    /// A page of the tasks the actor may see in this scope.
    ///
    /// # Errors
    /// [`DomainError::Forbidden`] for a non-admin asking for another owner or scope;
    /// [`DomainError::Validation`] on `owner_id` when it contradicts the scope, or on
    /// `cursor` for a cursor of another list.
    #[tracing::instrument(level = "debug", name = "TaskService::list", skip_all, fields(user.id = %actor.id))]
    pub async fn list(
        &self,
        actor: &User,
        scope: TaskScope,
        mut filter: TaskFilter,
        sort: TaskSort,
        request: &ListRequest,
    ) -> Result<KeysetPage<Task>, DomainError> {
        check_scope(actor, scope)?;
        filter.owner_id = match (scope, filter.owner_id) {
            (_, Some(owner)) if owner != actor.id && !actor.is_admin() => {
                return Err(DomainError::Forbidden(
                    "only an admin may list other users' tasks".into(),
                ));
            }
            (TaskScope::OwnedBy(user_id), Some(owner)) if owner != user_id => {
                return Err(DomainError::invalid(
                    "owner_id",
                    "must equal the user_id of the path",
                ));
            }
            (TaskScope::OwnedBy(user_id), _) => Some(user_id),
            (TaskScope::Visible, owner) if actor.is_admin() => owner,
            (TaskScope::Visible, _) => Some(actor.id),
        };
        // The cursor is checked against the list as the scope made it: a cursor of
        // one user's list is refused on another's.
        let mut window = Window::at(request.page(), self.max_exact_count);
        if let Some(cursor) = request.cursor() {
            window = window.after(TaskPosition::from_cursor(cursor, &filter, sort)?);
        }
        let slice = self.tasks.list(&filter, sort, window.clone()).await?;
        Ok(KeysetPage::of(slice, &window, |last| {
            TaskPosition::cursor_after(last, &filter, sort)
        }))
    }

    /// Full replace (PUT): absent optional fields return to their defaults.
    ///
    /// # Errors
    /// As [`TaskService::get`], plus [`DomainError::PreconditionFailed`] for a stale
    /// `If-Match`, [`DomainError::Forbidden`] for a reassignment by a non-admin.
    #[tracing::instrument(level = "debug", name = "TaskService::replace", skip_all, fields(user.id = %actor.id, task.id = %id))]
    pub async fn replace(
        &self,
        actor: &User,
        scope: TaskScope,
        id: Uuid,
        precondition: Option<Precondition>,
        draft: TaskDraft,
        once: Option<&Idempotency>,
    ) -> Result<Written<Task>, DomainError> {
        self.modify(
            actor,
            scope,
            id,
            precondition,
            once,
            draft.owner_id,
            |task, now| {
                task.title = draft.title.clone();
                task.description = draft.description.clone();
                task.priority = draft.priority;
                task.due_date = draft.due_date.map(to_micros);
                task.set_status(draft.status, now);
            },
        )
        .await
    }

    /// Partial update (PATCH).
    ///
    /// # Errors
    /// As [`TaskService::replace`].
    #[tracing::instrument(level = "debug", name = "TaskService::patch", skip_all, fields(user.id = %actor.id, task.id = %id))]
    pub async fn patch(
        &self,
        actor: &User,
        scope: TaskScope,
        id: Uuid,
        precondition: Option<Precondition>,
        patch: TaskPatch,
        once: Option<&Idempotency>,
    ) -> Result<Written<Task>, DomainError> {
        self.modify(
            actor,
            scope,
            id,
            precondition,
            once,
            patch.owner_id,
            |task, now| {
                if let Some(title) = &patch.title {
                    task.title = title.clone();
                }
                if let Some(description) = &patch.description {
                    task.description = description.clone();
                }
                if let Some(priority) = patch.priority {
                    task.priority = priority;
                }
                if let Some(due_date) = patch.due_date {
                    task.due_date = due_date.map(to_micros);
                }
                if let Some(status) = patch.status {
                    task.set_status(status, now);
                }
            },
        )
        .await
    }

    /// Toggles completion: `done` → `todo`, anything else → `done`.
    ///
    /// # Errors
    /// As [`TaskService::replace`].
    #[tracing::instrument(level = "debug", name = "TaskService::toggle_complete", skip_all, fields(user.id = %actor.id, task.id = %id))]
    pub async fn toggle_complete(
        &self,
        actor: &User,
        scope: TaskScope,
        id: Uuid,
        precondition: Option<Precondition>,
        once: Option<&Idempotency>,
    ) -> Result<Written<Task>, DomainError> {
        self.modify(actor, scope, id, precondition, once, None, |task, now| {
            let next = if task.completed() {
                TaskStatus::Todo
            } else {
                TaskStatus::Done
            };
            task.set_status(next, now);
        })
        .await
    }

    /// Deletes a task. Of parallel deletes exactly one succeeds; the rest find nothing.
    ///
    /// # Errors
    /// As [`TaskService::get`], plus [`DomainError::PreconditionFailed`] for a stale `If-Match`.
    #[tracing::instrument(level = "debug", name = "TaskService::delete", skip_all, fields(user.id = %actor.id, task.id = %id))]
    pub async fn delete(
        &self,
        actor: &User,
        scope: TaskScope,
        id: Uuid,
        precondition: Option<Precondition>,
        once: Option<&Idempotency>,
    ) -> Result<Written<()>, DomainError> {
        check_scope(actor, scope)?;
        let write = async {
            for _ in 0..MAX_WRITE_ATTEMPTS {
                let task = self.find_visible(actor, scope, id).await?;
                // Deleted only at the version read, so the logged deletion names the
                // version it removed; a write in between means reading again.
                if precondition
                    .as_ref()
                    .is_some_and(|p| !p.holds_for(task.version))
                {
                    return Err(stale(id));
                }
                let log = WriteLog {
                    change: TaskChange::deleted(&task, actor.id, self.clock.now()),
                    completion: Self::completion(actor, once, || IdempotentOutcome::Deleted),
                };
                match self.tasks.delete(id, Some(task.version), &log).await {
                    Ok(()) => return Ok(Written::fresh(())),
                    Err(DomainError::PreconditionFailed(_))
                        if precondition.is_none() || precondition == Some(Precondition::Any) =>
                    {
                        continue;
                    }
                    Err(DomainError::PreconditionFailed(_)) => return Err(stale(id)),
                    Err(DomainError::NotFound(_)) => return Err(task_not_found(id)),
                    Err(other) => return Err(other),
                }
            }
            Err(too_busy(id))
        };
        self.exactly_once(actor, once, replayed_deletion, write)
            .await
    }

    /// A page of the incremental feed: every task the actor sees (their own; an admin:
    /// all) that changed after `since` (`None`: from scratch), once, as it is now or as
    /// a tombstone, in change order.
    ///
    /// # Errors
    /// [`DomainError::Validation`] on `limit` outside 1–500 or on `since` for a cursor
    /// that is not one; [`DomainError::Gone`] for a cursor older than the log's
    /// retention.
    #[tracing::instrument(level = "debug", name = "TaskService::changes", skip_all, fields(user.id = %actor.id))]
    pub async fn changes(
        &self,
        actor: &User,
        since: Option<&FeedCursor>,
        limit: Option<u64>,
    ) -> Result<FeedPage, DomainError> {
        let limit = limit.unwrap_or(DEFAULT_FEED_LIMIT);
        if !(1..=MAX_FEED_LIMIT).contains(&limit) {
            return Err(DomainError::invalid(
                "limit",
                format!("must be between 1 and {MAX_FEED_LIMIT}"),
            ));
        }
        self.changes.feed(viewer(actor), since, limit).await
    }

    /// The changes after `after` the actor sees, each with its cursor (a live stream
    /// catching up); at most `limit`.
    ///
    /// # Errors
    /// As [`TaskService::changes`].
    pub async fn events_after(
        &self,
        actor: &User,
        after: &FeedCursor,
        limit: u64,
    ) -> Result<Vec<ChangeEvent>, DomainError> {
        self.changes.events_after(viewer(actor), after, limit).await
    }

    /// Where a stream of changes starts now.
    ///
    /// # Errors
    /// [`DomainError::Unavailable`] or [`DomainError::Unexpected`] on storage failure.
    pub async fn changes_end(&self) -> Result<FeedCursor, DomainError> {
        self.changes.end().await
    }

    /// A page of one task's changes, oldest first. A deleted task's history stays
    /// readable by its owner and by admins while the log keeps it.
    ///
    /// # Errors
    /// As [`TaskService::get`]: another user's task, or one never seen, is not found.
    #[tracing::instrument(level = "debug", name = "TaskService::history", skip_all, fields(user.id = %actor.id, task.id = %id))]
    pub async fn history(
        &self,
        actor: &User,
        scope: TaskScope,
        id: Uuid,
        page: PageRequest,
    ) -> Result<Page<ChangeEvent>, DomainError> {
        check_scope(actor, scope)?;
        let history = self.changes.history(id, page).await?;
        match self.tasks.find_by_id(id).await? {
            Some(task) if visible(actor, scope, &task) => Ok(history),
            Some(_) => Err(task_not_found(id)),
            // Deleted: its owner was the owner of its last change, its deletion.
            None => {
                let owner = match history.total {
                    0 => None,
                    total => self
                        .changes
                        .history(id, PageRequest::new(Some(1), Some(total - 1))?)
                        .await?
                        .items
                        .first()
                        .map(|event| event.change.owner_id),
                };
                let seen = owner.is_some_and(|owner| match scope {
                    TaskScope::OwnedBy(user_id) => owner == user_id,
                    TaskScope::Visible => actor.is_admin() || owner == actor.id,
                });
                if seen {
                    Ok(history)
                } else {
                    Err(task_not_found(id))
                }
            }
        }
    }

    /// Deletes the changes older than `retention` and the expired idempotency keys
    /// (the background job); how many of each.
    ///
    /// # Errors
    /// [`DomainError::Unavailable`] or [`DomainError::Unexpected`] on storage failure.
    #[tracing::instrument(level = "debug", name = "TaskService::purge", skip_all)]
    pub async fn purge(&self, retention: chrono::Duration) -> Result<(u64, u64), DomainError> {
        let now = self.clock.now();
        let changes = self.changes.purge(now - retention).await?;
        let keys = self.idempotency.purge(now).await?;
        Ok((changes, keys))
    }

    /// Read, check, change, and write conditionally on the version read. Without a
    /// precondition (or with `*`) a lost race re-reads and applies the change again,
    /// so concurrent toggles serialise instead of overwriting each other.
    #[allow(clippy::too_many_arguments)]
    async fn modify(
        &self,
        actor: &User,
        scope: TaskScope,
        id: Uuid,
        precondition: Option<Precondition>,
        once: Option<&Idempotency>,
        new_owner: Option<Uuid>,
        change: impl Fn(&mut Task, DateTime<Utc>),
    ) -> Result<Written<Task>, DomainError> {
        check_scope(actor, scope)?;
        let write = async {
            for _ in 0..MAX_WRITE_ATTEMPTS {
                let current = self.find_visible(actor, scope, id).await?;
                if precondition
                    .as_ref()
                    .is_some_and(|p| !p.holds_for(current.version))
                {
                    return Err(stale(id));
                }
                let mut task = current.clone();
                if let Some(owner) = new_owner.filter(|owner| *owner != current.owner_id) {
                    check_owner_change(actor, owner)?;
                    if self.users.find_by_id(owner).await?.is_none() {
                        return Err(DomainError::invalid("owner_id", "no such user"));
                    }
                    task.owner_id = owner;
                }
                let now = self.clock.now();
                change(&mut task, now);
                task.version = current.version + 1;
                task.updated_at = now;
                let log = WriteLog {
                    change: TaskChange::updated(&current, &task, actor.id),
                    completion: Self::completion(actor, once, || {
                        IdempotentOutcome::Task(Box::new(task.clone()))
                    }),
                };
                match self.tasks.update(&task, current.version, &log).await {
                    Ok(()) => return Ok(Written::fresh(task)),
                    Err(DomainError::PreconditionFailed(_))
                        if precondition.is_none() || precondition == Some(Precondition::Any) =>
                    {
                        continue;
                    }
                    Err(DomainError::PreconditionFailed(_)) => return Err(stale(id)),
                    Err(DomainError::NotFound(_)) => return Err(task_not_found(id)),
                    Err(other) => return Err(other),
                }
            }
            Err(too_busy(id))
        };
        self.exactly_once(actor, once, replayed_task, write).await
    }

    /// The task, if it exists and the actor may see it in this scope.
    async fn find_visible(
        &self,
        actor: &User,
        scope: TaskScope,
        id: Uuid,
    ) -> Result<Task, DomainError> {
        match self.tasks.find_by_id(id).await? {
            Some(task) if visible(actor, scope, &task) => Ok(task),
            _ => Err(task_not_found(id)),
        }
    }
}

/// The answer to a repeat of a deletion.
fn replayed_deletion(done: IdempotentOutcome) -> Result<Written<()>, DomainError> {
    match done {
        IdempotentOutcome::Deleted => Ok(Written {
            value: (),
            replayed: true,
        }),
        _ => Err(key_reused()),
    }
}

/// The answer to a repeat of a write that left a task.
fn replayed_task(done: IdempotentOutcome) -> Result<Written<Task>, DomainError> {
    match done {
        IdempotentOutcome::Task(task) => Ok(Written {
            value: *task,
            replayed: true,
        }),
        _ => Err(key_reused()),
    }
}

fn key_reused() -> DomainError {
    DomainError::invalid(
        IdempotencyKey::FIELD,
        "was used for another request (another method, path or body)",
    )
}

/// Whose changes the actor sees: their own tasks'; an admin's, everyone's.
pub(super) fn viewer(actor: &User) -> Option<Uuid> {
    (!actor.is_admin()).then_some(actor.id)
}

/// Whether the actor sees the task in this scope (another user's task is "not found").
fn visible(actor: &User, scope: TaskScope, task: &Task) -> bool {
    match scope {
        TaskScope::OwnedBy(user_id) => task.owner_id == user_id,
        TaskScope::Visible => actor.is_admin() || task.owner_id == actor.id,
    }
}

/// The actor must be the scoped user or an admin.
fn check_scope(actor: &User, scope: TaskScope) -> Result<(), DomainError> {
    match scope {
        TaskScope::OwnedBy(user_id) if user_id != actor.id && !actor.is_admin() => Err(
            DomainError::Forbidden("you may only access your own tasks".into()),
        ),
        _ => Ok(()),
    }
}

/// Only admins may give a task to someone else.
fn check_owner_change(actor: &User, owner: Uuid) -> Result<(), DomainError> {
    if owner == actor.id || actor.is_admin() {
        Ok(())
    } else {
        Err(DomainError::Forbidden(
            "only an admin may assign a task to another user".into(),
        ))
    }
}

fn task_not_found(id: Uuid) -> DomainError {
    DomainError::NotFound(format!("task {id} not found"))
}

fn stale(id: Uuid) -> DomainError {
    DomainError::PreconditionFailed(format!(
        "task {id} has changed; If-Match does not match its current version"
    ))
}

fn too_busy(id: Uuid) -> DomainError {
    DomainError::Conflict(format!("task {id} is being changed concurrently; retry"))
}
