//! Page requests queued on one pool, the identical ones answered once: a batch runs one
//! statement per distinct page, all at once. Several clients asking for the same page
//! at once (a dashboard polled by many) cost one statement; requests for different
//! pages cost what they cost alone. Each page gets its own result: one failing page
//! fails only the requests for it. A search page (`q`) is planned for its values
//! ([`super::literal`]); every other page keeps its connection's generic plan.
//!
//! A page's count (up to the cap: 10 001 index entries for a large list, most of the
//! page's cost) is kept per filter and cap, with the snapshot it was taken in, and
//! the next page of that filter takes it unless a task the filter's scope sees has
//! changed since ([`KnownCount`]); the check reads the change log from that snapshot
//! on, in the page's own statement. So paging through a list, or a list polled while
//! its tasks stay as they are, counts once; a page after a change counts again.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use sea_orm::{ConnectionTrait, DbErr, sqlx};
use taskforge_domain::page::Window;
use taskforge_domain::task::{TaskFilter, TaskPosition, TaskSort};

use super::batch::Batcher;
use crate::db::Database;
use crate::task_repository::pages::{Counting, KnownCount, PageQuery, PageRows, page_rows};

/// What a page is: filter, order and window (offset or position, and count cap).
pub(crate) type PageKey = (TaskFilter, TaskSort, Window<TaskPosition>);

/// The pages of one pool, each with its own outcome.
pub(crate) type Pages = Batcher<PageKey, Result<PageRows, DbErr>>;

/// How many filters' counts a pool keeps (the least used go first).
const KEPT_COUNTS: usize = 4096;

/// A kept count is counted again this long after it was taken, whatever the log says:
/// a bound on how long a write that bypassed the server (and so its change log) could
/// go unseen.
const RECOUNT_AFTER: Duration = Duration::from_secs(60);

/// What a pool knows of a filter's count.
#[derive(Debug, Clone)]
enum Kept {
    /// Under [`super::KEEP_COUNTS_FROM`] when last counted: its pages count.
    Small,
    /// A count, and when it was taken.
    Count { count: KnownCount, taken: Instant },
}

/// What pools know of counts, per filter and cap.
type KeptCounts = quick_cache::sync::Cache<(TaskFilter, u64), Kept>;

/// The page batcher of `db`.
pub(crate) fn batcher(db: &Database) -> Arc<Pages> {
    let kept = Arc::new(KeptCounts::new(KEPT_COUNTS));
    super::batcher("pages", super::CONCURRENT_BATCHES, db, move |db, keys| {
        let kept = Arc::clone(&kept);
        async move { Ok(load(&db, &kept, keys).await) }
    })
}

async fn load(
    db: &Database,
    kept: &KeptCounts,
    keys: Vec<PageKey>,
) -> HashMap<PageKey, Result<PageRows, DbErr>> {
    join_all(keys.into_iter().map(|key| async move {
        let filter = (key.0.clone(), key.2.count_cap);
        let known = kept.get(&filter);
        let counting = match &known {
            Some(Kept::Small) => Counting::Count,
            Some(Kept::Count { count, taken }) if taken.elapsed() < RECOUNT_AFTER => {
                Counting::Known(count)
            }
            _ => Counting::Keep,
        };
        let rows = if key.0.q.is_some() {
            search_page(db, &key, counting).await
        } else {
            page_rows(db, &key.0, key.1, &key.2, counting).await
        };
        if let Ok(rows) = &rows {
            match &rows.counted {
                Some(count) if count.matching >= super::KEEP_COUNTS_FROM => {
                    let taken = Instant::now();
                    let count = count.clone();
                    kept.insert(filter, Kept::Count { count, taken });
                }
                Some(_) => kept.insert(filter, Kept::Small),
                // A small filter grown large: kept from its next page on.
                None if matches!(counting, Counting::Count)
                    && rows.matching() >= super::KEEP_COUNTS_FROM =>
                {
                    kept.remove(&filter);
                }
                None => {}
            }
        }
        (key, rows)
    }))
    .await
    .into_iter()
    .collect()
}

/// A search page, sent with its values in its text: an unnamed statement, planned for
/// them and not kept (each search is a statement of its own).
async fn search_page(
    db: &Database,
    (filter, sort, window): &PageKey,
    counting: Counting<'_>,
) -> Result<PageRows, DbErr> {
    let PageQuery { rows, count } = PageQuery::new(db, filter, *sort, window, counting).await?;
    let found = match super::literal::inlined(&rows) {
        Some(sql) => {
            // Its values are literals that `literal` escaped.
            let sql: Arc<str> = sql.into();
            db.query_all_sqlx(|| {
                sqlx::query(sqlx::AssertSqlSafe(Arc::clone(&sql))).persistent(false)
            })
            .await?
        }
        None => db.query_all_raw(rows).await?,
    };
    count.finish(db, &found).await
}
