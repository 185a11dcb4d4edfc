//! The two due-date indexes of `m20261125_000002_create_tasks`, `(owner_id, due_date)`
//! and `(due_date)`, dropped on PostgreSQL: the due-date list indexes
//! (`m20261206_000007_list_indexes`, with the date included since
//! `m20261206_000010_covering_due_indexes`) serve the same ranges, and every task write
//! paid for two more index entries (bench/README.md, eleventh session). The due-date
//! filters of a list also test the list index's expression, which means the same for
//! every date, so that their ranges are read from it (`task_repository::pages`).
//! SQLite keeps its indexes.
//!
//! As in `m20261206_000007_list_indexes`: no transaction (`DROP INDEX CONCURRENTLY`
//! and `down`'s `CREATE INDEX CONCURRENTLY` cannot run inside one), writes go on
//! meanwhile, and every step is safe to repeat.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::m20261206_000007_list_indexes::{create, drop_index};
use crate::m20261206_000010_covering_due_indexes::run_on_postgres;

/// Drops the old due-date indexes (PostgreSQL).
#[derive(DeriveMigrationName)]
pub struct Migration;

/// The dropped indexes and their columns, for `down`.
const DROPPED: [(&str, &str); 2] = [
    ("idx_tasks_owner_id_due_date", "(owner_id, due_date)"),
    ("idx_tasks_due_date", "(due_date)"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(false)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let statements = DROPPED
            .iter()
            .map(|(name, _)| drop_index(DbBackend::Postgres, name))
            .collect();
        run_on_postgres(manager, statements).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let statements = DROPPED
            .iter()
            .flat_map(|(name, columns)| create(DbBackend::Postgres, name, columns))
            .collect();
        run_on_postgres(manager, statements).await
    }
}
