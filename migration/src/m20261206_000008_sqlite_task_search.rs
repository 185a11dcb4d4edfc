//! A search index for `q` on SQLite (PostgreSQL has its trigram GIN indexes of
//! `m20261206_000007_list_indexes`; there this migration does nothing).
//!
//! `task_search` is an FTS5 table with the `trigram` tokenizer over the lower-cased
//! search copies `title_search` and `description_search`. `case_sensitive 1`: Rust
//! has already lower-cased both the columns and the needle, so the index must see the
//! very strings the adapter's `LIKE` sees (folding again, by SQLite's own idea of case,
//! could only make the index disagree with the `LIKE`). A quoted needle of three or
//! more characters matches exactly the rows holding it as a substring; the adapter
//! keeps its `LIKE` as the final filter, so the index only narrows the candidates and
//! the search means what it meant.
//!
//! FTS5 keys its rows by an integer, and `tasks` has a UUID primary key: its implicit
//! rowid is the only integer it has, and `VACUUM` may renumber that rowid (SQLite
//! documents it for every table without an `INTEGER PRIMARY KEY`), which would leave
//! an index keyed by it pointing at the wrong rows until someone remembered to
//! `'rebuild'` it. So the index has a key of its own that nothing renumbers:
//! `task_search_keys` gives each task an `INTEGER PRIMARY KEY` (an alias of its rowid,
//! which `VACUUM` keeps), and the FTS table's rowid is that key. The FTS table is
//! contentless (`content=''`): the text lives in `tasks` only, the index holds just
//! the trigrams, and a row leaves it by the `'delete'` command given the values it was
//! indexed with — which the triggers have at hand as `old.*`.
//!
//! Triggers keep both tables in step with `tasks`: on insert; on update only when a
//! search copy actually changed (the adapter's update writes every column, and
//! re-indexing an unchanged title on every status change would cost every update);
//! on delete (also the deletes that cascade from a user). A task's id never changes.
//!
//! `up` fills the index from the existing rows in the same transaction that creates
//! the triggers, so it is safe on a populated table: no write can fall between the
//! fill and the triggers. It takes the write lock for as long as the fill runs.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

/// Creates the SQLite search index of `q` (nothing on PostgreSQL).
#[derive(DeriveMigrationName)]
pub struct Migration;

/// The statements of `up`, in order (SQLite).
const UP: [&str; 7] = [
    "CREATE TABLE task_search_keys (
        key INTEGER PRIMARY KEY,
        task_id BLOB NOT NULL UNIQUE
    )",
    "CREATE VIRTUAL TABLE task_search USING fts5(
        title_search, description_search,
        content = '', tokenize = 'trigram case_sensitive 1'
    )",
    "CREATE TRIGGER task_search_insert AFTER INSERT ON tasks BEGIN
        INSERT INTO task_search_keys (task_id) VALUES (new.id);
        INSERT INTO task_search (rowid, title_search, description_search)
            SELECT key, new.title_search, new.description_search
            FROM task_search_keys WHERE task_id = new.id;
    END",
    "CREATE TRIGGER task_search_update
        AFTER UPDATE OF title_search, description_search ON tasks
        WHEN old.title_search IS NOT new.title_search
            OR old.description_search IS NOT new.description_search
    BEGIN
        INSERT INTO task_search (task_search, rowid, title_search, description_search)
            SELECT 'delete', key, old.title_search, old.description_search
            FROM task_search_keys WHERE task_id = old.id;
        INSERT INTO task_search (rowid, title_search, description_search)
            SELECT key, new.title_search, new.description_search
            FROM task_search_keys WHERE task_id = new.id;
    END",
    "CREATE TRIGGER task_search_delete AFTER DELETE ON tasks BEGIN
        INSERT INTO task_search (task_search, rowid, title_search, description_search)
            SELECT 'delete', key, old.title_search, old.description_search
            FROM task_search_keys WHERE task_id = old.id;
        DELETE FROM task_search_keys WHERE task_id = old.id;
    END",
    "INSERT INTO task_search_keys (task_id) SELECT id FROM tasks",
    "INSERT INTO task_search (rowid, title_search, description_search)
        SELECT k.key, t.title_search, t.description_search
        FROM task_search_keys AS k JOIN tasks AS t ON t.id = k.task_id",
];

/// The statements of `down` (SQLite): the triggers first, so no write finds half an
/// index.
const DOWN: [&str; 5] = [
    "DROP TRIGGER IF EXISTS task_search_insert",
    "DROP TRIGGER IF EXISTS task_search_update",
    "DROP TRIGGER IF EXISTS task_search_delete",
    "DROP TABLE IF EXISTS task_search",
    "DROP TABLE IF EXISTS task_search_keys",
];

/// Runs `statements` on SQLite; nothing on PostgreSQL.
async fn run(manager: &SchemaManager<'_>, statements: &[&str]) -> Result<(), DbErr> {
    if manager.get_database_backend() != DbBackend::Sqlite {
        return Ok(());
    }
    let db = manager.get_connection();
    for statement in statements {
        db.execute_unprepared(statement).await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// One transaction on SQLite too (its default runs without): the fill and the
    /// triggers take effect together, and a failed `up` leaves nothing behind.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, &UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, &DOWN).await
    }
}
