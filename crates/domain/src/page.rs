//! Offset pagination shared by every list.

use crate::DomainError;

/// The default number of items per page.
pub const DEFAULT_LIMIT: u64 = 20;
/// The largest page a client may ask for.
pub const MAX_LIMIT: u64 = 100;

/// A validated page window: `limit` 1–100, `offset` ≥ 0 (and small enough for SQL's bigint).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PageRequest {
    limit: u64,
    offset: u64,
}

impl PageRequest {
    /// Validates a window; `None` takes the defaults (20, 0).
    ///
    /// # Errors
    /// [`DomainError::Validation`] naming `limit` or `offset` when out of range.
    pub fn new(limit: Option<u64>, offset: Option<u64>) -> Result<Self, DomainError> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        let offset = offset.unwrap_or(0);
        let mut errors = crate::error::Validator::new();
        if !(1..=MAX_LIMIT).contains(&limit) {
            errors.push("limit", format!("must be between 1 and {MAX_LIMIT}"));
        }
        if offset > i64::MAX as u64 {
            errors.push("offset", "must be between 0 and 9223372036854775807");
        }
        errors.finish()?;
        Ok(Self { limit, offset })
    }

    /// Items per page.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Items skipped before the page.
    pub fn offset(&self) -> u64 {
        self.offset
    }
}

impl Default for PageRequest {
    fn default() -> Self {
        Self {
            limit: DEFAULT_LIMIT,
            offset: 0,
        }
    }
}

/// One page of a list plus the total number of matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items of this page, in the requested order.
    pub items: Vec<T>,
    /// How many items match the filter in all.
    pub total: u64,
    /// The window this page was cut with.
    pub limit: u64,
    /// The window this page was cut with.
    pub offset: u64,
}

impl<T> Page<T> {
    /// Converts every item, keeping the window.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            total: self.total,
            limit: self.limit,
            offset: self.offset,
        }
    }
}
