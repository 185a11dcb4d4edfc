//! Live task events: the change log as it grows, as each user may see it.

use std::sync::Arc;

use super::changes::{ChangeEvent, FeedCursor};
use super::ports::TaskChangeWatch;
use super::service::viewer;
use crate::DomainError;
use crate::user::User;

/// Follows the change log for one user at a time (their own tasks; an admin: all).
pub struct TaskEvents {
    watch: Arc<dyn TaskChangeWatch>,
}

impl TaskEvents {
    /// Wires the service to its port.
    pub fn new(watch: Arc<dyn TaskChangeWatch>) -> Self {
        Self { watch }
    }

    /// Waits for the changes after `after`, then those the actor sees (maybe none) and
    /// where to continue. Start from [`super::TaskService::changes_end`], or from the
    /// cursor of the last event a client received.
    ///
    /// # Errors
    /// [`DomainError::Gone`] for a cursor older than the log's retention;
    /// [`DomainError::Validation`] for one that is not a cursor;
    /// [`DomainError::Unavailable`] or [`DomainError::Unexpected`] on storage failure.
    pub async fn next(
        &self,
        actor: &User,
        after: &FeedCursor,
        limit: u64,
    ) -> Result<(Vec<ChangeEvent>, FeedCursor), DomainError> {
        self.watch.next(viewer(actor), after, limit).await
    }
}
