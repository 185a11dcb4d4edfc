//! A bound on how long SQLite's one connection is held at a time.
//!
//! Every request on SQLite takes turns on one connection, and a statement that the
//! client has stopped waiting for (the request's deadline passed, see
//! [`crate::db::Database`]) would otherwise run on to its end, holding that connection
//! while every other request waits. SQLite has no `statement_timeout`; it calls a
//! progress handler every so many steps of its virtual machine, and a handler that
//! answers `false` interrupts the statement (`SQLITE_INTERRUPT`: the statement, and
//! the transaction it is in, is rolled back). Here the handler answers `false` once the
//! connection has been held longer than the statement deadline since it was handed
//! out, so no hold — one statement or one transaction — outlasts it, and the next
//! request gets the connection.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use sea_orm::sqlx::Sqlite;
use sea_orm::sqlx::pool::PoolOptions;

/// How many virtual-machine steps SQLite runs between two calls of the handler: a few
/// microseconds of work, next to which reading the clock costs nothing.
const STEPS_BETWEEN_CHECKS: i32 = 10_000;

/// When the connection was last handed out.
#[derive(Debug, Default)]
struct Hold {
    /// Nanoseconds since [`epoch`], plus one; 0 while the connection is in the pool.
    since: AtomicU64,
}

/// The instant the holds are measured from.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Now, in the terms of [`Hold::since`] (never 0).
fn now() -> u64 {
    u64::try_from(epoch().elapsed().as_nanos())
        .unwrap_or(u64::MAX)
        .saturating_add(1)
}

impl Hold {
    fn start(&self) {
        self.since.store(now(), Ordering::Relaxed);
    }

    fn end(&self) {
        self.since.store(0, Ordering::Relaxed);
    }

    /// Whether the connection is in the pool or held no longer than `limit`.
    fn within(&self, limit: Duration) -> bool {
        let since = self.since.load(Ordering::Relaxed);
        since == 0 || Duration::from_nanos(now().saturating_sub(since)) <= limit
    }
}

/// `pool` with every hold of a connection bounded by `limit`: the holds are timed from
/// hand-out (or opening) to release, and a statement still running past `limit`
/// is interrupted. For SQLite's pool of one connection, whose holds never overlap.
pub(crate) fn bounded(pool: PoolOptions<Sqlite>, limit: Duration) -> PoolOptions<Sqlite> {
    let hold = Arc::new(Hold::default());
    let (opened, acquired, released) = (Arc::clone(&hold), Arc::clone(&hold), hold);
    pool.after_connect(move |connection, _| {
        let hold = Arc::clone(&opened);
        async move {
            hold.start();
            connection
                .lock_handle()
                .await?
                .set_progress_handler(STEPS_BETWEEN_CHECKS, move || hold.within(limit));
            Ok(())
        }
        .boxed()
    })
    .before_acquire(move |_, _| {
        acquired.start();
        async { Ok(true) }.boxed()
    })
    .after_release(move |_, _| {
        released.end();
        async { Ok(true) }.boxed()
    })
}

#[cfg(test)]
mod tests {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};

    use super::*;
    use crate::db::{Database, Deadlines, connect_with};
    use crate::error::db_error;

    /// A statement that counts to a hundred million: seconds of work.
    const SLOW: &str = "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n \
                        WHERE x < 100000000) SELECT COUNT(*) FROM n";

    #[tokio::test]
    async fn a_statement_past_the_deadline_is_interrupted_and_frees_the_connection() {
        let deadlines = Deadlines {
            statement: Duration::from_millis(200),
            ..Deadlines::default()
        };
        let pool = connect_with("sqlite::memory:", 1, &deadlines)
            .await
            .expect("an in-memory database");
        let db = Database::new(pool, deadlines);
        let started = Instant::now();
        let slow = db
            .query_one_raw(Statement::from_string(DbBackend::Sqlite, SLOW))
            .await
            .expect_err("interrupted");
        // What the request hears: the database did not answer in time (503), not a 500.
        assert!(
            matches!(
                db_error(slow),
                taskforge_domain::DomainError::Unavailable(_)
            ),
            "unavailable"
        );
        // The connection is free again at once: the next statement does not wait for
        // the first to count to its end.
        let next = db
            .query_one_raw(Statement::from_string(DbBackend::Sqlite, "SELECT 1"))
            .await
            .expect("the next statement runs")
            .expect("a row");
        assert_eq!(next.try_get_by_index::<i64>(0).expect("1"), 1);
        let took = started.elapsed();
        println!("interrupted and answered the next statement in {took:?}");
        assert!(took < Duration::from_secs(2), "{took:?}");
    }

    #[test]
    fn a_hold_is_within_its_limit_until_it_passes_and_always_once_released() {
        let hold = Hold::default();
        assert!(hold.within(Duration::ZERO), "in the pool");
        hold.start();
        assert!(hold.within(Duration::from_secs(60)));
        std::thread::sleep(Duration::from_millis(5));
        assert!(!hold.within(Duration::from_millis(1)));
        hold.end();
        assert!(hold.within(Duration::ZERO), "released");
    }
}
