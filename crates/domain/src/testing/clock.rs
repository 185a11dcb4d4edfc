//! A clock that reads what it was told.

use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Duration, TimeZone, Utc};

use crate::clock::{Clock, to_micros};

/// A [`Clock`] that stands still until [`FixedClock::advance`] or [`FixedClock::set`]
/// moves it. Shareable: clone the `Arc` it lives in.
#[derive(Debug)]
pub struct FixedClock {
    now: Mutex<DateTime<Utc>>,
}

impl FixedClock {
    /// A clock reading `now` (truncated to microseconds, as every clock reads).
    pub fn at(now: DateTime<Utc>) -> Self {
        Self {
            now: Mutex::new(to_micros(now)),
        }
    }

    /// Moves the clock forward (or back, for a negative duration).
    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap_or_else(PoisonError::into_inner);
        *now = to_micros(*now + by);
    }

    /// Sets the clock.
    pub fn set(&self, to: DateTime<Utc>) {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner) = to_micros(to);
    }
}

impl Default for FixedClock {
    /// 2026-11-22T10:15:00Z.
    fn default() -> Self {
        Self::at(
            Utc.with_ymd_and_hms(2026, 11, 22, 10, 15, 0)
                .single()
                .unwrap_or_default(),
        )
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
