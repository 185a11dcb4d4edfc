//! Indexes for every form of the task list, so a page costs the same at 20 tasks or at
//! 200 000: each sort is an expression with the id as tie-breaker, and a page by
//! cursor or offset reads one range of `(owner_id, expression, id)` (a user's list) or
//! `(expression, id)` (an admin's list of all tasks), in either direction. Tasks
//! without a due date sort last in both directions, so the due-date expression puts a
//! value past every date in place of NULL, one per direction (the adapter's
//! `task_repository::pages` orders by these very expressions). `q` is served by
//! trigram indexes on PostgreSQL (`pg_trgm` GIN on the lower-cased search columns,
//! which `LIKE '%…%'` uses as it is, so the search means exactly what it meant).
//!
//! `updated_at` is indexed again (`m20261204_000004_hot_task_updates` had dropped its
//! indexes for HOT updates): the contract's sort must be served by an index, at the
//! price of index entries on every update (bench/README.md, issue 16).
//!
//! On PostgreSQL the indexes are built `CONCURRENTLY`, so a populated table keeps
//! taking writes meanwhile; that cannot run inside a transaction, so this migration
//! runs without one, and drops any index of the same name first (a concurrent build
//! that failed leaves an invalid index behind, which a retry must replace). On SQLite
//! an index build holds the write lock until it is done.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

/// Creates the list indexes; drops the two they supersede.
#[derive(DeriveMigrationName)]
pub struct Migration;

/// A sort expression, as PostgreSQL and as SQLite spell it, and its index's name part.
struct SortIndex {
    name: &'static str,
    postgres: &'static str,
    sqlite: &'static str,
}

/// The sort expressions of the task list, each followed by `id` in its indexes.
const SORTS: [SortIndex; 6] = [
    SortIndex {
        name: "created",
        postgres: "created_at",
        sqlite: "created_at",
    },
    SortIndex {
        name: "updated",
        postgres: "updated_at",
        sqlite: "updated_at",
    },
    // Ascending: no due date is after every date. SQLite stores instants as RFC 3339
    // text, after which `~` sorts.
    SortIndex {
        name: "due_asc",
        postgres: "COALESCE(due_date, 'infinity'::timestamptz)",
        sqlite: "COALESCE(due_date, '~')",
    },
    // Descending: no due date is before every date, so it comes last read backwards.
    SortIndex {
        name: "due_desc",
        postgres: "COALESCE(due_date, '-infinity'::timestamptz)",
        sqlite: "COALESCE(due_date, '')",
    },
    SortIndex {
        name: "priority",
        postgres: "priority",
        sqlite: "priority",
    },
    SortIndex {
        name: "title",
        postgres: "title",
        sqlite: "title",
    },
];

/// The indexes of `m20261125_000002_create_tasks` that the `(…, id)` ones replace:
/// name and whether the owner leads.
const SUPERSEDED: [(&str, bool); 2] = [
    ("idx_tasks_owner_id_created_at", true),
    ("idx_tasks_created_at", false),
];

/// The trigram indexes of `q` (PostgreSQL): name and column.
const TRIGRAMS: [(&str, &str); 2] = [
    ("idx_tasks_title_search_trgm", "title_search"),
    ("idx_tasks_description_search_trgm", "description_search"),
];

/// Every `(name, columns)` of a list index on `backend`.
pub(crate) fn list_indexes(backend: DbBackend) -> Vec<(String, String)> {
    SORTS
        .iter()
        .flat_map(|sort| {
            let expr = match backend {
                DbBackend::Postgres => sort.postgres,
                _ => sort.sqlite,
            };
            [
                (
                    format!("idx_tasks_owner_{}_id", sort.name),
                    format!("owner_id, {expr}, id"),
                ),
                (format!("idx_tasks_{}_id", sort.name), format!("{expr}, id")),
            ]
        })
        .collect()
}

/// The statements that build index `name` on `tasks` with `definition` (what follows
/// `ON tasks`).
pub(crate) fn create(backend: DbBackend, name: &str, definition: &str) -> Vec<String> {
    match backend {
        DbBackend::Postgres => vec![
            format!("DROP INDEX CONCURRENTLY IF EXISTS {name}"),
            format!("CREATE INDEX CONCURRENTLY {name} ON tasks {definition}"),
        ],
        _ => vec![format!(
            "CREATE INDEX IF NOT EXISTS {name} ON tasks {definition}"
        )],
    }
}

/// The statement that drops index `name`.
pub(crate) fn drop_index(backend: DbBackend, name: &str) -> String {
    match backend {
        DbBackend::Postgres => format!("DROP INDEX CONCURRENTLY IF EXISTS {name}"),
        _ => format!("DROP INDEX IF EXISTS {name}"),
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// No transaction: PostgreSQL refuses `CREATE INDEX CONCURRENTLY` inside one. Each
    /// statement is safe to repeat, so a migration that stopped halfway is run again.
    fn use_transaction(&self) -> Option<bool> {
        Some(false)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        let db = manager.get_connection();
        let mut statements = Vec::new();
        for (name, columns) in list_indexes(backend) {
            statements.extend(create(backend, &name, &format!("({columns})")));
        }
        if backend == DbBackend::Postgres {
            // A trusted extension since PostgreSQL 13: the database owner may create it.
            statements.push("CREATE EXTENSION IF NOT EXISTS pg_trgm".to_owned());
            for (name, column) in TRIGRAMS {
                statements.extend(create(
                    backend,
                    name,
                    &format!("USING gin ({column} gin_trgm_ops)"),
                ));
            }
        }
        for (name, _) in SUPERSEDED {
            statements.push(drop_index(backend, name));
        }
        for statement in statements {
            db.execute_unprepared(&statement).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        let db = manager.get_connection();
        let mut statements = Vec::new();
        for (name, owner_leads) in SUPERSEDED {
            let columns = if owner_leads {
                "(owner_id, created_at)"
            } else {
                "(created_at)"
            };
            statements.extend(create(backend, name, columns));
        }
        for (name, _) in list_indexes(backend) {
            statements.push(drop_index(backend, &name));
        }
        if backend == DbBackend::Postgres {
            // The extension stays: other objects in the database may have come to use it.
            for (name, _) in TRIGRAMS {
                statements.push(drop_index(backend, name));
            }
        }
        for statement in statements {
            db.execute_unprepared(&statement).await?;
        }
        Ok(())
    }
}
