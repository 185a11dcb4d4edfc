//! The page envelope of every list.
//!
//! Each list has its own concrete page type, so the OpenAPI document names it
//! (`TaskPage`, `UserPage`, …) and its `items` refer to the item's own component
//! (`$ref: Task`) instead of an anonymous inline copy, as a generic schema would give.
//! A new page type is one line: `page_type!(SessionPage of SessionResponse, "…");`.

use serde::Serialize;
use taskforge_domain::page::Page;
use utoipa::ToSchema;

use super::account::SessionResponse;
use super::change::TaskChangeResponse;
use super::task::TaskResponse;
use super::user::UserResponse;

/// Declares a page type `$name` whose items are `$item`: `{items, total, limit, offset}`
/// on the wire, in that order, and a named component in the OpenAPI document.
macro_rules! page_type {
    ($name:ident of $item:ty, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Serialize, ToSchema)]
        pub struct $name {
            /// The items of this page.
            pub items: Vec<$item>,
            /// Matches in all.
            pub total: u64,
            /// Page size asked for.
            pub limit: u64,
            /// Items skipped.
            pub offset: u64,
        }

        impl $name {
            /// Converts a domain page, each item with `f`.
            pub fn from_page<D>(page: Page<D>, f: impl FnMut(D) -> $item) -> Self {
                let page = page.map(f);
                Self {
                    items: page.items,
                    total: page.total,
                    limit: page.limit,
                    offset: page.offset,
                }
            }
        }
    };
}

page_type!(TaskPage of TaskResponse, "A page of tasks: `{items, total, limit, offset}`.");
page_type!(UserPage of UserResponse, "A page of users: `{items, total, limit, offset}`.");
page_type!(TaskChangePage of TaskChangeResponse, "A page of a task's changes, oldest first: `{items, total, limit, offset}`.");
page_type!(SessionPage of SessionResponse, "A page of the caller's live sessions, newest first: `{items, total, limit, offset}`.");
