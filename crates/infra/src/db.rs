//! Opening the database pool, tuned for the backend the URL names, and [`Database`],
//! the handle repositories run their statements on.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sea_orm::sqlx::sqlite::SqliteJournalMode;
use sea_orm::{
    ConnectOptions, ConnectionTrait, DatabaseConnection, DatabaseConnectionType,
    DatabaseTransaction, DbBackend, DbErr, ExecResult, QueryResult, RuntimeErr, Statement,
    TransactionTrait,
};

use crate::error::session_ended_unapplied;

/// A PostgreSQL statement with sqlx's own binds.
pub(crate) type SqlxQuery<'q> =
    sea_orm::sqlx::query::Query<'q, sea_orm::sqlx::Postgres, sea_orm::sqlx::postgres::PgArguments>;
use crate::postgres::kept::KeptConnections;

/// Every wait on the database, bounded (`DB_*_TIMEOUT_MS`, `DB_KEEPALIVE_SECS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    /// How long one statement may run: PostgreSQL's `statement_timeout`, and the
    /// client's own bound on a statement (a little longer, so that a dead server or
    /// network is noticed even when the server cannot say so).
    pub statement: Duration,
    /// How long a statement waits for a row lock another transaction holds:
    /// PostgreSQL's `lock_timeout`, SQLite's busy timeout (another process's write
    /// lock), and the fast path's wait for a held task row.
    pub lock: Duration,
    /// How long a request waits for a free connection, or for a new one to open.
    pub acquire: Duration,
    /// TCP keepalive on PostgreSQL connections: the server probes a connection idle
    /// this long, and drops it (and whatever it held) when the client is gone.
    pub keepalive: Duration,
}

impl Default for Deadlines {
    fn default() -> Self {
        Self {
            statement: Duration::from_secs(5),
            lock: Duration::from_secs(2),
            acquire: Duration::from_secs(3),
            keepalive: Duration::from_secs(30),
        }
    }
}

impl Deadlines {
    /// For schema migrations, whose statements (an index built over a large table) may
    /// rightly take minutes: the request deadlines would kill them half-way.
    pub fn for_migrations() -> Self {
        Self {
            statement: Duration::from_secs(6 * 3600),
            lock: Duration::from_secs(300),
            ..Self::default()
        }
    }

    /// The client's own bound on a statement: the server's plus room for the answer
    /// to travel, so the server's own timeout (a clean error) comes first.
    fn client_statement(&self) -> Duration {
        self.statement + Duration::from_millis(500)
    }
}

/// How long a request waits for SQLite's single connection: every request queues for
/// that one connection, so a burst legitimately waits longer than for a pool's.
const SQLITE_ACQUIRE_FACTOR: u32 = 10;

/// Connects to `url` (`postgres://...`, `sqlite://path?mode=rwc`, `sqlite::memory:`)
/// with the default [`Deadlines`].
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
    connect_with(url, max_connections, &Deadlines::default()).await
}

/// As [`connect`], with these deadlines.
///
/// # Errors
/// The [`DbErr`] of a failed connection.
pub async fn connect_with(
    url: &str,
    max_connections: u32,
    deadlines: &Deadlines,
) -> Result<DatabaseConnection, DbErr> {
    sea_orm::Database::connect(options(url, max_connections, deadlines, &[])).await
}

/// Connect options for `url`; `settings` are PostgreSQL settings for every connection
/// of the pool, beside the deadlines'.
pub(crate) fn options(
    url: &str,
    max_connections: u32,
    deadlines: &Deadlines,
    settings: &[(&'static str, &'static str)],
) -> ConnectOptions {
    let mut options = ConnectOptions::new(url);
    // Statements are not logged: they could carry personal data, and request logs
    // already say what happened.
    options.sqlx_logging(false);
    if is_sqlite(url) {
        let busy = deadlines.lock;
        let hold = deadlines.statement;
        options
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .acquire_timeout(deadlines.acquire * SQLITE_ACQUIRE_FACTOR)
            .map_sqlx_sqlite_opts(move |sqlite| {
                sqlite
                    // Readers do not block the writer (matters for other processes).
                    .journal_mode(SqliteJournalMode::Wal)
                    // Another process's write lock (`taskforge migrate` beside the
                    // server, say) is waited for this long, then the request gets 503.
                    .busy_timeout(busy)
                    // Cascades and owner checks behave as on PostgreSQL.
                    .foreign_keys(true)
                    .create_if_missing(true)
            })
            // No statement holds the one connection past the statement deadline.
            .map_sqlx_sqlite_pool_opts(move |pool| crate::sqlite_hold::bounded(pool, hold));
    } else {
        let millis = |d: Duration| d.as_millis().to_string();
        let mut server_settings = vec![
            ("statement_timeout", millis(deadlines.statement)),
            ("lock_timeout", millis(deadlines.lock)),
            // A transaction whose request was dropped is rolled back when its
            // connection is next used; meanwhile the server ends it by itself.
            (
                "idle_in_transaction_session_timeout",
                millis(deadlines.statement * 2),
            ),
            (
                "tcp_keepalives_idle",
                deadlines.keepalive.as_secs().max(1).to_string(),
            ),
            ("tcp_keepalives_interval", "10".to_owned()),
            ("tcp_keepalives_count", "3".to_owned()),
        ];
        server_settings.extend(settings.iter().map(|(k, v)| (*k, (*v).to_owned())));
        options
            .max_connections(max_connections.max(1))
            .connect_timeout(deadlines.acquire)
            .acquire_timeout(deadlines.acquire)
            // sqlx pings every connection it hands out by default: one extra round trip
            // per query, which halved read throughput in the benchmark. Ping only
            // connections that sat idle long enough to have been dropped by a proxy or
            // a restart; a connection found dead by its statement is replaced, and the
            // statement sent again when the server had not run it (see `Database`).
            .test_before_acquire_if_idle_for(POSTGRES_IDLE_PING_AFTER)
            .map_sqlx_postgres_opts(move |postgres| {
                postgres.options(
                    server_settings
                        .iter()
                        .map(|(name, value)| (*name, value.as_str())),
                )
            });
    }
    options
}

/// Whether `url` names a SQLite database.
pub fn is_sqlite(url: &str) -> bool {
    url.starts_with("sqlite:")
}

/// Whether `url` names an in-memory SQLite database (one per connection).
pub fn is_sqlite_memory(url: &str) -> bool {
    url.starts_with("sqlite::memory:") || (is_sqlite(url) && url.contains("mode=memory"))
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
///
/// Every single statement is bounded by [`Deadlines::statement`] on the client's side
/// too; one the server ended before running it (it was restarting, or the backend was
/// terminated: SQLSTATE 57P01–57P03) is sent again on another connection, so a
/// database restart costs the requests nothing once it accepts connections again.
#[derive(Clone)]
pub struct Database {
    pool: DatabaseConnection,
    kept: Option<Arc<KeptConnections>>,
    deadlines: Deadlines,
}

impl From<DatabaseConnection> for Database {
    /// Every statement through the pool, with the default deadlines.
    fn from(pool: DatabaseConnection) -> Self {
        Self::new(pool, Deadlines::default())
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
    /// Every statement through `pool` (opened with the same `deadlines`).
    pub fn new(pool: DatabaseConnection, deadlines: Deadlines) -> Self {
        Self {
            pool,
            kept: None,
            deadlines,
        }
    }

    /// Single statements on `kept` connections of `pool`, transactions on the pool.
    pub(crate) fn keeping(
        pool: DatabaseConnection,
        kept: KeptConnections,
        deadlines: Deadlines,
    ) -> Self {
        Self {
            pool,
            kept: Some(Arc::new(kept)),
            deadlines,
        }
    }

    /// The deadlines this database was opened with.
    pub fn deadlines(&self) -> &Deadlines {
        &self.deadlines
    }

    /// How often a statement the server ended unapplied is sent again: as many times
    /// as the pool has connections, each of which may have died with the server.
    fn retries(&self) -> u32 {
        match &self.pool.inner {
            DatabaseConnectionType::SqlxPostgresPoolConnection(_) => self
                .pool
                .get_postgres_connection_pool()
                .options()
                .get_max_connections(),
            _ => 0,
        }
    }

    /// Runs `attempt` (one statement) within the client's deadline, again on a fresh
    /// connection while the server ends it unapplied.
    async fn bounded<T, F, Fut>(&self, attempt: F) -> Result<T, DbErr>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, DbErr>>,
    {
        let mut retries = self.retries();
        loop {
            let result = tokio::time::timeout(self.deadlines.client_statement(), attempt())
                .await
                .unwrap_or_else(|_| Err(deadline_passed()));
            match result {
                Err(err) if retries > 0 && session_ended_unapplied(&err) => {
                    retries -= 1;
                    // The server went away: every idle kept connection is as dead as
                    // this one. Back to sqlx with them, which closes the dead.
                    if let Some(kept) = &self.kept {
                        kept.release_all();
                    }
                }
                other => return other,
            }
        }
    }

    /// Whether single statements run on kept connections (the fast path's pools).
    pub fn keeps_connections(&self) -> bool {
        self.kept.is_some()
    }

    /// Runs a statement built with sqlx's own binds (typed arrays with NULLs in them,
    /// which SeaORM's binder cannot take) for all its rows, as every statement here:
    /// within the deadline, again while the server ends it unapplied. `build` makes
    /// the statement afresh for each try. Only the fast path's pools run these.
    ///
    /// # Errors
    /// The statement's [`DbErr`], or one saying this pool keeps no connections.
    pub(crate) async fn query_all_sqlx<'q, F>(&self, build: F) -> Result<Vec<QueryResult>, DbErr>
    where
        F: Fn() -> SqlxQuery<'q>,
    {
        let kept = self.kept.as_deref().ok_or_else(|| {
            DbErr::Custom("sqlx statements run only on the fast path's pools".to_owned())
        })?;
        self.bounded(|| kept.query_all_sqlx(build())).await
    }

    /// As [`Database::query_all_sqlx`], for a statement that returns no rows.
    ///
    /// # Errors
    /// As [`Database::query_all_sqlx`].
    pub(crate) async fn execute_sqlx<'q, F>(&self, build: F) -> Result<ExecResult, DbErr>
    where
        F: Fn() -> SqlxQuery<'q>,
    {
        let kept = self.kept.as_deref().ok_or_else(|| {
            DbErr::Custom("sqlx statements run only on the fast path's pools".to_owned())
        })?;
        self.bounded(|| kept.execute_sqlx(build())).await
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
        let mut retries = self.retries();
        loop {
            if let Some(kept) = &self.kept {
                kept.make_room_in_pool();
            }
            match self.pool.begin().await {
                Err(err) if retries > 0 && session_ended_unapplied(&err) => retries -= 1,
                other => return other,
            }
        }
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
        self.bounded(|| async {
            match &self.kept {
                Some(kept) => kept.execute(stmt.clone()).await,
                None => self.pool.execute_raw(stmt.clone()).await,
            }
        })
        .await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.pool.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.bounded(|| async {
            match &self.kept {
                Some(kept) => kept.query_one(stmt.clone()).await,
                None => self.pool.query_one_raw(stmt.clone()).await,
            }
        })
        .await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.bounded(|| async {
            match &self.kept {
                Some(kept) => kept.query_all(stmt.clone()).await,
                None => self.pool.query_all_raw(stmt.clone()).await,
            }
        })
        .await
    }
}

/// A statement that outlived the client's deadline: the database or the network did
/// not answer in time (whether a write was applied is unknown).
fn deadline_passed() -> DbErr {
    DbErr::Query(RuntimeErr::SqlxError(Arc::new(sea_orm::sqlx::Error::Io(
        std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "the statement outlived its deadline",
        ),
    ))))
}
