//! The page envelope of every list.
//!
//! Each list has its own concrete page type, so the OpenAPI document names it
//! (`TaskPage`, `UserPage`, …) and its `items` refer to the item's own component
//! (`$ref: Task`) instead of an anonymous inline copy, as a generic schema would give.
//! A new page type is one line: `page_type!(SessionPage of SessionResponse, "…");`.

use serde::Serialize;
use taskforge_domain::page::{KeysetPage, Page};
use utoipa::ToSchema;

use super::account::SessionResponse;
use super::change::TaskChangeResponse;
use super::task::TaskResponse;
use super::user::UserResponse;

/// Declares a page type `$name` whose items are `$item`: `{items, total, total_exact,
/// limit, offset, next_cursor}` on the wire, in that order, and a named component in
/// the OpenAPI document.
macro_rules! page_type {
    ($name:ident of $item:ty, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Serialize, ToSchema)]
        pub struct $name {
            /// The items of this page.
            pub items: Vec<$item>,
            /// Matches in all, counted exactly up to `MAX_EXACT_COUNT` (default 10 000);
            /// beyond it this cap.
            pub total: u64,
            /// Whether `total` is the exact number of matches (false once it is the cap).
            pub total_exact: bool,
            /// Page size asked for.
            pub limit: u64,
            /// Items skipped (0 for a page asked for by `cursor`).
            pub offset: u64,
            /// Opaque cursor of the page after this one (pass it as `?cursor=` with the
            /// same filters and sort); null when no item follows this page.
            #[schema(required = true, nullable)]
            pub next_cursor: Option<String>,
        }

        impl $name {
            /// Converts a domain page of a list walked by cursor, each item with `f`.
            pub fn from_keyset<D>(page: KeysetPage<D>, f: impl FnMut(D) -> $item) -> Self {
                let page = page.map(f);
                Self {
                    items: page.items,
                    total: page.total,
                    total_exact: page.total_exact,
                    limit: page.limit,
                    offset: page.offset,
                    next_cursor: page.next_cursor,
                }
            }

            /// Converts a domain offset page (its total exact), each item with `f`;
            /// `next_cursor` as the list makes it.
            pub fn from_page<D>(
                page: Page<D>,
                next_cursor: Option<String>,
                f: impl FnMut(D) -> $item,
            ) -> Self {
                let page = page.map(f);
                Self {
                    items: page.items,
                    total: page.total,
                    total_exact: true,
                    limit: page.limit,
                    offset: page.offset,
                    next_cursor,
                }
            }
        }
    };
}

page_type!(TaskPage of TaskResponse, "A page of tasks: `{items, total, total_exact, limit, offset, next_cursor}`.");
page_type!(UserPage of UserResponse, "A page of users: `{items, total, total_exact, limit, offset, next_cursor}`.");
page_type!(TaskChangePage of TaskChangeResponse, "A page of a task's changes, oldest first: `{items, total, total_exact, limit, offset, next_cursor}`.");
page_type!(SessionPage of SessionResponse, "A page of the caller's live sessions, newest first: `{items, total, total_exact, limit, offset, next_cursor}`.");
