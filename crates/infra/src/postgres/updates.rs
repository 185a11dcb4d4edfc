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
//! update whose row another transaction holds comes back [`UpdateOutcome::Contended`]
//! for its request to queue again (a batch of another pool holds a row for a moment; an
//! outside transaction may hold it long, and then only that request waits, up to the
//! lock deadline). If the database refuses the statement (a new owner does not exist, say), it
//! wrote nothing and each update runs alone, with the outcome it would have had on its
//! own; any other failure is every member's, and nothing is sent again.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, LazyLock};

use futures_util::future::join_all;
use sea_orm::{DbErr, QueryResult, sqlx};
use uuid::Uuid;

use super::batch::{Batcher, Ticketed};
use super::logged::{self, Forms, LogArrays, LogRows};
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
    /// Another transaction holds the row: try again.
    Contended,
    /// The statement failed.
    Failed(DbErr),
}

/// One request's update: the new row and the version it must replace. Two requests
/// are never one key, even for the same change.
pub(crate) type TaskUpdate = Ticketed<Change>;

/// A task's new row, written only over the version its writer read, and what it logs.
#[derive(Debug, Clone)]
pub(crate) struct Change {
    pub(crate) row: task::Model,
    pub(crate) expected: i64,
    pub(crate) log: LogRows,
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
/// expected versions, then the log's), each locked first in id order without waiting
/// (`SKIP LOCKED`), reporting for each row whether it exists, the version it had when
/// locked (none when another transaction holds it) and whether it was updated. Only
/// the updated rows leave their change and complete their key.
///
/// Whether a row exists is a join by key, not an `EXISTS` subquery: planned while
/// `tasks` was small, PostgreSQL may run such a subquery as a hash of every task's id,
/// and the plan is kept as the table grows (seen: each batch reading all 70 000 tasks
/// after the benchmark's creates, updates at half their speed).
fn update_sql(keys: bool) -> String {
    format!(
        "WITH v AS MATERIALIZED (\
           SELECT * FROM unnest({arrays}, ${expected}::int8[]) AS v({columns}, expected)\
         ), locked AS MATERIALIZED (\
           SELECT tasks.id, tasks.version FROM tasks WHERE tasks.id = ANY($1::uuid[]) \
           ORDER BY tasks.id FOR UPDATE SKIP LOCKED\
         ), updated AS (\
           UPDATE tasks SET ({updatable}) = ({values}) \
           FROM v JOIN locked ON locked.id = v.id \
           WHERE tasks.id = v.id AND tasks.version = v.expected \
           RETURNING tasks.id\
         ), {log} \
         SELECT v.id, present.id IS NOT NULL AS present, \
           locked.version AS current_version, updated.id IS NOT NULL AS updated \
         FROM v LEFT JOIN tasks present ON present.id = v.id \
           LEFT JOIN locked ON locked.id = v.id LEFT JOIN updated ON updated.id = v.id",
        arrays = rows::array_parameters(),
        expected = rows::column_count() + 1,
        columns = rows::columns("", false),
        updatable = rows::columns("", true),
        values = rows::columns("v", true),
        log = logged::ctes(rows::column_count() + 2, Some("updated"), keys),
    )
}

pub(super) static UPDATE_SQL: LazyLock<Forms> = LazyLock::new(|| Forms::new(update_sql));

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
        match run(db, &changes).await {
            Ok(found) => {
                for update in round {
                    let outcome = found
                        .get(&update.value.row.id)
                        .copied()
                        .map_or(UpdateOutcome::Gone, Found::outcome);
                    outcomes.insert(update, outcome);
                }
            }
            Err(err) if refused_by_database(&err) => {
                // Nothing was written: each update alone, with its own outcome.
                let alone = join_all(round.into_iter().map(|update| async move {
                    let outcome = match run(db, &[&update.value]).await {
                        Ok(found) => found
                            .get(&update.value.row.id)
                            .copied()
                            .map_or(UpdateOutcome::Gone, Found::outcome),
                        Err(err) => UpdateOutcome::Failed(err),
                    };
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

/// What the statement found of one row.
#[derive(Debug, Clone, Copy)]
struct Found {
    present: bool,
    current_version: Option<i64>,
    updated: bool,
}

impl Found {
    fn outcome(self) -> UpdateOutcome {
        match self {
            Found { updated: true, .. } => UpdateOutcome::Updated,
            Found {
                current_version: Some(_),
                ..
            } => UpdateOutcome::Stale,
            Found { present: true, .. } => UpdateOutcome::Contended,
            Found { present: false, .. } => UpdateOutcome::Gone,
        }
    }
}

/// Runs the update statement over `changes` (distinct tasks): what it found, by task id.
async fn run(db: &Database, changes: &[&Change]) -> Result<HashMap<Uuid, Found>, DbErr> {
    let models: Vec<&task::Model> = changes.iter().map(|c| &c.row).collect();
    let arrays = TaskArrays::of(&models)?;
    let expected: Vec<i64> = changes.iter().map(|c| c.expected).collect();
    let logs: Vec<&LogRows> = changes.iter().map(|c| &c.log).collect();
    let log = LogArrays::of(&logs)?;
    let found = db
        .query_all_sqlx(|| {
            log.bind(
                arrays
                    .bind(sqlx::query(UPDATE_SQL.for_log(&log)))
                    .bind(expected.clone()),
            )
        })
        .await?
        .iter()
        .map(outcome_row)
        .collect::<Result<HashMap<Uuid, Found>, DbErr>>()?;
    if found.values().any(|f| f.updated) {
        crate::changes::signal::committed();
    }
    Ok(found)
}

fn outcome_row(row: &QueryResult) -> Result<(Uuid, Found), DbErr> {
    Ok((
        row.try_get("", "id")?,
        Found {
            present: row.try_get("", "present")?,
            current_version: row.try_get("", "current_version")?,
            updated: row.try_get("", "updated")?,
        },
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
            log: LogRows::sample(id),
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
    fn the_batch_never_waits_for_a_lock_and_writes_every_column_but_the_id() {
        for sql in UPDATE_SQL.both() {
            assert!(sql.contains("FOR UPDATE SKIP LOCKED"));
            assert!(sql.contains(&rows::columns("v", true)));
            assert!(sql.contains(&rows::array_parameters()));
            assert!(sql.contains("INSERT INTO task_changes"));
            assert!(sql.contains("IN (SELECT id FROM updated)"));
        }
    }

    #[test]
    fn what_the_statement_found_says_what_happened() {
        let found = |present, current_version, updated| Found {
            present,
            current_version,
            updated,
        };
        assert!(matches!(
            found(true, Some(1), true).outcome(),
            UpdateOutcome::Updated
        ));
        assert!(matches!(
            found(true, Some(3), false).outcome(),
            UpdateOutcome::Stale
        ));
        assert!(matches!(
            found(true, None, false).outcome(),
            UpdateOutcome::Contended
        ));
        assert!(matches!(
            found(false, None, false).outcome(),
            UpdateOutcome::Gone
        ));
    }
}
