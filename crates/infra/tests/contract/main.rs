//! The adapter contract suite: every behaviour the repository ports promise, written
//! once and run against four implementations of them:
//!
//! - `sqlite::…`: the plain SeaORM adapters on a temporary SQLite file (always);
//! - `postgres::…`: the same adapters on PostgreSQL (when `TEST_DATABASE_URL` is set,
//!   e.g. `postgres://postgres@127.0.0.1:5432/test`);
//! - `fast_path::…`: the PostgreSQL fast path, batching and kept connections included
//!   (also when `TEST_DATABASE_URL` is set);
//! - `in_memory::…`: `taskforge_domain::testing::InMemoryStore`, which other teams'
//!   tests use in place of a database and so must keep the same contract (always).
//!
//! Each test gets a fresh database of its own — a temporary SQLite file, or a uniquely
//! named PostgreSQL database created through `TEST_DATABASE_URL` and dropped when the
//! test ends, pass or fail, or a new store. Every test that ran appends its backend
//! (`contract-sqlite`, `contract-postgres`, `contract-fast-path`, `contract-in-memory`;
//! `accounts-…` for the `accounts` module) to the file named by `TASKFORGE_PG_MARKER`
//! (when set), which CI checks so that a silently skipped backend cannot pass.

use std::cmp::Ordering;
use std::collections::HashSet;
use std::fmt::Debug;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use taskforge_domain::DomainError;
use taskforge_domain::auth::{Rotation, Session, SessionRepository};
use taskforge_domain::clock::to_micros;
use taskforge_domain::idempotency::{
    Claim, Completion, IdempotencyKey, IdempotencyRepository, IdempotentOutcome,
};
use taskforge_domain::page::{DEFAULT_MAX_EXACT_COUNT, PageRequest, Window};
use taskforge_domain::task::{
    ChangeEvent, ChangeOp, Description, FeedCursor, FeedItem, FeedPage, Priority, Task, TaskChange,
    TaskChangeLog, TaskChangeWatch, TaskFilter, TaskPosition, TaskRepository, TaskSort,
    TaskSortKey, TaskStatus, Title, WriteLog,
};
use taskforge_domain::testing::InMemoryStore;
use taskforge_domain::user::{
    Email, FullName, LoginIdentifier, PasswordHash, Role, SessionEffect, User, UserFilter,
    UserPosition, UserRepository, Username,
};
use taskforge_infra::live::LiveChanges;
use taskforge_infra::postgres::{self, FastPath};
use taskforge_infra::{
    SeaIdempotencyRepository, SeaSessionRepository, SeaTaskChangeLog, SeaTaskRepository,
    SeaUserRepository, db,
};
use taskforge_migration::{Migrator, MigratorTrait, SchemaManager};
use tokio::task::JoinSet;
use uuid::Uuid;

#[path = "../common/mod.rs"]
mod common;

/// For each contract test `async fn name(db: TestDb)` of the module it is invoked in:
/// `sqlite::name`, `postgres::name`, `fast_path::name` and `in_memory::name`. The
/// PostgreSQL variants return early (with a note) only when `TEST_DATABASE_URL` is
/// unset. `contract!(suite "accounts": …)` records its runs as `accounts-<backend>`
/// instead of `contract-<backend>`, for CI to check that part on its own.
macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        contract!(suite "contract": $($name),*);
    };
    (suite $suite:literal: $($name:ident),* $(,)?) => {
        sql_contract!(suite $suite: $($name),*);
        mod in_memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(crate::TestDb::in_memory($suite)).await;
                }
            )*
        }
    };
}

/// As [`contract!`], for behaviour only PostgreSQL has (transactions that commit in
/// parallel, notifications): `postgres::name` and `fast_path::name`.
macro_rules! postgres_contract {
    ($($name:ident),* $(,)?) => {
        postgres_contract!(suite "contract": $($name),*);
    };
    (suite $suite:literal: $($name:ident),* $(,)?) => {
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    if let Some(db) = crate::TestDb::postgres($suite, stringify!($name)).await {
                        super::$name(db).await;
                    }
                }
            )*
        }
        mod fast_path {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    if let Some(db) = crate::TestDb::fast_path($suite, stringify!($name)).await {
                        super::$name(db).await;
                    }
                }
            )*
        }
    };
}

/// As [`contract!`], for behaviour only the SQL adapters have (migrations, say).
macro_rules! sql_contract {
    ($($name:ident),* $(,)?) => {
        sql_contract!(suite "contract": $($name),*);
    };
    (suite $suite:literal: $($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(crate::TestDb::sqlite($suite).await).await;
                }
            )*
        }
        postgres_contract!(suite $suite: $($name),*);
    };
}

mod accounts;
mod changes;
mod concurrency;
mod fixtures;
mod idempotency;
mod live;
mod migrations;
mod sessions;
mod sqlite;
mod task_lists;
mod tasks;
mod users;

use fixtures::*;

// ---------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------

/// What stands behind the repositories of a [`TestDb`].
enum Storage {
    /// A migrated SQL database, through a plain pool of its own.
    Sql(DatabaseConnection),
    /// An in-memory store.
    Memory(InMemoryStore),
}

/// A fresh, migrated database (or store) and the repositories on it.
struct TestDb {
    users: Arc<dyn UserRepository>,
    tasks: Arc<dyn TaskRepository>,
    sessions: Arc<dyn SessionRepository>,
    changes: Arc<dyn TaskChangeLog>,
    idempotency: Arc<dyn IdempotencyRepository>,
    /// What a [`LiveChanges`] of the server reads (SQL backends): a plain pool on the
    /// database, and its URL on PostgreSQL (for the listener).
    live: Option<(db::Database, Option<String>)>,
    storage: Storage,
    /// Declared last so the pool is dropped before the database is removed.
    _cleanup: Option<Cleanup>,
}

/// Removes a test database when the test ends, also when it panics.
enum Cleanup {
    SqliteFile(PathBuf),
    PostgresDatabase { admin_url: String, name: String },
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        match self {
            Cleanup::SqliteFile(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut file = path.clone().into_os_string();
                    file.push(suffix);
                    let _ = std::fs::remove_file(file);
                }
            }
            Cleanup::PostgresDatabase { admin_url, name } => {
                // Drop runs outside async, maybe while unwinding: do the async work on
                // a thread with a runtime of its own.
                let (admin_url, name) = (admin_url.clone(), name.clone());
                let _ = std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("runtime for cleanup");
                    runtime.block_on(async move {
                        let admin = db::connect(&admin_url, 1).await.expect("admin connection");
                        admin
                            .execute_unprepared(&format!(
                                r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#
                            ))
                            .await
                            .expect("drop test database");
                        let _ = admin.close().await;
                    });
                })
                .join();
            }
        }
    }
}

impl TestDb {
    /// `suite` names the run recorded for CI: `<suite>-sqlite`.
    async fn sqlite(suite: &str) -> Self {
        let path = std::env::temp_dir().join(format!("taskforge-test-{}.db", Uuid::now_v7()));
        let cleanup = Cleanup::SqliteFile(path.clone());
        // No `?mode=rwc`: `db::connect` must create a missing file by itself.
        let conn = db::connect(&format!("sqlite://{}", path.display()), 5)
            .await
            .expect("connect to SQLite");
        Migrator::up(&conn, None).await.expect("migrations apply");
        common::record_run(&format!("{suite}-sqlite"));
        let pool: db::Database = conn.clone().into();
        Self {
            users: Arc::new(SeaUserRepository::new(pool.clone())),
            tasks: Arc::new(SeaTaskRepository::new(pool.clone())),
            sessions: Arc::new(SeaSessionRepository::new(pool.clone())),
            changes: Arc::new(SeaTaskChangeLog::new(pool.clone())),
            idempotency: Arc::new(SeaIdempotencyRepository::new(pool.clone())),
            live: Some((pool, None)),
            storage: Storage::Sql(conn),
            _cleanup: Some(cleanup),
        }
    }

    /// The plain adapters on a plain PostgreSQL pool.
    async fn postgres(suite: &str, test: &str) -> Option<Self> {
        let (conn, url, cleanup) = Self::postgres_database(test).await?;
        common::record_run(&format!("{suite}-postgres"));
        let pool: db::Database = db::connect(&url, 5)
            .await
            .expect("connect to the test database")
            .into();
        Some(Self {
            users: Arc::new(SeaUserRepository::new(pool.clone())),
            tasks: Arc::new(SeaTaskRepository::new(pool.clone())),
            sessions: Arc::new(SeaSessionRepository::new(pool.clone())),
            changes: Arc::new(SeaTaskChangeLog::new(pool.clone())),
            idempotency: Arc::new(SeaIdempotencyRepository::new(pool.clone())),
            live: Some((pool, Some(url))),
            storage: Storage::Sql(conn),
            _cleanup: Some(cleanup),
        })
    }

    /// The fast path, as the server runs it: a request pool whose connections are
    /// kept between statements, with the batchers over it.
    async fn fast_path(suite: &str, test: &str) -> Option<Self> {
        let (conn, url, cleanup) = Self::postgres_database(test).await?;
        common::record_run(&format!("{suite}-fast-path"));
        let pool = postgres::request_pool(&url, 5, &Default::default())
            .await
            .expect("connect to the test database");
        let fast = FastPath::new(&pool);
        // As the server runs it: the change log on the request pool, the live reader
        // on a plain pool of its own.
        let plain: db::Database = db::connect(&url, 3)
            .await
            .expect("connect to the test database")
            .into();
        Some(Self {
            users: Arc::new(SeaUserRepository::new(pool.clone())),
            tasks: Arc::new(fast.tasks()),
            sessions: Arc::new(fast.sessions()),
            changes: Arc::new(SeaTaskChangeLog::new(pool.clone())),
            idempotency: Arc::new(SeaIdempotencyRepository::new(pool)),
            live: Some((plain, Some(url))),
            storage: Storage::Sql(conn),
            _cleanup: Some(cleanup),
        })
    }

    fn in_memory(suite: &str) -> Self {
        common::record_run(&format!("{suite}-in-memory"));
        let store = InMemoryStore::new();
        Self {
            users: Arc::new(store.users()),
            tasks: Arc::new(store.tasks()),
            sessions: Arc::new(store.sessions()),
            changes: Arc::new(store.changes()),
            idempotency: Arc::new(store.idempotency()),
            live: None,
            storage: Storage::Memory(store),
            _cleanup: None,
        }
    }

    /// A new, migrated PostgreSQL database named after nothing in particular: a
    /// connection to it for the test's own statements, its URL, and its removal.
    async fn postgres_database(test: &str) -> Option<(DatabaseConnection, String, Cleanup)> {
        let Ok(admin_url) = std::env::var("TEST_DATABASE_URL") else {
            println!("TEST_DATABASE_URL is not set: skipping the PostgreSQL run of {test}");
            return None;
        };
        let name = format!("tf_test_{}", Uuid::now_v7().simple());
        let admin = db::connect(&admin_url, 1)
            .await
            .expect("connect to TEST_DATABASE_URL");
        // An ICU English default collation (where "apple" < "Zebra"), so the code-point
        // title order is proven by the schema rather than inherited from a C locale.
        // Servers without ICU get their default.
        let icu = format!(
            r#"CREATE DATABASE "{name}" TEMPLATE template0 ENCODING 'UTF8' LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"#
        );
        if admin.execute_unprepared(&icu).await.is_err() {
            admin
                .execute_unprepared(&format!(r#"CREATE DATABASE "{name}""#))
                .await
                .expect("create test database");
        }
        let _ = admin.close().await;
        let cleanup = Cleanup::PostgresDatabase {
            admin_url: admin_url.clone(),
            name: name.clone(),
        };
        let url = database_url(&admin_url, &name);
        // Five connections, not fewer: the accounts module races writers through this
        // pool (parallel reset completions, throttle failures), and fewer would queue
        // them instead.
        let conn = db::connect(&url, 5)
            .await
            .expect("connect to the test database");
        Migrator::up(&conn, None).await.expect("migrations apply");
        Some((conn, url, cleanup))
    }

    /// The SQL connection of the test's own statements; panics on the in-memory store
    /// (use [`sql_contract!`] for such tests).
    fn sql(&self) -> &DatabaseConnection {
        match &self.storage {
            Storage::Sql(conn) => conn,
            Storage::Memory(_) => panic!("an SQL-only test ran on the in-memory store"),
        }
    }
}

/// `admin_url` with its database name replaced by `name`.
fn database_url(admin_url: &str, name: &str) -> String {
    let authority_start = admin_url.find("://").map_or(0, |i| i + 3);
    let (path_start, query) = match admin_url[authority_start..].find('/') {
        Some(slash) => {
            let path_start = authority_start + slash;
            let query = admin_url[path_start..]
                .find('?')
                .map_or("", |q| &admin_url[path_start + q..]);
            (path_start, query)
        }
        None => (admin_url.len(), ""),
    };
    format!("{}/{name}{query}", &admin_url[..path_start])
}

#[test]
fn database_url_replaces_only_the_database_name() {
    assert_eq!(
        database_url("postgres://postgres@127.0.0.1:5432/test", "x"),
        "postgres://postgres@127.0.0.1:5432/x"
    );
    assert_eq!(
        database_url("postgres://u:p@h/db?sslmode=disable", "x"),
        "postgres://u:p@h/x?sslmode=disable"
    );
    assert_eq!(
        database_url("postgres://h:5432", "x"),
        "postgres://h:5432/x"
    );
}
