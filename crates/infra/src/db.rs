//! Opening the database pool, tuned for the backend the URL names, and [`Database`],
//! the handle repositories run their statements on.

pub(crate) mod batch;
mod kept;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sea_orm::sqlx::sqlite::SqliteJournalMode;
use sea_orm::{
    ConnectOptions, ConnectionTrait, DatabaseConnection, DatabaseConnectionType,
    DatabaseTransaction, DbBackend, DbErr, ExecResult, QueryResult, Statement, TransactionTrait,
};

use kept::KeptConnections;
use sea_orm::sqlx::Postgres;

/// A PostgreSQL statement with sqlx's own binds.
type SqlxQuery<'q, A> = sea_orm::sqlx::query::Query<'q, Postgres, A>;

/// How long PostgreSQL gets to open a connection, and a request to wait for a free one.
const POSTGRES_TIMEOUT: Duration = Duration::from_secs(5);
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

/// A PostgreSQL pool of up to `max_connections` that opens none yet: each connection is
/// opened by the first request that needs it, on that request's thread. An HTTP worker
/// given a pool of its own this way only ever uses connections its own event loop
/// drives; a connection shared between workers has its socket readiness seen by one
/// worker and handed to the other by a cross-thread wake-up, on every statement.
///
/// Single statements run on connections kept between statements (all but one of the
/// pool's, which stays for transactions); see [`Database`].
///
/// # Errors
/// The [`DbErr`] of a URL that is not PostgreSQL's or does not parse.
pub async fn connect_lazy_postgres(url: &str, max_connections: u32) -> Result<Database, DbErr> {
    if is_sqlite(url) {
        return Err(DbErr::Custom(
            "a lazy pool is for PostgreSQL; SQLite keeps its one shared connection".into(),
        ));
    }
    let mut options = options(url, max_connections);
    options.connect_lazy(true);
    let pool = sea_orm::Database::connect(options).await?;
    Ok(Database::keeping(pool, max_connections))
}

fn options(url: &str, max_connections: u32) -> ConnectOptions {
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
/// A PostgreSQL pool can keep connections checked out between single statements
/// ([`connect_lazy_postgres`]): sqlx checks every connection that returns to its pool
/// with a round trip of its own, which doubled the round trips of a one-statement
/// request. A kept connection skips that check after a statement that finished.
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
    /// Keeps up to all but one of a PostgreSQL pool's `max_connections` between
    /// statements; the one left (at least) is for transactions. A pool of one keeps none.
    fn keeping(pool: DatabaseConnection, max_connections: u32) -> Self {
        let keep = usize::try_from(max_connections.saturating_sub(1)).unwrap_or(usize::MAX);
        let kept = match &pool.inner {
            DatabaseConnectionType::SqlxPostgresPoolConnection(_) if keep > 0 => {
                Some(Arc::new(KeptConnections::new(
                    pool.get_postgres_connection_pool().clone(),
                    keep,
                    POSTGRES_TIMEOUT,
                )))
            }
            _ => None,
        };
        Self { pool, kept }
    }

    /// Whether single statements run on kept connections (PostgreSQL request pools);
    /// the repositories batch concurrent lookups on such a database.
    pub(crate) fn keeps_connections(&self) -> bool {
        self.kept.is_some()
    }

    // Statements built with sqlx's own binds, for values SeaORM's binder cannot take
    // (arrays with NULLs in them). Only a database that keeps connections runs them:
    // the batches that use them exist only there.

    /// Runs a statement built with sqlx's own binds that changes rows.
    ///
    /// # Errors
    /// The statement's [`DbErr`], or one saying this database keeps no connections.
    pub(crate) async fn execute_sqlx<A>(&self, query: SqlxQuery<'_, A>) -> Result<ExecResult, DbErr>
    where
        A: sea_orm::sqlx::IntoArguments<Postgres> + Send,
    {
        self.kept()?.execute_sqlx(query).await
    }

    /// Runs a query built with sqlx's own binds for all its rows.
    ///
    /// # Errors
    /// As [`Database::execute_sqlx`].
    pub(crate) async fn query_all_sqlx<A>(
        &self,
        query: SqlxQuery<'_, A>,
    ) -> Result<Vec<QueryResult>, DbErr>
    where
        A: sea_orm::sqlx::IntoArguments<Postgres> + Send,
    {
        self.kept()?.query_all_sqlx(query).await
    }

    fn kept(&self) -> Result<&KeptConnections, DbErr> {
        self.kept.as_deref().ok_or_else(|| {
            DbErr::Custom("sqlx statements run only on kept PostgreSQL connections".to_owned())
        })
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
