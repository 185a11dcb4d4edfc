//! New ids as a port, so that tests can make them deterministic.

use uuid::Uuid;

/// The source of new ids for users, tasks, sessions and tokens.
///
/// Production ids are UUID v7 (time-ordered, so they sort by creation); a test may
/// hand out a fixed sequence instead (see `testing::SequentialIds` with the `testing`
/// feature).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait IdSource: Send + Sync {
    /// A new id, never handed out before by this source.
    fn new_id(&self) -> Uuid;
}
