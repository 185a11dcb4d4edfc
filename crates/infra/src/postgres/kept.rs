//! PostgreSQL connections kept checked out between statements.
//!
//! sqlx's pool sends every connection it takes back a Sync and waits for PostgreSQL's
//! ReadyForQuery (`PoolConnection::return_to_pool`, unconditionally), from a task
//! spawned for it. For a one-statement request that doubles the round trips and
//! PostgreSQL's work. Connections here are taken from the pool once and handed from
//! statement to statement without that check. The check is only needed when a
//! statement did not finish — its future was dropped mid-way, or the socket failed —
//! and those connections go back to sqlx, which checks them as before, recovering or
//! closing each.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use sea_orm::sqlx::pool::PoolConnection;
use sea_orm::sqlx::{self, Connection, PgPool, Postgres};
use sea_orm::{ConnAcquireErr, DbErr, ExecResult, QueryResult, RuntimeErr, Statement, Values};
use sea_query_sqlx::SqlxValues;
use tokio::sync::{Semaphore, SemaphorePermit};

/// A kept connection idle this long is pinged before its next statement: a proxy or a
/// database restart may have dropped it meanwhile (sqlx's own rule for the pool is the
/// same, see `db::options`).
const PING_AFTER_IDLE: Duration = Duration::from_secs(30);
/// A kept connection idle this long is given back, so that a quiet server holds few
/// database sessions (sqlx's default idle timeout).
const RELEASE_AFTER_IDLE: Duration = Duration::from_secs(10 * 60);
/// A connection is kept at most this long, then given back to be replaced (sqlx's
/// default maximum lifetime, which the pool enforces on the way back).
const KEEP_AT_MOST: Duration = Duration::from_secs(30 * 60);

/// Up to `limit` connections of one pool, kept between statements.
pub(crate) struct KeptConnections {
    pool: PgPool,
    /// One permit per statement running: at most `limit` connections are ever kept.
    permits: Semaphore,
    /// How long a statement waits for a permit, as for a pool connection.
    acquire_timeout: Duration,
    /// Connections between statements, least recently used first.
    idle: Mutex<VecDeque<Kept>>,
}

struct Kept {
    conn: PoolConnection<Postgres>,
    kept_since: Instant,
    last_used: Instant,
}

impl KeptConnections {
    /// Keeps up to `limit` connections of `pool`. `limit` should leave the pool room
    /// for transactions, which take their connections from it directly.
    pub(crate) fn new(pool: PgPool, limit: usize, acquire_timeout: Duration) -> Self {
        Self {
            pool,
            permits: Semaphore::new(limit.max(1)),
            acquire_timeout,
            idle: Mutex::new(VecDeque::new()),
        }
    }

    // Each statement runs on a connection owned by its own future: if the future is
    // dropped mid-statement, the connection drops with it and goes back to sqlx, which
    // checks it on the way. Only a finished statement puts its connection back here.

    /// Runs a statement that changes rows.
    pub(crate) async fn execute(&self, mut stmt: Statement) -> Result<ExecResult, DbErr> {
        self.execute_sqlx(sqlx_query(&mut stmt)).await
    }

    /// Runs a statement, built with sqlx's own binds, that changes rows: for values
    /// SeaORM cannot bind, such as arrays with NULLs in them.
    pub(crate) async fn execute_sqlx<A>(
        &self,
        query: sqlx::query::Query<'_, Postgres, A>,
    ) -> Result<ExecResult, DbErr>
    where
        A: sqlx::IntoArguments<Postgres> + Send,
    {
        let (_permit, mut kept) = self.check_out().await?;
        let result = query.execute(&mut *kept.conn).await;
        self.check_in(kept, &result);
        result.map(Into::into).map_err(exec_error)
    }

    /// Runs a query for at most one row.
    pub(crate) async fn query_one(
        &self,
        mut stmt: Statement,
    ) -> Result<Option<QueryResult>, DbErr> {
        let (_permit, mut kept) = self.check_out().await?;
        let result = sqlx_query(&mut stmt).fetch_optional(&mut *kept.conn).await;
        self.check_in(kept, &result);
        result.map(|row| row.map(Into::into)).map_err(query_error)
    }

    /// Runs a query for all its rows.
    pub(crate) async fn query_all(&self, mut stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.query_all_sqlx(sqlx_query(&mut stmt)).await
    }

    /// Runs a query built with sqlx's own binds for all its rows.
    pub(crate) async fn query_all_sqlx<A>(
        &self,
        query: sqlx::query::Query<'_, Postgres, A>,
    ) -> Result<Vec<QueryResult>, DbErr>
    where
        A: sqlx::IntoArguments<Postgres> + Send,
    {
        let (_permit, mut kept) = self.check_out().await?;
        let result = query.fetch_all(&mut *kept.conn).await;
        self.check_in(kept, &result);
        result
            .map(|rows| rows.into_iter().map(Into::into).collect())
            .map_err(query_error)
    }

    /// Gives one idle kept connection back to the pool when the pool has none left, so
    /// that a transaction about to take one from it does not wait for nothing.
    pub(crate) fn make_room_in_pool(&self) {
        let options = self.pool.options();
        if self.pool.num_idle() == 0 && self.pool.size() >= options.get_max_connections() {
            // Dropped: back to the pool, through sqlx's check.
            drop(self.idle().pop_front());
        }
    }

    /// Gives every idle connection back to the pool (before it is closed).
    pub(crate) fn release_all(&self) {
        drop(std::mem::take(&mut *self.idle()));
    }

    /// How many kept connections are between statements right now.
    pub(crate) fn idle_count(&self) -> usize {
        self.idle().len()
    }

    fn idle(&self) -> MutexGuard<'_, VecDeque<Kept>> {
        // The lock is only held to push or pop, never across a panic that matters.
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A connection for one statement, with the permit that counts it: the most
    /// recently used kept one, else a new one from the pool.
    async fn check_out(&self) -> Result<(SemaphorePermit<'_>, Kept), DbErr> {
        let permit = tokio::time::timeout(self.acquire_timeout, self.permits.acquire())
            .await
            .map_err(|_| DbErr::ConnectionAcquire(ConnAcquireErr::Timeout))?
            .map_err(|_| DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed))?;
        let reused = self.idle().pop_back();
        let kept = match reused {
            Some(kept) if kept.last_used.elapsed() < PING_AFTER_IDLE => kept,
            Some(mut kept) => match kept.conn.ping().await {
                Ok(()) => kept,
                Err(_) => {
                    kept.conn.close_on_drop();
                    drop(kept);
                    self.connect().await?
                }
            },
            None => self.connect().await?,
        };
        Ok((permit, kept))
    }

    async fn connect(&self) -> Result<Kept, DbErr> {
        let conn = self.pool.acquire().await.map_err(acquire_error)?;
        let now = Instant::now();
        Ok(Kept {
            conn,
            kept_since: now,
            last_used: now,
        })
    }

    /// Keeps the connection of a statement that finished. A server-side error (a
    /// constraint, a bad value) completes the exchange and leaves the connection
    /// usable, unless the server ended the session with it; any other error (I/O,
    /// protocol, TLS) may have left it anywhere, so it goes back to sqlx to be checked.
    fn check_in<T>(&self, mut kept: Kept, result: &Result<T, sqlx::Error>) {
        match result {
            Ok(_) => {}
            // The server ended the session (shutdown, restart, terminated backend) or
            // the connection broke: never used again, not even for sqlx's check.
            Err(sqlx::Error::Database(err)) if ends_session(err.code().as_deref()) => {
                kept.conn.close_on_drop();
                return;
            }
            Err(sqlx::Error::Database(_)) => {}
            Err(_) => return,
        }
        let now = Instant::now();
        if now.duration_since(kept.kept_since) >= KEEP_AT_MOST {
            return; // dropped: back to the pool, which replaces it
        }
        kept.last_used = now;
        let mut idle = self.idle();
        // The least recently used one, if it has sat unused too long, goes back too:
        // one check per statement keeps the set no larger than the load needs.
        if idle
            .front()
            .is_some_and(|oldest| now.duration_since(oldest.last_used) >= RELEASE_AFTER_IDLE)
        {
            drop(idle.pop_front());
        }
        idle.push_back(kept);
    }
}

fn sqlx_query(stmt: &mut Statement) -> sqlx::query::Query<'_, Postgres, SqlxValues> {
    let values = stmt.values.take().unwrap_or(Values(Vec::new()));
    sqlx::query_with(sqlx::AssertSqlSafe(stmt.sql.as_str()), SqlxValues(values))
}

// The same `DbErr`s as SeaORM's own pool gives, so that `DbErr::sql_err` still
// recognises constraint violations.
fn exec_error(err: sqlx::Error) -> DbErr {
    DbErr::Exec(RuntimeErr::SqlxError(Arc::new(err)))
}

fn query_error(err: sqlx::Error) -> DbErr {
    DbErr::Query(RuntimeErr::SqlxError(Arc::new(err)))
}

fn acquire_error(err: sqlx::Error) -> DbErr {
    match err {
        sqlx::Error::PoolTimedOut => DbErr::ConnectionAcquire(ConnAcquireErr::Timeout),
        sqlx::Error::PoolClosed => DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed),
        other => DbErr::Conn(RuntimeErr::SqlxError(Arc::new(other))),
    }
}

/// Whether a SQLSTATE means the server ended the session: 57P01–57P03 (shutting down,
/// crashed, not accepting connections) or class 08 (connection exception).
fn ends_session(code: Option<&str>) -> bool {
    code.is_some_and(|code| code.starts_with("57P") || code.starts_with("08"))
}
