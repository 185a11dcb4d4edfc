//! The `updated_at` sort served from a table of its own on PostgreSQL, so that task
//! updates are HOT again (SQLite keeps its `updated_at` indexes on `tasks`; it has no
//! HOT updates to lose and updates only the index entries whose columns changed).
//!
//! Every write of a task sets `updated_at`. While an index of `tasks` holds that column,
//! PostgreSQL cannot update a row on its page (heap-only): each update writes a new entry
//! into every one of the table's indexes, and an often-edited task leaves dead entries
//! in all of them (`m20261204_000004_hot_task_updates`, and bench/README.md: 21 index
//! entries per update since `m20261206_000007_list_indexes`, updates at about half their
//! speed). The sort must still be served by an index (issue 16), so its indexes move:
//! `task_recency` holds each task's id, owner and `updated_at`, indexed as the list
//! reads them (`(owner_id, updated_at, task_id)` for a user's list, `(updated_at,
//! task_id)` for an admin's), and a list by `updated_at` walks that index and joins each
//! task by its primary key. An update of `tasks` that changes no other indexed column
//! stays HOT; the update of the narrow `task_recency` row writes its three index entries.
//!
//! Statement-level triggers keep it in step, once per statement rather than once per
//! row (the fast path writes a batch of tasks in one statement): on insert, on update
//! when `updated_at` or the owner changed, on delete (the deletes that cascade from a
//! user too). The rows are in the same transaction as the write, so a reader sees both
//! or neither. The trigger functions forbid hash and merge joins and sequential scans
//! for their own statements: a batch's few rows are found by key in a table of any size.
//!
//! `up` locks `tasks` against writes (`SHARE`; reads go on) while it fills the table from
//! the existing rows and creates the triggers, so no write falls in between; on a
//! populated table that takes as long as the fill (seconds per million tasks). It then
//! drops the two `updated_at` indexes of `tasks` in the same transaction (a brief
//! exclusive lock). `down` builds those two indexes again in its transaction, not
//! concurrently: writes to `tasks` wait for the build.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

/// Moves the `updated_at` sort's indexes to `task_recency` (PostgreSQL; nothing on
/// SQLite).
#[derive(DeriveMigrationName)]
pub struct Migration;

/// The `updated_at` indexes of `m20261206_000007_list_indexes` that `task_recency`
/// replaces, with their definitions for `down`.
const REPLACED: [(&str, &str); 2] = [
    ("idx_tasks_owner_updated_id", "(owner_id, updated_at, id)"),
    ("idx_tasks_updated_id", "(updated_at, id)"),
];

/// What a trigger function's statement may use: index scans in nested loops only.
const KEYED: &str = "SET enable_hashjoin = off SET enable_mergejoin = off SET enable_seqscan = off";

/// One statement trigger of `tasks` that keeps `task_recency` in step: the function
/// and the trigger are `task_recency_{rows}`, and the statement's rows, as its
/// transition table, are called `rows`.
struct Sync {
    rows: &'static str,
    event: &'static str,
    /// `NEW` or `OLD`: which rows the transition table holds.
    table: &'static str,
    /// Whether the body looks rows up in `task_recency` (see [`KEYED`]).
    keyed: bool,
    body: &'static str,
}

const SYNCS: [Sync; 3] = [
    Sync {
        rows: "added",
        event: "INSERT",
        table: "NEW",
        keyed: false,
        body: "INSERT INTO task_recency (task_id, owner_id, updated_at) \
               SELECT id, owner_id, updated_at FROM added",
    },
    Sync {
        rows: "changed",
        event: "UPDATE",
        table: "NEW",
        keyed: true,
        body: "UPDATE task_recency SET owner_id = changed.owner_id, updated_at = changed.updated_at \
               FROM changed WHERE task_recency.task_id = changed.id \
                 AND (task_recency.owner_id, task_recency.updated_at) \
                   IS DISTINCT FROM (changed.owner_id, changed.updated_at)",
    },
    Sync {
        rows: "removed",
        event: "DELETE",
        table: "OLD",
        keyed: true,
        body: "DELETE FROM task_recency USING removed WHERE task_recency.task_id = removed.id",
    },
];

impl Sync {
    /// The trigger function and the trigger.
    fn create(&self) -> [String; 2] {
        let Self {
            rows,
            event,
            table,
            keyed,
            body,
        } = self;
        let settings = if *keyed { KEYED } else { "" };
        [
            format!(
                "CREATE FUNCTION task_recency_{rows}() RETURNS trigger LANGUAGE plpgsql {settings} \
                 AS $$ BEGIN {body}; RETURN NULL; END $$"
            ),
            format!(
                "CREATE TRIGGER task_recency_{rows} AFTER {event} ON tasks \
                 REFERENCING {table} TABLE AS {rows} FOR EACH STATEMENT \
                 EXECUTE FUNCTION task_recency_{rows}()"
            ),
        ]
    }

    /// The trigger and its function, gone.
    fn drop(&self) -> [String; 2] {
        let rows = self.rows;
        [
            format!("DROP TRIGGER IF EXISTS task_recency_{rows} ON tasks"),
            format!("DROP FUNCTION IF EXISTS task_recency_{rows}()"),
        ]
    }
}

/// The statements of `up`, in order.
fn up_statements() -> Vec<String> {
    let mut statements: Vec<String> = vec![
        "CREATE TABLE task_recency (\
           task_id uuid PRIMARY KEY, \
           owner_id uuid NOT NULL, \
           updated_at timestamptz NOT NULL)"
            .into(),
        "LOCK TABLE tasks IN SHARE MODE".into(),
        "INSERT INTO task_recency (task_id, owner_id, updated_at) \
         SELECT id, owner_id, updated_at FROM tasks"
            .into(),
        "CREATE INDEX idx_task_recency_owner_updated_id \
         ON task_recency (owner_id, updated_at, task_id)"
            .into(),
        "CREATE INDEX idx_task_recency_updated_id ON task_recency (updated_at, task_id)".into(),
    ];
    statements.extend(SYNCS.iter().flat_map(Sync::create));
    statements.extend(
        REPLACED
            .iter()
            .map(|(name, _)| format!("DROP INDEX IF EXISTS {name}")),
    );
    statements
}

/// The statements of `down`, in order.
fn down_statements() -> Vec<String> {
    let mut statements: Vec<String> = REPLACED
        .iter()
        .map(|(name, columns)| format!("CREATE INDEX IF NOT EXISTS {name} ON tasks {columns}"))
        .collect();
    statements.extend(SYNCS.iter().flat_map(Sync::drop));
    statements.push("DROP TABLE IF EXISTS task_recency".into());
    statements
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        for statement in up_statements() {
            db.execute_unprepared(&statement).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        for statement in down_statements() {
            db.execute_unprepared(&statement).await?;
        }
        Ok(())
    }
}
