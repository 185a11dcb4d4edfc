//! New tasks of concurrent requests, written together on PostgreSQL.
//!
//! A lone `INSERT` is a transaction of its own: an executor started, a commit, a wait
//! for the write-ahead log to reach the disk. A [`Batcher`] of inserts writes every
//! new task queued on one worker with one multi-row `INSERT … SELECT * FROM
//! unnest(…)`: one commit for the lot. If that statement fails (a row's owner was
//! deleted meanwhile, say), it wrote nothing, and each row is inserted alone, so every
//! request gets the outcome its own insert would have had — never a partial write.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sea_orm::sqlx;
use sea_orm::{ActiveModelTrait, DbErr, EntityTrait};

use crate::db::Database;
use crate::db::batch::{BatchFuture, Batcher};
use crate::entities::task;

/// Insert batches that may run at once on one worker.
const CONCURRENT_BATCHES: usize = 2;

/// A task row to insert, for one request: two requests are never one key, even for
/// the same row, so that each gets its own outcome (of two inserts of one id, one
/// conflicts).
#[derive(Debug, Clone)]
pub(crate) struct NewTask {
    ticket: u64,
    row: task::Model,
}

impl NewTask {
    pub(crate) fn new(row: task::Model) -> Self {
        static TICKETS: AtomicU64 = AtomicU64::new(0);
        Self {
            ticket: TICKETS.fetch_add(1, Ordering::Relaxed),
            row,
        }
    }
}

impl PartialEq for NewTask {
    fn eq(&self, other: &Self) -> bool {
        self.ticket == other.ticket
    }
}

impl Eq for NewTask {}

impl Hash for NewTask {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.ticket.hash(state);
    }
}

/// The outcome of each queued insert.
pub(crate) type TaskInserts = Batcher<NewTask, Result<(), DbErr>>;

/// A batcher of inserts on `db`, when `db` batches (PostgreSQL request pools).
pub(crate) fn task_inserts(db: &Database) -> Option<Arc<TaskInserts>> {
    db.keeps_connections().then(|| {
        let db = db.clone();
        Arc::new(Batcher::new(CONCURRENT_BATCHES, move |rows| {
            let db = db.clone();
            Box::pin(async move { Ok(insert_batch(&db, rows).await) }) as BatchFuture<_, _>
        }))
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
        let outcome = insert_one(db, row.row.clone()).await;
        outcomes.insert(row, outcome);
    }
    outcomes
}

const INSERT_ALL_SQL: &str = "INSERT INTO tasks (id, owner_id, title, description, title_search, \
     description_search, status, priority, due_date, completed_at, created_at, updated_at, version) \
     SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], \
     $7::text[], $8::int2[], $9::timestamptz[], $10::timestamptz[], $11::timestamptz[], \
     $12::timestamptz[], $13::int8[])";

/// All rows by one `INSERT`, column by column as arrays. sqlx binds these itself:
/// SeaORM's binder has no arrays with NULLs in them.
async fn insert_all(db: &Database, rows: &[NewTask]) -> Result<(), DbErr> {
    let n = rows.len();
    let (mut ids, mut owners) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut titles, mut descriptions) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut title_keys, mut description_keys) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut statuses, mut priorities) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut due_dates, mut completed) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut created, mut updated) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let mut versions = Vec::with_capacity(n);
    for NewTask { row, .. } in rows {
        ids.push(row.id);
        owners.push(row.owner_id);
        titles.push(row.title.as_str());
        descriptions.push(row.description.as_deref());
        title_keys.push(row.title_search.as_str());
        description_keys.push(row.description_search.as_deref());
        statuses.push(row.status.as_str());
        priorities.push(row.priority);
        due_dates.push(row.due_date);
        completed.push(row.completed_at);
        created.push(row.created_at);
        updated.push(row.updated_at);
        versions.push(row.version);
    }
    let query = sqlx::query(INSERT_ALL_SQL)
        .bind(ids)
        .bind(owners)
        .bind(titles)
        .bind(descriptions)
        .bind(title_keys)
        .bind(description_keys)
        .bind(statuses)
        .bind(priorities)
        .bind(due_dates)
        .bind(completed)
        .bind(created)
        .bind(updated)
        .bind(versions);
    db.execute_sqlx(query).await.map(|_| ())
}
