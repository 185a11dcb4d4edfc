//! Conditional task updates of concurrent requests, written together.
//!
//! An update writes every column of a task, only while the stored version is the one
//! the writer read, so of parallel writers holding one version exactly one wins. The
//! update batcher writes every update queued on one pool with one statement (one
//! commit): `UPDATE … FROM jsonb_populate_recordset(…)`, each row under its own
//! version condition. A batch holding two updates of one task runs them one after the
//! other, in rounds of distinct tasks, so each still meets the version its writer read.
//!
//! A batch never waits for a row lock: it locks its rows with `SKIP LOCKED`, and an
//! update whose row another transaction holds (or that is gone) comes back
//! [`UpdateOutcome::Contended`] for its own request to settle alone
//! ([`update_alone`]), so a row held by someone else delays only the requests for that
//! row. If the database refuses the statement (a new owner does not exist, say), it
//! wrote nothing and each update runs alone, with the outcome it would have had on its
//! own; any other failure is every member's, and nothing is sent again.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, LazyLock};

use futures_util::future::join_all;
use sea_orm::{DbErr, QueryResult, sqlx};
use uuid::Uuid;

use super::batch::{Batcher, Ticketed};
use super::rows::{self, TaskArrays};
use crate::db::Database;
use crate::entities::task;
use crate::error::refused_by_database;

/// What a conditional update did.
#[derive(Debug, Clone)]
pub(crate) enum UpdateOutcome {
    /// The row had the expected version and now holds the new one.
    Updated,
    /// The row is there with another version.
    Stale,
    /// There is no such row.
    Gone,
    /// Another transaction holds the row, or it is gone: settle it alone.
    Contended,
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

/// The update batcher of `db`.
pub(crate) fn batcher(db: &Database) -> Arc<TaskUpdates> {
    super::batcher(
        "updates",
        super::CONCURRENT_BATCHES,
        db,
        |db, updates| async move { Ok(update_batch(&db, updates).await) },
    )
}

/// The conditional update of `v`'s rows (the arrays of [`rows::TaskArrays`], then the
/// expected versions), each locked first in id order (`{lock}`: `SKIP LOCKED` or
/// `NOWAIT`), reporting for each row whether it was updated and the version it had.
fn update_sql(lock: &str) -> String {
    format!(
        "WITH v AS MATERIALIZED (\
           SELECT * FROM unnest({arrays}, ${expected}::int8[]) AS v({columns}, expected)\
         ), locked AS MATERIALIZED (\
           SELECT tasks.id, tasks.version FROM tasks WHERE tasks.id IN (SELECT id FROM v) \
           ORDER BY tasks.id FOR UPDATE {lock}\
         ), updated AS (\
           UPDATE tasks SET ({updatable}) = ({values}) \
           FROM v JOIN locked ON locked.id = v.id \
           WHERE tasks.id = v.id AND tasks.version = v.expected \
           RETURNING tasks.id\
         ) \
         SELECT v.id, locked.version AS current_version, updated.id IS NOT NULL AS updated \
         FROM v LEFT JOIN locked ON locked.id = v.id LEFT JOIN updated ON updated.id = v.id",
        arrays = rows::array_parameters(),
        expected = rows::column_count() + 1,
        columns = rows::columns("", false),
        updatable = rows::columns("", true),
        values = rows::columns("v", true),
    )
}

static BATCH_UPDATE_SQL: LazyLock<String> = LazyLock::new(|| update_sql("SKIP LOCKED"));
static NOWAIT_UPDATE_SQL: LazyLock<String> = LazyLock::new(|| update_sql("NOWAIT"));

/// Every update of the batch, a statement per round of distinct tasks; a round the
/// database refuses runs its updates alone.
async fn update_batch(
    db: &Database,
    updates: Vec<TaskUpdate>,
) -> HashMap<TaskUpdate, UpdateOutcome> {
    let mut outcomes = HashMap::with_capacity(updates.len());
    let rounds = rounds(updates);
    tracing::Span::current().record("batch.rounds", rounds.len());
    for round in rounds {
        let changes: Vec<&Change> = round.iter().map(|update| &update.value).collect();
        match run(db, BATCH_UPDATE_SQL.as_str(), &changes).await {
            Ok(found) => {
                for update in round {
                    let outcome = match found.get(&update.value.row.id) {
                        Some((_, true)) => UpdateOutcome::Updated,
                        Some((Some(_), false)) => UpdateOutcome::Stale,
                        Some((None, false)) | None => UpdateOutcome::Contended,
                    };
                    outcomes.insert(update, outcome);
                }
            }
            Err(err) if refused_by_database(&err) => {
                // Nothing was written: each update alone, with its own outcome. A
                // row locked meanwhile is settled by its own request.
                let alone = join_all(round.into_iter().map(|update| async move {
                    let outcome = update_alone(db, &update.value).await;
                    (update, outcome)
                }))
                .await;
                outcomes.extend(alone);
            }
            Err(err) => {
                outcomes.extend(
                    round
                        .into_iter()
                        .map(|update| (update, UpdateOutcome::Failed(err.clone()))),
                );
            }
        }
    }
    outcomes
}

/// One update, never waiting for its row's lock: [`UpdateOutcome::Contended`] while
/// another transaction holds it (the database's `lock_not_available`), so the caller
/// can wait without holding a connection.
pub(crate) async fn update_alone(db: &Database, change: &Change) -> UpdateOutcome {
    match run(db, NOWAIT_UPDATE_SQL.as_str(), &[change]).await {
        Ok(found) => match found.get(&change.row.id) {
            Some((_, true)) => UpdateOutcome::Updated,
            Some((Some(_), false)) => UpdateOutcome::Stale,
            Some((None, false)) | None => UpdateOutcome::Gone,
        },
        Err(err) if crate::error::lock_not_available(&err) => UpdateOutcome::Contended,
        Err(err) => UpdateOutcome::Failed(err),
    }
}

/// Runs one update statement over `changes` (distinct tasks): by task id, the version
/// the row had when locked (none when it was not locked) and whether it was updated.
async fn run(
    db: &Database,
    sql: &'static str,
    changes: &[&Change],
) -> Result<HashMap<Uuid, (Option<i64>, bool)>, DbErr> {
    let models: Vec<&task::Model> = changes.iter().map(|c| &c.row).collect();
    let arrays = TaskArrays::of(&models)?;
    let expected: Vec<i64> = changes.iter().map(|c| c.expected).collect();
    db.query_all_sqlx(|| arrays.bind(sqlx::query(sql)).bind(expected.clone()))
        .await?
        .iter()
        .map(outcome_row)
        .collect()
}

fn outcome_row(row: &QueryResult) -> Result<(Uuid, (Option<i64>, bool)), DbErr> {
    Ok((
        row.try_get("", "id")?,
        (
            row.try_get("", "current_version")?,
            row.try_get("", "updated")?,
        ),
    ))
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

    #[test]
    fn the_batch_skips_locked_rows_and_the_lone_update_never_waits_for_one() {
        assert!(BATCH_UPDATE_SQL.contains("FOR UPDATE SKIP LOCKED"));
        assert!(NOWAIT_UPDATE_SQL.contains("FOR UPDATE NOWAIT"));
        assert!(BATCH_UPDATE_SQL.contains(&rows::columns("v", true)));
        assert!(BATCH_UPDATE_SQL.contains(&rows::array_parameters()));
    }
}
