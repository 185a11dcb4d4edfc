//! The per-account login throttle's rule: how failed logins of one identifier turn
//! into a wait, whatever address they come from.
//!
//! The 5th failure within 15 minutes starts a wait of 1 s; each further failure
//! doubles it, up to 15 minutes. During the wait every login with that identifier is
//! refused before its password is looked at, so a right guess during the wait reveals
//! nothing. A successful login clears the count. Storage applies [`ThrottleState::after_failure`]
//! in one transaction, so every instance counts every failure.

use chrono::{DateTime, Duration, Utc};

/// Failures that start the waiting.
pub const FAILURES_BEFORE_WAIT: u32 = 5;
/// How long failures keep counting: from the first failure, and once waits have
/// begun, from the latest.
pub const FAILURE_WINDOW: Duration = Duration::minutes(15);
/// The first wait.
pub const FIRST_WAIT: Duration = Duration::seconds(1);
/// The longest wait.
pub const MAX_WAIT: Duration = Duration::minutes(15);

/// What storage keeps per login identifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleState {
    /// Failures counted in the current window.
    pub failures: u32,
    /// The first failure of the current window.
    pub window_started_at: DateTime<Utc>,
    /// The latest failure.
    pub last_failure_at: DateTime<Utc>,
    /// Logins with this identifier are refused until then.
    pub blocked_until: Option<DateTime<Utc>>,
}

impl ThrottleState {
    /// When the current count lapses: 15 minutes after the window's first failure, or,
    /// once waits have begun, after its latest.
    pub fn window_ends_at(&self) -> DateTime<Utc> {
        if self.failures >= FAILURES_BEFORE_WAIT {
            self.last_failure_at + FAILURE_WINDOW
        } else {
            self.window_started_at + FAILURE_WINDOW
        }
    }

    /// The state after one more failure at `now`, given the stored one (if any).
    pub fn after_failure(previous: Option<&ThrottleState>, now: DateTime<Utc>) -> ThrottleState {
        match previous {
            Some(state) if now < state.window_ends_at() => {
                let failures = state.failures.saturating_add(1);
                ThrottleState {
                    failures,
                    window_started_at: state.window_started_at,
                    last_failure_at: now,
                    blocked_until: wait_after(failures).map(|wait| now + wait),
                }
            }
            _ => ThrottleState {
                failures: 1,
                window_started_at: now,
                last_failure_at: now,
                blocked_until: wait_after(1).map(|wait| now + wait),
            },
        }
    }

    /// Whole seconds (rounded up) a login must still wait at `now`, if it must.
    pub fn retry_after_secs(&self, now: DateTime<Utc>) -> Option<u64> {
        let until = self.blocked_until?;
        if until <= now {
            return None;
        }
        let micros = (until - now).num_microseconds().unwrap_or(i64::MAX);
        let secs = u64::try_from(micros).unwrap_or(0).div_ceil(1_000_000);
        Some(secs.max(1))
    }

    /// Whether storage may forget this state at `now` (its count has lapsed and no
    /// wait is running).
    pub fn is_stale(&self, now: DateTime<Utc>) -> bool {
        now >= self.window_ends_at() && self.blocked_until.is_none_or(|until| until <= now)
    }
}

/// The wait the `failures`-th failure starts, if any: 1 s at the 5th, doubled at each
/// further one, at most [`MAX_WAIT`].
pub fn wait_after(failures: u32) -> Option<Duration> {
    let doublings = failures.checked_sub(FAILURES_BEFORE_WAIT)?;
    // 2^10 s already exceeds the cap; larger shifts would overflow.
    let secs = FIRST_WAIT.num_seconds() << doublings.min(10);
    Some(Duration::seconds(secs).min(MAX_WAIT))
}
