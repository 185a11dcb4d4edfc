//! A process-wide wake-up for whoever follows the change log: every commit that
//! appended a change rings it, so live streams of this process see their own writes
//! at once (other instances hear PostgreSQL's `NOTIFY`; see [`crate::live`]).

use tokio::sync::Notify;

static COMMITTED: Notify = Notify::const_new();

/// Says that changes were committed.
pub(crate) fn committed() {
    COMMITTED.notify_waiters();
}

/// Resolves at the next [`committed`] after this call (create it before reading, so a
/// commit during the read is not missed).
pub(crate) fn next_commit() -> tokio::sync::futures::Notified<'static> {
    COMMITTED.notified()
}
