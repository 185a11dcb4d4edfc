//! New tasks of concurrent requests, written together on PostgreSQL.
//!
//! A lone `INSERT` is a transaction of its own: an executor started, a commit, a wait
//! for the write-ahead log to reach the disk. A [`Batcher`] of inserts writes every
//! new task queued on one worker with one multi-row `INSERT … SELECT * FROM
//! unnest(…)`: one commit for the lot. If that statement fails (a row's owner was
//! deleted meanwhile, say), it wrote nothing, and each row is inserted alone, so every
//! request gets the outcome its own insert would have had — never a partial write.

use std::collections::HashMap;
use std::sync::Arc;

use sea_orm::sqlx;
use sea_orm::{ActiveModelTrait, DbErr, EntityTrait};

use crate::db::Database;
use crate::db::batch::{self, Batcher, Ticketed};
use crate::entities::task;
use crate::task_columns::TaskColumns;

/// Insert batches that may run at once on one worker.
const CONCURRENT_BATCHES: usize = 2;

/// A task row to insert, for one request: two requests are never one key, even for
/// the same row, so that each gets its own outcome (of two inserts of one id, one
/// conflicts).
pub(crate) type NewTask = Ticketed<task::Model>;

/// The outcome of each queued insert.
pub(crate) type TaskInserts = Batcher<NewTask, Result<(), DbErr>>;

/// A batcher of inserts on `db`, when `db` batches (PostgreSQL request pools).
pub(crate) fn task_inserts(db: &Database) -> Option<Arc<TaskInserts>> {
    batch::on_database(db, CONCURRENT_BATCHES, |db, rows| async move {
        Ok(insert_batch(&db, rows).await)
    })
}

/// Inserts one row through SeaORM.
pub(crate) async fn insert_one(db: &Database, row: task::Model) -> Result<(), DbErr> {
    task::Entity::insert(task::ActiveModel::from(row).reset_all())
        .exec_without_returning(db)
        .await
        .map(|_| ())
}

/// Every row in one statement; if it fails, each row alone.
async fn insert_batch(db: &Database, rows: Vec<NewTask>) -> HashMap<NewTask, Result<(), DbErr>> {
    if rows.len() > 1 && insert_all(db, &rows).await.is_ok() {
        return rows.into_iter().map(|row| (row, Ok(()))).collect();
    }
    let mut outcomes = HashMap::with_capacity(rows.len());
    for row in rows {
        let outcome = insert_one(db, row.value.clone()).await;
        outcomes.insert(row, outcome);
    }
    outcomes
}

const INSERT_ALL_SQL: &str = "INSERT INTO tasks (id, owner_id, title, description, title_search, \
     description_search, status, priority, due_date, completed_at, created_at, updated_at, version) \
     SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], \
     $7::text[], $8::int2[], $9::timestamptz[], $10::timestamptz[], $11::timestamptz[], \
     $12::timestamptz[], $13::int8[])";

/// All rows by one `INSERT`, column by column as arrays.
async fn insert_all(db: &Database, rows: &[NewTask]) -> Result<(), DbErr> {
    let columns = TaskColumns::of(rows.iter().map(|row| &row.value));
    let query = columns.bind(sqlx::query(INSERT_ALL_SQL));
    db.execute_sqlx(query).await.map(|_| ())
}
