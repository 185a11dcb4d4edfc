//! The due-date indexes of the task list carry the due date itself (PostgreSQL), so a
//! page deep by offset in due-date order reads index entries only.
//!
//! Those indexes are on an expression, `COALESCE(due_date, ±infinity)`
//! (`m20261206_000007_list_indexes`), and PostgreSQL scans an index alone only when
//! every column the query names is in it: `due_date`, inside the expression, was not.
//! A page by offset reads the ids of the rows it skips from the sort's index
//! (`task_repository::pages`); in due-date order that meant a table row per skipped
//! row (8.4 ms 10 000 rows deep, against 1.2 ms with `INCLUDE (due_date)`, on
//! 1 000 000 tasks; bench/README.md). The included column is not part of the key, so
//! the order the index serves, and every plan that used it, stay as they were.
//!
//! Each index is built again beside the old one, `CONCURRENTLY` (writes go on), then
//! the old one is dropped and the new one takes its name; as in
//! `m20261206_000007_list_indexes`, no transaction, and every step is safe to repeat.
//! SQLite keeps its indexes.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

use crate::m20261206_000007_list_indexes::{create, drop_index, list_indexes};

/// Rebuilds the due-date list indexes with the due date included (PostgreSQL).
#[derive(DeriveMigrationName)]
pub struct Migration;

/// The column the due-date indexes carry beside their key.
const INCLUDED: &str = "INCLUDE (due_date)";

/// The statements that rebuild every due-date list index, with `extra` after its key
/// (`INCLUDED`, or nothing to go back).
fn rebuild(extra: &str) -> Vec<String> {
    let backend = DbBackend::Postgres;
    let mut statements = Vec::new();
    for (name, columns) in list_indexes(backend) {
        if !name.contains("_due_") {
            continue;
        }
        let new = format!("{name}_new");
        statements.extend(create(backend, &new, &format!("({columns}) {extra}")));
        statements.push(drop_index(backend, &name));
        statements.push(format!("ALTER INDEX {new} RENAME TO {name}"));
    }
    statements
}

/// Runs `statements` in order on PostgreSQL; nothing on SQLite.
pub(crate) async fn run_on_postgres(
    manager: &SchemaManager<'_>,
    statements: Vec<String>,
) -> Result<(), DbErr> {
    if manager.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    let db = manager.get_connection();
    for statement in statements {
        db.execute_unprepared(&statement).await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// No transaction: PostgreSQL refuses `CREATE INDEX CONCURRENTLY` inside one.
    fn use_transaction(&self) -> Option<bool> {
        Some(false)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_on_postgres(manager, rebuild(INCLUDED)).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_on_postgres(manager, rebuild("")).await
    }
}
