//! What the task service needs from storage.

use async_trait::async_trait;
use uuid::Uuid;

use super::model::{Task, TaskFilter, TaskSort};
use crate::DomainError;
use crate::page::{Page, PageRequest};

/// Persistent storage of tasks.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait TaskRepository: Send + Sync {
    /// Stores a new task.
    ///
    /// # Errors
    /// [`DomainError::NotFound`] when the owner does not exist (any more);
    /// [`DomainError::Unexpected`] on storage failure.
    async fn insert(&self, task: &Task) -> Result<(), DomainError>;

    /// The task with this id, whoever owns it.
    ///
    /// # Errors
    /// [`DomainError::Unexpected`] on storage failure; absence is `Ok(None)`.
    async fn find_by_id(&self, id: Uuid) -> Result<Option<Task>, DomainError>;

    /// A page of tasks matching `filter` in `sort` order, ties broken by id in the
    /// sort's direction, tasks without a due date last when sorting by it.
    ///
    /// # Errors
    /// [`DomainError::Unexpected`] on storage failure.
    async fn list(
        &self,
        filter: &TaskFilter,
        sort: TaskSort,
        page: PageRequest,
    ) -> Result<Page<Task>, DomainError>;

    /// Writes every field of `task` in one conditional statement that matches only
    /// while the stored version is still `expected_version`, so of parallel writers
    /// holding the same version exactly one succeeds.
    ///
    /// # Errors
    /// [`DomainError::PreconditionFailed`] when the stored version differs;
    /// [`DomainError::NotFound`] when the task is gone or the new owner does not exist;
    /// [`DomainError::Unexpected`] on storage failure.
    async fn update(&self, task: &Task, expected_version: i64) -> Result<(), DomainError>;

    /// Deletes a task, only while its version is `expected_version` when one is given,
    /// in one conditional statement.
    ///
    /// # Errors
    /// [`DomainError::NotFound`] when no such task exists (also for the losers of
    /// parallel deletes); [`DomainError::PreconditionFailed`] when the version differs;
    /// [`DomainError::Unexpected`] on storage failure.
    async fn delete(&self, id: Uuid, expected_version: Option<i64>) -> Result<(), DomainError>;
}
