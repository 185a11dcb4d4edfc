//! The page envelope of every list.

use serde::Serialize;
use taskforge_domain::page::Page;
use utoipa::ToSchema;

/// `{items, total, limit, offset}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PageResponse<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// Matches in all.
    pub total: u64,
    /// Page size asked for.
    pub limit: u64,
    /// Items skipped.
    pub offset: u64,
}

impl<T> PageResponse<T> {
    /// Converts a domain page.
    pub fn from_page<D>(page: Page<D>, f: impl FnMut(D) -> T) -> Self {
        let page = page.map(f);
        Self {
            items: page.items,
            total: page.total,
            limit: page.limit,
            offset: page.offset,
        }
    }
}
