//! What the task service needs from storage.

use async_trait::async_trait;
use uuid::Uuid;

use super::changes::{ChangeEvent, FeedCursor, FeedPage, WriteLog};
use super::model::{Task, TaskFilter, TaskSort};
use super::position::TaskPosition;
use crate::DomainError;
use crate::page::{Page, PageRequest, Slice, Window};

/// Persistent storage of tasks.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait TaskRepository: Send + Sync {
    /// Stores a new task, and `log` (its change; the outcome of its idempotency key)
    /// in the same transaction.
    ///
    /// # Errors
    /// [`DomainError::NotFound`] when the owner does not exist (any more);
    /// [`DomainError::Unavailable`] when storage is unreachable or too slow (nothing
    /// was written, or whether it was is unknown); [`DomainError::Unexpected`] on any
    /// other storage failure.
    async fn insert(&self, task: &Task, log: &WriteLog) -> Result<(), DomainError>;

    /// The task with this id, whoever owns it.
    ///
    /// # Errors
    /// [`DomainError::Unexpected`] on storage failure; absence is `Ok(None)`.
    async fn find_by_id(&self, id: Uuid) -> Result<Option<Task>, DomainError>;

    /// The tasks matching `filter` in `sort` order (ties broken by id in the sort's
    /// direction, tasks without a due date last when sorting by it) in `window`: from
    /// its offset, or right after its position; with whether a task follows, and the
    /// count of matching tasks exact up to the window's cap. Its cost must not grow
    /// with the number of matching tasks nor with the depth of the page.
    ///
    /// # Errors
    /// [`DomainError::Unexpected`] on storage failure.
    async fn list(
        &self,
        filter: &TaskFilter,
        sort: TaskSort,
        window: Window<TaskPosition>,
    ) -> Result<Slice<Task>, DomainError>;

    /// Writes every field of `task` in one conditional statement that matches only
    /// while the stored version is still `expected_version`, so of parallel writers
    /// holding the same version exactly one succeeds; `log` is stored in the same
    /// transaction, only if the task is written.
    ///
    /// # Errors
    /// [`DomainError::PreconditionFailed`] when the stored version differs;
    /// [`DomainError::NotFound`] when the task is gone or the new owner does not exist;
    /// [`DomainError::Unavailable`] or [`DomainError::Unexpected`] on storage failure.
    async fn update(
        &self,
        task: &Task,
        expected_version: i64,
        log: &WriteLog,
    ) -> Result<(), DomainError>;

    /// Deletes a task, only while its version is `expected_version` when one is given,
    /// in one conditional statement; `log` is stored in the same transaction, only if
    /// the task is deleted.
    ///
    /// # Errors
    /// [`DomainError::NotFound`] when no such task exists (also for the losers of
    /// parallel deletes); [`DomainError::PreconditionFailed`] when the version differs;
    /// [`DomainError::Unavailable`] or [`DomainError::Unexpected`] on storage failure.
    async fn delete(
        &self,
        id: Uuid,
        expected_version: Option<i64>,
        log: &WriteLog,
    ) -> Result<(), DomainError>;
}

/// Reading the change log that task writes leave (see [`TaskRepository`]).
///
/// A viewer is a user id (they see the changes of tasks that are, or were until the
/// change, theirs) or `None` (an admin: every change).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait TaskChangeLog: Send + Sync {
    /// A page of the incremental feed: from `after` (`None`: from scratch — every task
    /// the viewer sees, as it is now, then the changes made since), each task that
    /// changed once, as it is now or as a tombstone, in change order, at most `limit`.
    ///
    /// # Errors
    /// [`DomainError::Gone`] for a cursor from before the log's retention;
    /// [`DomainError::Validation`] on `since` for a cursor this log did not make;
    /// [`DomainError::Unavailable`] or [`DomainError::Unexpected`] on storage failure.
    // The named lifetime is for mockall, which cannot mock an elided one inside `Option`.
    async fn feed<'a>(
        &self,
        viewer: Option<Uuid>,
        after: Option<&'a FeedCursor>,
        limit: u64,
    ) -> Result<FeedPage, DomainError>;

    /// The changes the viewer sees after `after`, in order, at most `limit`, each with
    /// the cursor right after it (following a stream).
    ///
    /// # Errors
    /// As [`TaskChangeLog::feed`].
    async fn events_after(
        &self,
        viewer: Option<Uuid>,
        after: &FeedCursor,
        limit: u64,
    ) -> Result<Vec<ChangeEvent>, DomainError>;

    /// A cursor after every change committed so far (where a new stream starts).
    ///
    /// # Errors
    /// [`DomainError::Unavailable`] or [`DomainError::Unexpected`] on storage failure.
    async fn end(&self) -> Result<FeedCursor, DomainError>;

    /// The changes of one task, oldest first.
    ///
    /// # Errors
    /// [`DomainError::Unavailable`] or [`DomainError::Unexpected`] on storage failure.
    async fn history(
        &self,
        task_id: Uuid,
        page: PageRequest,
    ) -> Result<Page<ChangeEvent>, DomainError>;

    /// Deletes the changes made before `before`; how many.
    ///
    /// # Errors
    /// [`DomainError::Unavailable`] or [`DomainError::Unexpected`] on storage failure.
    async fn purge(&self, before: chrono::DateTime<chrono::Utc>) -> Result<u64, DomainError>;
}

/// Following the change log live, as it grows.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait TaskChangeWatch: Send + Sync {
    /// Waits until a change after `after` is committed, then returns the changes after
    /// it that `viewer` sees (at most `limit`; none when every new change was someone
    /// else's) with the cursor to continue from: after the last change looked at, seen
    /// or not. The caller bounds the wait.
    ///
    /// # Errors
    /// As [`TaskChangeLog::events_after`].
    async fn next(
        &self,
        viewer: Option<Uuid>,
        after: &FeedCursor,
        limit: u64,
    ) -> Result<(Vec<ChangeEvent>, FeedCursor), DomainError>;
}
