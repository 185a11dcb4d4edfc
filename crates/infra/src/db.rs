//! Opening the database pool, tuned for the backend the URL names.

use std::time::Duration;

use sea_orm::sqlx::sqlite::SqliteJournalMode;
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};

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
    Database::connect(options(url, max_connections)).await
}

/// A PostgreSQL pool of up to `max_connections` that opens none yet: each connection is
/// opened by the first request that needs it, on that request's thread. An HTTP worker
/// given a pool of its own this way only ever uses connections its own event loop
/// drives; a connection shared between workers has its socket readiness seen by one
/// worker and handed to the other by a cross-thread wake-up, on every statement.
///
/// # Errors
/// The [`DbErr`] of a URL that is not PostgreSQL's or does not parse.
pub async fn connect_lazy_postgres(
    url: &str,
    max_connections: u32,
) -> Result<DatabaseConnection, DbErr> {
    if is_sqlite(url) {
        return Err(DbErr::Custom(
            "a lazy pool is for PostgreSQL; SQLite keeps its one shared connection".into(),
        ));
    }
    let mut options = options(url, max_connections);
    options.connect_lazy(true);
    Database::connect(options).await
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
