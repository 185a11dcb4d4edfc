//! Page requests queued on one pool, the identical ones answered once: a batch runs one
//! statement per distinct page, all at once. Several clients asking for the same page
//! at once (a dashboard polled by many) cost one statement; requests for different
//! pages cost what they cost alone. Each page gets its own result: one failing page
//! fails only the requests for it. A search page (`q`) is planned for its values
//! ([`super::literal`]); every other page keeps its connection's generic plan.
//!
//! Each pool keeps its pages' counts for the next page of the same filter
//! ([`crate::task_repository::kept_counts`]), and where its deep pages by offset start
//! ([`crate::task_repository::kept_boundaries`]).

use std::collections::HashMap;
use std::sync::Arc;

use futures_util::future::join_all;
use sea_orm::{ConnectionTrait, DbErr, sqlx};
use taskforge_domain::page::Window;
use taskforge_domain::task::{TaskFilter, TaskPosition, TaskSort};

use super::batch::Batcher;
use crate::db::Database;
use crate::task_repository::kept_boundaries::KeptBoundaries;
use crate::task_repository::kept_counts::KeptCounts;
use crate::task_repository::pages::{Counting, PageQuery, PageRows};

/// What a page is: filter, order and window (offset or position, and count cap).
pub(crate) type PageKey = (TaskFilter, TaskSort, Window<TaskPosition>);

/// The pages of one pool, each with its own outcome.
pub(crate) type Pages = Batcher<PageKey, Result<PageRows, DbErr>>;

/// The page batcher of `db`.
pub(crate) fn batcher(db: &Database) -> Arc<Pages> {
    let kept = Arc::new((KeptCounts::default(), KeptBoundaries::default()));
    super::batcher("pages", super::CONCURRENT_BATCHES, db, move |db, keys| {
        let kept = Arc::clone(&kept);
        async move { Ok(load(&db, &kept, keys).await) }
    })
}

async fn load(
    db: &Database,
    (kept, boundaries): &(KeptCounts, KeptBoundaries),
    keys: Vec<PageKey>,
) -> HashMap<PageKey, Result<PageRows, DbErr>> {
    join_all(keys.into_iter().map(|key| async move {
        let (filter, sort, window) = &key;
        let ticket = kept.ticket(filter, window.count_cap).await;
        let rows = if filter.q.is_some() {
            search_page(db, &key, ticket.counting()).await
        } else {
            boundaries
                .page_rows(db, filter, *sort, window, ticket.counting())
                .await
        };
        if let Ok(rows) = &rows {
            ticket.learn(rows);
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
