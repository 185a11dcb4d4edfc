//! Ids in a fixed sequence.

use std::sync::atomic::{AtomicU64, Ordering};

use uuid::Uuid;

use crate::ids::IdSource;

/// An [`IdSource`] handing out `01900000-0000-7000-8000-000000000001`, `…0002`, ...:
/// shaped like UUID v7, increasing, the same in every run.
#[derive(Debug, Default)]
pub struct SequentialIds {
    issued: AtomicU64,
}

impl SequentialIds {
    /// A sequence starting at 1.
    pub fn new() -> Self {
        Self::default()
    }

    /// The `n`th id of every sequence (1-based), to name an id in an assertion.
    pub fn nth(n: u64) -> Uuid {
        // Version nibble 7 and the RFC 4122 variant, the counter in the low 48 bits.
        const TEMPLATE: u128 = 0x0190_0000_0000_7000_8000_0000_0000_0000;
        Uuid::from_u128(TEMPLATE | u128::from(n & 0xFFFF_FFFF_FFFF))
    }
}

impl IdSource for SequentialIds {
    fn new_id(&self) -> Uuid {
        Self::nth(self.issued.fetch_add(1, Ordering::Relaxed) + 1)
    }
}
