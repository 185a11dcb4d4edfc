//! Opening the database pool, tuned for the backend the URL names, and [`Database`],
//! the handle repositories run their statements on.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sea_orm::sqlx::sqlite::SqliteJournalMode;
use sea_orm::{
    ConnectOptions, ConnectionTrait, DatabaseConnection, DatabaseConnectionType,
    DatabaseTransaction, DbBackend, DbErr, ExecResult, QueryResult, Statement, TransactionTrait,
};

use crate::postgres::kept::KeptConnections;

/// How long PostgreSQL gets to open a connection, and a request to wait for a free one.
pub(crate) const POSTGRES_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a SQLite statement waits for another process's write lock (e.g. a
/// `taskforge migrate` running beside the server).
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a request waits for SQLite's single connection. Longer than PostgreSQL's:
/// every request queues for that one connection, so a burst legitimately waits.
const SQLITE_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// Connects to `url` (`postgres://...`, `sqlite://path?mode=rwc`, `sqlite::memory:`).
///
/// PostgreSQL gets a pool of `max_connections`. SQLite always gets exactly one
/// connection, whatever `max_connections` says: SQLite serialises writers anyway, and
/// with one connection every multi-statement transaction (the last-admin check,
/// refresh-token rotation) runs alone, so it is race-free without `BEGIN IMMEDIATE`
/// and never fails with `database is locked`. The connection is never recycled, which
/// also keeps a `sqlite::memory:` database alive for the life of the pool.
///
/// # Errors
/// The [`DbErr`] of a failed connection.
pub async fn connect(url: &str, max_connections: u32) -> Result<DatabaseConnection, DbErr> {
    sea_orm::Database::connect(options(url, max_connections)).await
}

pub(crate) fn options(url: &str, max_connections: u32) -> ConnectOptions {
    let mut options = ConnectOptions::new(url);
    // Statements are not logged: they could carry personal data, and request logs
    // already say what happened.
    options.sqlx_logging(false);
    if is_sqlite(url) {
        options
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .acquire_timeout(SQLITE_ACQUIRE_TIMEOUT)
            .map_sqlx_sqlite_opts(|sqlite| {
                sqlite
                    // Readers do not block the writer (matters for other processes).
                    .journal_mode(SqliteJournalMode::Wal)
                    .busy_timeout(SQLITE_BUSY_TIMEOUT)
                    // Cascades and owner checks behave as on PostgreSQL.
                    .foreign_keys(true)
                    .create_if_missing(true)
            });
    } else {
        options
            .max_connections(max_connections.max(1))
            .connect_timeout(POSTGRES_TIMEOUT)
            .acquire_timeout(POSTGRES_TIMEOUT)
            // sqlx pings every connection it hands out by default: one extra round trip
            // per query, which halved read throughput in the benchmark. Ping only
            // connections that sat idle long enough to have been dropped by a proxy or
            // a restart; a dead busy connection fails its query and is discarded anyway.
            .test_before_acquire_if_idle_for(POSTGRES_IDLE_PING_AFTER);
    }
    options
}

/// Whether `url` names a SQLite database.
pub fn is_sqlite(url: &str) -> bool {
    url.starts_with("sqlite:")
}

/// How long a PostgreSQL connection may sit idle before it is pinged on checkout.
const POSTGRES_IDLE_PING_AFTER: Duration = Duration::from_secs(30);

/// The database as repositories use it: a SeaORM pool, through which transactions
/// always go and, unless connections are kept, every statement too.
///
/// The PostgreSQL fast path keeps connections checked out between single statements
/// ([`crate::postgres::request_pool`]): sqlx checks every connection that returns to
/// its pool with a round trip of its own, which doubled the round trips of a
/// one-statement request. A kept connection skips that check after a statement that
/// finished. Either way the repositories see the same [`ConnectionTrait`].
#[derive(Clone)]
pub struct Database {
    pool: DatabaseConnection,
    kept: Option<Arc<KeptConnections>>,
}

impl From<DatabaseConnection> for Database {
    /// Every statement through the pool.
    fn from(pool: DatabaseConnection) -> Self {
        Self { pool, kept: None }
    }
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("backend", &self.pool.get_database_backend())
            .field("keeps_connections", &self.kept.is_some())
            .finish()
    }
}

/// The connections of a [`Database`] right now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolSnapshot {
    /// Open connections waiting for a statement (in the pool or kept).
    pub idle: u32,
    /// Open connections running a statement or a transaction.
    pub in_use: u32,
    /// The most connections the pool opens.
    pub max: u32,
}

impl Database {
    /// Single statements on `kept` connections of `pool`, transactions on the pool.
    pub(crate) fn keeping(pool: DatabaseConnection, kept: KeptConnections) -> Self {
        Self {
            pool,
            kept: Some(Arc::new(kept)),
        }
    }

    /// Whether single statements run on kept connections (the fast path's pools).
    pub fn keeps_connections(&self) -> bool {
        self.kept.is_some()
    }

    /// The SeaORM pool underneath.
    pub fn pool(&self) -> &DatabaseConnection {
        &self.pool
    }

    /// Begins a transaction on a connection of the pool.
    ///
    /// # Errors
    /// The [`DbErr`] of `BEGIN` or of a pool that has no connection to give in time.
    pub async fn begin(&self) -> Result<DatabaseTransaction, DbErr> {
        if let Some(kept) = &self.kept {
            kept.make_room_in_pool();
        }
        self.pool.begin().await
    }

    /// The pool's connections, kept ones counted as idle between statements.
    pub fn snapshot(&self) -> PoolSnapshot {
        let (idle, size, max) = match &self.pool.inner {
            DatabaseConnectionType::SqlxPostgresPoolConnection(_) => {
                let pool = self.pool.get_postgres_connection_pool();
                (
                    pool.num_idle(),
                    pool.size(),
                    pool.options().get_max_connections(),
                )
            }
            DatabaseConnectionType::SqlxSqlitePoolConnection(_) => {
                let pool = self.pool.get_sqlite_connection_pool();
                (
                    pool.num_idle(),
                    pool.size(),
                    pool.options().get_max_connections(),
                )
            }
            _ => return PoolSnapshot::default(),
        };
        let kept_idle = self.kept.as_ref().map_or(0, |kept| kept.idle_count());
        let idle = u32::try_from(idle.saturating_add(kept_idle)).unwrap_or(u32::MAX);
        // `size` and the idle counts are read one after the other: saturate rather
        // than underflow when a connection changes hands in between.
        PoolSnapshot {
            idle,
            in_use: size.saturating_sub(idle),
            max,
        }
    }

    /// Gives back the kept connections and closes the pool.
    ///
    /// # Errors
    /// The [`DbErr`] of closing the pool.
    pub async fn close(self) -> Result<(), DbErr> {
        if let Some(kept) = &self.kept {
            kept.release_all();
        }
        self.pool.close().await
    }
}

#[async_trait]
impl ConnectionTrait for Database {
    fn get_database_backend(&self) -> DbBackend {
        self.pool.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        match &self.kept {
            Some(kept) => kept.execute(stmt).await,
            None => self.pool.execute_raw(stmt).await,
        }
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.pool.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        match &self.kept {
            Some(kept) => kept.query_one(stmt).await,
            None => self.pool.query_one_raw(stmt).await,
        }
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        match &self.kept {
            Some(kept) => kept.query_all(stmt).await,
            None => self.pool.query_all_raw(stmt).await,
        }
    }
}
