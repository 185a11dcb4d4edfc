//! Conditional task updates: one at a time, and batched on PostgreSQL.
//!
//! An update writes every column of a task, only while the stored version is the one
//! the writer read, so of parallel writers holding one version exactly one wins. On
//! PostgreSQL a [`Batcher`] writes every update queued on one worker with one
//! statement (one commit): `UPDATE … FROM unnest(…)`, each row under its own version
//! condition. A batch holding two updates of one task runs them one after the other,
//! as separate statements, so each still meets the version its writer read. Rows are
//! locked in id order first, so that two batches of overlapping tasks cannot deadlock.
//! If the statement fails (a new owner does not exist, say), it wrote nothing and each
//! update runs alone, with the outcome it would have had on its own.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use sea_orm::ActiveValue::NotSet;
use sea_orm::sqlx;
use sea_orm::{ActiveModelTrait, ColumnTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter};
use uuid::Uuid;

use crate::db::Database;
use crate::db::batch::{self, Batcher, Ticketed};
use crate::entities::task;
use crate::task_columns::TaskColumns;

/// Update batches that may run at once on one worker.
const CONCURRENT_BATCHES: usize = 2;

/// What a conditional update did.
#[derive(Debug, Clone)]
pub(crate) enum UpdateOutcome {
    /// The row had the expected version and now holds the new one.
    Updated,
    /// The row is there with another version.
    Stale,
    /// There is no such row.
    Gone,
    /// The statement failed.
    Failed(DbErr),
}

/// One request's update: the new row and the version it must replace. Two requests
/// are never one key, even for the same change.
pub(crate) type TaskUpdate = Ticketed<Change>;

/// A task's new row, written only over the version its writer read.
#[derive(Debug, Clone)]
pub(crate) struct Change {
    pub(crate) row: task::Model,
    pub(crate) expected: i64,
}

/// The outcome of each queued update.
pub(crate) type TaskUpdates = Batcher<TaskUpdate, UpdateOutcome>;

/// A batcher of updates on `db`, when `db` batches (PostgreSQL request pools).
pub(crate) fn task_updates(db: &Database) -> Option<Arc<TaskUpdates>> {
    batch::on_database(db, CONCURRENT_BATCHES, |db, updates| async move {
        Ok(update_batch(&db, updates).await)
    })
}

/// One update by itself, through SeaORM.
pub(crate) async fn update_one(db: &Database, update: &TaskUpdate) -> UpdateOutcome {
    let mut row = task::ActiveModel::from(update.value.row.clone()).reset_all();
    row.id = NotSet;
    let result = task::Entity::update_many()
        .set(row)
        .filter(task::Column::Id.eq(update.value.row.id))
        .filter(task::Column::Version.eq(update.value.expected))
        .exec(db)
        .await;
    match result {
        Ok(done) if done.rows_affected > 0 => UpdateOutcome::Updated,
        Ok(_) => explain_miss(db, update.value.row.id).await,
        Err(err) => UpdateOutcome::Failed(err),
    }
}

/// What an update that matched no row means: the task is there with another version,
/// or it is gone.
pub(crate) async fn explain_miss(db: &Database, id: Uuid) -> UpdateOutcome {
    match task::Entity::find_by_id(id).count(db).await {
        Ok(0) => UpdateOutcome::Gone,
        Ok(_) => UpdateOutcome::Stale,
        Err(err) => UpdateOutcome::Failed(err),
    }
}

/// Every update of the batch, a statement per round of distinct tasks; a round whose
/// statement fails runs its updates one by one.
async fn update_batch(
    db: &Database,
    updates: Vec<TaskUpdate>,
) -> HashMap<TaskUpdate, UpdateOutcome> {
    let mut outcomes = HashMap::with_capacity(updates.len());
    for round in rounds(updates) {
        // A round of one is a plain single-row update; a round whose statement failed
        // wrote nothing, and its updates run one by one.
        let updated = match round.len() {
            1 => None,
            _ => update_all(db, &round).await.ok(),
        };
        let Some(updated) = updated else {
            for update in round {
                let outcome = update_one(db, &update).await;
                outcomes.insert(update, outcome);
            }
            continue;
        };
        for update in round {
            let outcome = if updated.contains(&update.value.row.id) {
                UpdateOutcome::Updated
            } else {
                explain_miss(db, update.value.row.id).await
            };
            outcomes.insert(update, outcome);
        }
    }
    outcomes
}

/// The updates in rounds, each with every task at most once, in queue order.
fn rounds(updates: Vec<TaskUpdate>) -> Vec<Vec<TaskUpdate>> {
    let mut rounds: Vec<(HashSet<Uuid>, Vec<TaskUpdate>)> = Vec::new();
    for update in updates {
        // The first round after every round that already has this task.
        let first_free = rounds
            .iter()
            .rposition(|(ids, _)| ids.contains(&update.value.row.id))
            .map_or(0, |taken| taken + 1);
        if first_free == rounds.len() {
            rounds.push((HashSet::new(), Vec::new()));
        }
        let (ids, round) = &mut rounds[first_free];
        ids.insert(update.value.row.id);
        round.push(update);
    }
    rounds.into_iter().map(|(_, round)| round).collect()
}

const UPDATE_ALL_SQL: &str = "\
WITH v AS MATERIALIZED (\
  SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], \
    $6::text[], $7::text[], $8::int2[], $9::timestamptz[], $10::timestamptz[], \
    $11::timestamptz[], $12::timestamptz[], $13::int8[], $14::int8[]) \
  AS v(id, owner_id, title, description, title_search, description_search, status, \
    priority, due_date, completed_at, created_at, updated_at, version, expected)\
), locked AS MATERIALIZED (\
  SELECT tasks.id FROM tasks WHERE tasks.id IN (SELECT id FROM v) ORDER BY tasks.id FOR UPDATE\
) \
UPDATE tasks SET owner_id = v.owner_id, title = v.title, description = v.description, \
  title_search = v.title_search, description_search = v.description_search, \
  status = v.status, priority = v.priority, due_date = v.due_date, \
  completed_at = v.completed_at, created_at = v.created_at, updated_at = v.updated_at, \
  version = v.version \
FROM v JOIN locked ON locked.id = v.id \
WHERE tasks.id = v.id AND tasks.version = v.expected \
RETURNING tasks.id";

/// A round of updates of distinct tasks in one statement; the ids it updated.
async fn update_all(db: &Database, round: &[TaskUpdate]) -> Result<HashSet<Uuid>, DbErr> {
    let columns = TaskColumns::of(round.iter().map(|update| &update.value.row));
    let expected: Vec<i64> = round.iter().map(|update| update.value.expected).collect();
    let query = columns.bind(sqlx::query(UPDATE_ALL_SQL)).bind(expected);
    db.query_all_sqlx(query)
        .await?
        .iter()
        .map(|row| row.try_get::<Uuid>("", "id"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update_of(id: Uuid) -> TaskUpdate {
        let now = chrono::Utc::now();
        TaskUpdate::new(Change {
            row: task::Model {
                id,
                owner_id: Uuid::nil(),
                title: "t".into(),
                description: None,
                title_search: "t".into(),
                description_search: None,
                status: "todo".into(),
                priority: 2,
                due_date: None,
                completed_at: None,
                created_at: now,
                updated_at: now,
                version: 2,
            },
            expected: 1,
        })
    }

    #[test]
    fn rounds_hold_each_task_once_and_keep_the_order_of_its_updates() {
        let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let updates: Vec<TaskUpdate> = [a, b, a, c, a, b].into_iter().map(update_of).collect();
        let queued = updates.clone();
        let rounds = rounds(updates);
        let ids: Vec<Vec<Uuid>> = rounds
            .iter()
            .map(|round| round.iter().map(|u| u.value.row.id).collect())
            .collect();
        assert_eq!(ids, [vec![a, b, c], vec![a, b], vec![a]]);
        // The updates of one task run in the order they were queued.
        let of_a: Vec<&TaskUpdate> = rounds
            .iter()
            .flatten()
            .filter(|u| u.value.row.id == a)
            .collect();
        assert_eq!(of_a, [&queued[0], &queued[2], &queued[4]]);
    }
}
