//! Taskforge's schema, as sea-orm-migration migrations: one file per change, named
//! `mYYYYMMDD_HHMMSS_verb_noun.rs`, written with sea-query's schema builders (never
//! with entities, so an old migration keeps meaning what it meant when it shipped).
//! Every migration runs on SQLite and PostgreSQL (a few change one database only and do
//! nothing on the other) and has a working `down`.

pub use sea_orm_migration::prelude::*;

mod m20261125_000001_create_users;
mod m20261125_000002_create_tasks;
mod m20261125_000003_create_sessions;
mod m20261204_000004_hot_task_updates;
mod m20261206_000005_accounts;
mod m20261206_000006_task_changes;
mod m20261206_000007_list_indexes;
mod m20261206_000008_sqlite_task_search;
mod m20261206_000009_task_recency;
mod m20261206_000010_covering_due_indexes;
mod m20261207_000011_drop_old_due_indexes;

/// Runs Taskforge's migrations in order (`Migrator::up(&db, None)` applies all pending).
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_create_users::Migration),
            Box::new(m20261125_000002_create_tasks::Migration),
            Box::new(m20261125_000003_create_sessions::Migration),
            Box::new(m20261204_000004_hot_task_updates::Migration),
            Box::new(m20261206_000005_accounts::Migration),
            Box::new(m20261206_000006_task_changes::Migration),
            Box::new(m20261206_000007_list_indexes::Migration),
            Box::new(m20261206_000008_sqlite_task_search::Migration),
            Box::new(m20261206_000009_task_recency::Migration),
            Box::new(m20261206_000010_covering_due_indexes::Migration),
            Box::new(m20261207_000011_drop_old_due_indexes::Migration),
        ]
    }
}
