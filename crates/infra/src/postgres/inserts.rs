//! New tasks of concurrent requests, written together.
//!
//! A lone `INSERT` is a transaction of its own: an executor started, a commit, a wait
//! for the write-ahead log to reach the disk. The insert batcher writes every new task
//! queued on one pool with one multi-row `INSERT … SELECT * FROM unnest(…)` (see
//! [`super::rows`]): one commit for the lot. If the database refuses that
//! statement (a row's owner was deleted meanwhile, say), it wrote nothing, and each row
//! is inserted alone, so every request gets the outcome its own insert would have had —
//! never a partial write.

use std::collections::HashMap;
use std::sync::Arc;

use futures_util::future::join_all;
use sea_orm::{DbErr, sqlx};

use super::batch::{Batcher, Ticketed};
use super::rows::{self, TaskArrays};
use crate::db::Database;
use crate::entities::task;
use crate::error::refused_by_database;
use crate::task_repository::insert_one;

/// A task row to insert, for one request: two requests are never one key, even for
/// the same row, so that each gets its own outcome (of two inserts of one id, one
/// conflicts).
pub(crate) type NewTask = Ticketed<task::Model>;

/// The outcome of each queued insert.
pub(crate) type TaskInserts = Batcher<NewTask, Result<(), DbErr>>;

/// The insert batcher of `db`.
pub(crate) fn batcher(db: &Database) -> Arc<TaskInserts> {
    super::batcher(
        "inserts",
        super::CONCURRENT_BATCHES,
        db,
        |db, rows| async move { Ok(insert_batch(&db, rows).await) },
    )
}

/// Every row in one statement; if the database refuses it, each row alone. Any other
/// failure (the connection lost, say) is every row's: whether the statement was
/// applied is unknown, so it is not sent again.
async fn insert_batch(db: &Database, rows: Vec<NewTask>) -> HashMap<NewTask, Result<(), DbErr>> {
    if rows.len() > 1 {
        match insert_all(db, &rows).await {
            Ok(()) => return rows.into_iter().map(|row| (row, Ok(()))).collect(),
            Err(err) if !refused_by_database(&err) => {
                return rows
                    .into_iter()
                    .map(|row| (row, Err(err.clone())))
                    .collect();
            }
            Err(_) => {}
        }
    }
    join_all(rows.into_iter().map(|row| async move {
        let outcome = insert_one(db, row.value.clone()).await;
        (row, outcome)
    }))
    .await
    .into_iter()
    .collect()
}

/// All rows by one `INSERT`.
async fn insert_all(db: &Database, rows: &[NewTask]) -> Result<(), DbErr> {
    let models: Vec<&task::Model> = rows.iter().map(|row| &row.value).collect();
    let arrays = TaskArrays::of(&models)?;
    db.execute_sqlx(|| arrays.bind(sqlx::query(rows::INSERT_ROWS_SQL.as_str())))
        .await
        .map(|_| ())
}
