//! Pages of every list: offset windows, and keyset windows walked by cursor with a
//! capped count.

pub mod cursor;

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

/// How many matching rows a list counts exactly by default; beyond it the total is
/// this cap and not exact, so a page never costs a scan of a huge result.
pub const DEFAULT_MAX_EXACT_COUNT: u64 = 10_000;

/// What a client asked of a list that can be walked by cursor: a window and, instead
/// of an offset, perhaps the `next_cursor` of an earlier page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListRequest {
    page: PageRequest,
    cursor: Option<String>,
}

impl ListRequest {
    /// Validates `limit` and `offset` as [`PageRequest::new`] does; a cursor comes
    /// alone (no offset beside it), and is checked against the list it is used on by
    /// that list's service.
    ///
    /// # Errors
    /// [`DomainError::Validation`] naming `limit`, `offset` or `cursor`.
    pub fn new(
        limit: Option<u64>,
        offset: Option<u64>,
        cursor: Option<String>,
    ) -> Result<Self, DomainError> {
        let page = PageRequest::new(limit, offset);
        if cursor.is_some() && offset.is_some() {
            let mut errors = match page {
                Ok(_) => Vec::new(),
                Err(DomainError::Validation(errors)) => errors,
                Err(other) => return Err(other),
            };
            errors.push(crate::FieldError::new(
                "cursor",
                "cannot be combined with offset",
            ));
            return Err(DomainError::Validation(errors));
        }
        Ok(Self {
            page: page?,
            cursor,
        })
    }

    /// The window (offset 0 when a cursor is given).
    pub fn page(&self) -> PageRequest {
        self.page
    }

    /// The cursor, as the client sent it.
    pub fn cursor(&self) -> Option<&str> {
        self.cursor.as_deref()
    }
}

/// What a list asks storage for: `limit` rows from `offset`, or the rows right after
/// `after` (a position in the list's order: `K` is the last row's sort value and id),
/// and a count of the matching rows that stops after `count_cap`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Window<K> {
    /// Rows wanted.
    pub limit: u64,
    /// Rows skipped (0 when `after` is given).
    pub offset: u64,
    /// Start right after this position instead of at `offset`.
    pub after: Option<K>,
    /// Count exactly up to this many matches.
    pub count_cap: u64,
}

impl<K> Window<K> {
    /// A window from an offset page request.
    pub fn at(page: PageRequest, count_cap: u64) -> Self {
        Self {
            limit: page.limit(),
            offset: page.offset(),
            after: None,
            count_cap,
        }
    }

    /// The same window after `position` (offset 0).
    pub fn after(mut self, position: K) -> Self {
        self.after = Some(position);
        self.offset = 0;
        self
    }

    /// The capped total of `matching` rows (`matching` counted up to at least the cap
    /// plus one): `(total, exact)`.
    pub fn total_of(&self, matching: u64) -> (u64, bool) {
        if matching > self.count_cap {
            (self.count_cap, false)
        } else {
            (matching, true)
        }
    }
}

/// What storage answers for a [`Window`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slice<T> {
    /// At most `limit` rows, in the list's order.
    pub items: Vec<T>,
    /// Matching rows in all, exactly up to the window's cap, else the cap.
    pub total: u64,
    /// Whether `total` is the exact count.
    pub total_exact: bool,
    /// Whether a row follows the last of `items`.
    pub more: bool,
}

/// A page of a list that can be walked by cursor, as a service returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeysetPage<T> {
    /// The items of this page, in the requested order.
    pub items: Vec<T>,
    /// Matching rows in all, exactly up to the cap, else the cap.
    pub total: u64,
    /// Whether `total` is the exact count.
    pub total_exact: bool,
    /// The window this page was cut with.
    pub limit: u64,
    /// The window this page was cut with (0 for a page by cursor).
    pub offset: u64,
    /// The cursor of the page after this one; `None` when no row follows.
    pub next_cursor: Option<String>,
}

impl<T> KeysetPage<T> {
    /// The page of `slice` cut with `window`, its next cursor made from the last item
    /// by `cursor_of` when a row follows.
    pub fn of<K>(
        slice: Slice<T>,
        window: &Window<K>,
        cursor_of: impl FnOnce(&T) -> String,
    ) -> Self {
        let next_cursor = match (slice.more, slice.items.last()) {
            (true, Some(last)) => Some(cursor_of(last)),
            _ => None,
        };
        Self {
            items: slice.items,
            total: slice.total,
            total_exact: slice.total_exact,
            limit: window.limit,
            offset: window.offset,
            next_cursor,
        }
    }

    /// Converts every item, keeping the rest.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> KeysetPage<U> {
        KeysetPage {
            items: self.items.into_iter().map(f).collect(),
            total: self.total,
            total_exact: self.total_exact,
            limit: self.limit,
            offset: self.offset,
            next_cursor: self.next_cursor,
        }
    }
}
