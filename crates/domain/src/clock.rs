//! Time as a port, so rules about expiry and timestamps are testable.

use chrono::{DateTime, SubsecRound, Utc};

/// The source of "now".
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait Clock: Send + Sync {
    /// The current instant in UTC, truncated to whole microseconds so that what is
    /// written equals what both databases read back.
    ///
    /// # Errors
    /// None: reading the clock cannot fail.
    fn now(&self) -> DateTime<Utc>;
}

/// Truncates an instant to microseconds, the precision both databases store.
pub fn to_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(6)
}
