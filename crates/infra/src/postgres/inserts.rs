//! New tasks of concurrent requests, written together.
//!
//! A lone `INSERT` is a transaction of its own: an executor started, a commit, a wait
//! for the write-ahead log to reach the disk. The insert batcher writes every new task
//! queued on one pool with one multi-row `INSERT … SELECT * FROM unnest(…)` (see
//! [`super::rows`]), their changes and completed idempotency keys in the same statement
//! ([`super::logged`]): one commit for the lot. If the database refuses that
//! statement (a row's owner was deleted meanwhile, say), it wrote nothing, and each row
//! is inserted alone, so every request gets the outcome its own insert would have had —
//! never a partial write.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use futures_util::future::join_all;
use sea_orm::{DbErr, sqlx};

use super::batch::{Batcher, Ticketed};
use super::logged::{self, Forms, LogArrays, LogRows};
use super::rows::{self, TaskArrays};
use crate::db::Database;
use crate::entities::task;
use crate::error::refused_by_database;

/// A task row to insert and what it logs, for one request: two requests are never one
/// key, even for the same row, so that each gets its own outcome (of two inserts of
/// one id, one conflicts).
pub(crate) type NewTask = Ticketed<(task::Model, LogRows)>;

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
        let outcome = insert_all(db, std::slice::from_ref(&row)).await;
        (row, outcome)
    }))
    .await
    .into_iter()
    .collect()
}

/// `INSERT INTO tasks (…) SELECT * FROM unnest(…)`: the rows of [`TaskArrays`], after
/// their log ([`logged::ctes`]).
pub(super) static INSERT_SQL: LazyLock<Forms> = LazyLock::new(|| {
    Forms::new(|keys| {
        format!(
            "WITH {log} INSERT INTO tasks ({columns}) SELECT * FROM unnest({arrays})",
            log = logged::ctes(rows::column_count() + 1, None, keys),
            columns = rows::columns("", false),
            arrays = rows::array_parameters(),
        )
    })
});

/// All rows, with their log, by one `INSERT`.
async fn insert_all(db: &Database, rows: &[NewTask]) -> Result<(), DbErr> {
    let models: Vec<&task::Model> = rows.iter().map(|row| &row.value.0).collect();
    let logs: Vec<&LogRows> = rows.iter().map(|row| &row.value.1).collect();
    let arrays = TaskArrays::of(&models)?;
    let log = LogArrays::of(&logs)?;
    db.execute_sqlx(|| log.bind(arrays.bind(sqlx::query(INSERT_SQL.for_log(&log)))))
        .await?;
    crate::changes::signal::committed();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_insert_writes_every_column_and_its_log() {
        let [with_keys, without_keys] = INSERT_SQL.both();
        for sql in [with_keys, without_keys] {
            assert!(sql.contains(&rows::columns("", false)));
            assert!(sql.contains(&rows::array_parameters()));
            assert!(sql.contains("INSERT INTO task_changes"));
        }
        let last = rows::column_count() + logged::parameter_count();
        assert!(with_keys.contains(&format!("${last}::")));
    }
}
