//! The wall clock, as the domain's [`Clock`] port.

use chrono::{DateTime, Utc};
use taskforge_domain::clock::{Clock, to_micros};

/// Reads the system clock, truncated to microseconds so that what is written equals
/// what both databases read back.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl SystemClock {
    /// The system clock.
    pub fn new() -> Self {
        Self
    }
}

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        to_micros(Utc::now())
    }
}
