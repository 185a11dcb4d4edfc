//! Where deep pages by offset start, kept between pages: a page `offset` rows deep
//! walks that many entries of its sort's index (10 000 entries cost about three
//! 20-row pages), so the row before it is kept, and the next page at that offset is
//! read as the page after that row, by cursor, while no task of its filter's scope has
//! changed since. The page's own statement checks that, as it checks a kept count
//! ([`super::kept_counts`]): the boundary is kept with the count and the snapshot of
//! the walk that found it, and a page read from it is only taken when its count still
//! holds. Otherwise the page walks its offset again (and keeps the new boundary).
//!
//! A page also keeps where the next one starts (its last row), so paging on through a
//! list by offset walks once. A page past the count cap keeps none: its walk counts
//! nothing (its rows prove the count), so it has no snapshot to be checked against.
//! Like a kept count, a boundary is walked again after
//! [`RECOUNT_AFTER`], whatever the log says: a write that bypassed the server's log
//! goes unseen for that long at most.

use std::time::Instant;

use sea_orm::{ConnectionTrait, DbErr};
use taskforge_domain::page::Window;
use taskforge_domain::task::{TaskFilter, TaskPosition, TaskSort};

use super::kept_counts::{KEEP_COUNTS_FROM, RECOUNT_AFTER};
use super::pages::{Counting, KnownCount, PageRows, page_rows};
use super::to_task;
use crate::entities::task;
use crate::paging;

/// How many pages' boundaries a repository keeps (the least used go first).
const KEPT_BOUNDARIES: usize = 4096;

/// A page: its filter, its order, its offset and its count cap.
type Key = (TaskFilter, TaskSort, u64, u64);

/// The row before a page by offset, and what its walk counted, as of a snapshot.
#[derive(Debug, Clone)]
struct Boundary {
    before: TaskPosition,
    count: KnownCount,
    taken: Instant,
}

/// The boundaries kept, per page.
pub(crate) struct KeptBoundaries {
    boundaries: quick_cache::sync::Cache<Key, Boundary>,
}

impl std::fmt::Debug for KeptBoundaries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeptBoundaries")
            .field("pages", &self.boundaries.len())
            .finish_non_exhaustive()
    }
}

impl Default for KeptBoundaries {
    fn default() -> Self {
        Self {
            boundaries: quick_cache::sync::Cache::new(KEPT_BOUNDARIES),
        }
    }
}

impl KeptBoundaries {
    /// The rows of `window` of the list of `filter` in `sort` order, as
    /// [`page_rows`] reads them: from a kept boundary when the page is deep by offset
    /// and its filter's scope has not changed since, otherwise by walking the offset
    /// (keeping the boundary found). Pages by cursor, searches and shallow pages go to
    /// [`page_rows`] as they are: their statement is what a boundary would save.
    pub(crate) async fn page_rows<C: ConnectionTrait>(
        &self,
        db: &C,
        filter: &TaskFilter,
        sort: TaskSort,
        window: &Window<TaskPosition>,
        counting: Counting<'_>,
    ) -> Result<PageRows, DbErr> {
        // A walk shorter than the smallest count worth keeping costs less than the
        // check of the log that a kept boundary needs.
        if window.after.is_some() || window.offset < KEEP_COUNTS_FROM || filter.q.is_some() {
            return page_rows(db, filter, sort, window, counting).await;
        }
        let key = (filter.clone(), sort, window.offset, window.count_cap);
        if let Some(boundary) = self.boundaries.get(&key) {
            if boundary.taken.elapsed() < RECOUNT_AFTER {
                let from = Window {
                    offset: 0,
                    after: Some(boundary.before.clone()),
                    ..window.clone()
                };
                let rows =
                    page_rows(db, filter, sort, &from, Counting::Known(&boundary.count)).await?;
                // No count taken: the one given still holds, so nothing the page's
                // scope sees changed and the row before it is still the one kept.
                if rows.counted.is_none() && !rows.is_empty() {
                    self.keep_next(filter, sort, window, &rows, &boundary.count);
                    return Ok(rows);
                }
            }
            self.boundaries.remove(&key);
        }
        self.walk(db, filter, sort, window, counting, key).await
    }

    /// The page read by walking its offset, from one row earlier: that row is the
    /// boundary kept for the next read of the page.
    async fn walk<C: ConnectionTrait>(
        &self,
        db: &C,
        filter: &TaskFilter,
        sort: TaskSort,
        window: &Window<TaskPosition>,
        counting: Counting<'_>,
        key: Key,
    ) -> Result<PageRows, DbErr> {
        let earlier = Window {
            offset: window.offset - 1,
            limit: window.limit.saturating_add(1),
            ..window.clone()
        };
        let (before, rows) = page_rows(db, filter, sort, &earlier, counting)
            .await?
            .split_first();
        // The snapshot the rows are as of: the count's, taken now or given and found
        // to hold by this statement (a page past the cap checks nothing).
        let snapshot = match (&rows.counted, counting) {
            (Some(counted), _) => Some(counted.snapshot.clone()),
            (None, Counting::Known(known)) if paging::past_the_cap(&earlier).is_none() => {
                Some(known.snapshot.clone())
            }
            _ => None,
        };
        if let (Some(before), Some(snapshot)) = (before, snapshot)
            && !rows.is_empty()
        {
            let count = KnownCount {
                matching: rows.matching(),
                snapshot,
            };
            self.keep(key, &before, sort, &count);
            self.keep_next(filter, sort, window, &rows, &count);
        }
        Ok(rows)
    }

    /// Keeps `before` as the row before the page of `key`.
    fn keep(&self, key: Key, before: &task::Model, sort: TaskSort, count: &KnownCount) {
        // A row that is no task is no boundary: the page is walked next time.
        if let Ok(task) = to_task(before.clone()) {
            let boundary = Boundary {
                before: TaskPosition::of(&task, sort.key),
                count: count.clone(),
                taken: Instant::now(),
            };
            self.boundaries.insert(key, boundary);
        }
    }

    /// Keeps the last row of the page of `window` as the row before the next page,
    /// when there is one.
    fn keep_next(
        &self,
        filter: &TaskFilter,
        sort: TaskSort,
        window: &Window<TaskPosition>,
        rows: &PageRows,
        count: &KnownCount,
    ) {
        let Ok(limit) = usize::try_from(window.limit) else {
            return;
        };
        // Without the extra row past the page, the next page has no rows to keep.
        if rows.len() <= limit {
            return;
        }
        if let Some(last) = limit.checked_sub(1).and_then(|last| rows.row(last)) {
            let next = window.offset.saturating_add(window.limit);
            let key = (filter.clone(), sort, next, window.count_cap);
            self.keep(key, last, sort, count);
        }
    }
}
