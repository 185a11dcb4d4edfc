//! What only the PostgreSQL fast path has: connections kept between statements
//! (`postgres::request_pool`). Its behaviour behind the ports is the contract suite's
//! (`tests/contract`). Skipped with a note when `TEST_DATABASE_URL` is unset; each test
//! that ran appends `fast-path` to the file named by `TASKFORGE_PG_MARKER`, which CI
//! checks.

use std::collections::HashSet;
use std::time::Duration;

use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};
use taskforge_infra::db::Database;
use taskforge_infra::postgres;
use tokio::task::JoinSet;

mod common;

/// A pool of `max_connections` on `TEST_DATABASE_URL` that keeps all but one.
async fn kept(test: &str, max_connections: u32) -> Option<Database> {
    let Ok(url) = std::env::var("TEST_DATABASE_URL") else {
        println!("TEST_DATABASE_URL is not set: skipping the PostgreSQL run of {test}");
        return None;
    };
    common::record_run("fast-path");
    Some(
        postgres::request_pool(&url, max_connections, &Default::default())
            .await
            .expect("connect to TEST_DATABASE_URL"),
    )
}

fn sql(text: &str) -> Statement {
    Statement::from_string(DbBackend::Postgres, text)
}

/// The PostgreSQL backend process that ran a statement: one per connection.
async fn backend_pid(db: &Database) -> i32 {
    let row = db
        .query_one_raw(sql("SELECT pg_backend_pid() AS pid"))
        .await
        .expect("query runs")
        .expect("one row");
    row.try_get("", "pid").expect("pid column")
}

/// (idle, open) connections of the sqlx pool itself, kept ones not counted as idle.
fn sqlx_pool(db: &Database) -> (usize, u32) {
    let pool = db.pool().get_postgres_connection_pool();
    (pool.num_idle(), pool.size())
}

#[tokio::test]
async fn statements_run_one_after_another_on_one_kept_connection_that_never_returns_to_the_pool() {
    let Some(db) = kept("kept_connection_is_reused", 3).await else {
        return;
    };
    let first = backend_pid(&db).await;
    for _ in 0..5 {
        assert_eq!(backend_pid(&db).await, first);
        // Kept, not returned: sqlx's pool has one open connection and none idle (a
        // returned connection would be idle there, after sqlx's check).
        assert_eq!(sqlx_pool(&db), (0, 1));
    }
    let snapshot = db.snapshot();
    assert_eq!((snapshot.idle, snapshot.in_use, snapshot.max), (1, 0, 3));
    db.close().await.expect("close");
}

#[tokio::test]
async fn a_server_error_keeps_the_connection_and_is_reported_as_the_database_said() {
    let Some(db) = kept("server_error_keeps_connection", 3).await else {
        return;
    };
    let before = backend_pid(&db).await;
    let err = db
        .query_one_raw(sql("SELECT 1 / 0"))
        .await
        .expect_err("division by zero fails");
    assert!(
        matches!(&err, DbErr::Query(_)) && err.to_string().contains("division by zero"),
        "{err:?}"
    );
    assert_eq!(backend_pid(&db).await, before);
    db.close().await.expect("close");
}

#[tokio::test]
async fn a_statement_dropped_midway_leaves_no_answer_behind_for_the_next() {
    let Some(db) = kept("dropped_statement", 3).await else {
        return;
    };
    let before = backend_pid(&db).await;
    let slow = db.query_one_raw(sql("SELECT pg_sleep(1)::text AS answer, 'stale' AS word"));
    assert!(
        tokio::time::timeout(Duration::from_millis(100), slow)
            .await
            .is_err(),
        "the slow statement is dropped before it answers"
    );
    // The interrupted connection went back to sqlx to be checked; the next statement
    // runs on another one and reads its own answer, not the slow one's.
    let row = db
        .query_one_raw(sql("SELECT 'fresh' AS word, pg_backend_pid() AS pid"))
        .await
        .expect("the next statement runs")
        .expect("one row");
    assert_eq!(row.try_get::<String>("", "word").expect("word"), "fresh");
    assert_ne!(row.try_get::<i32>("", "pid").expect("pid"), before);
    db.close().await.expect("close");
}

#[tokio::test]
async fn no_more_statements_run_at_once_than_connections_are_kept() {
    let Some(db) = kept("kept_limit", 3).await else {
        return;
    };
    let mut running = JoinSet::new();
    for _ in 0..6 {
        let db = db.clone();
        running.spawn(async move {
            let row = db
                .query_one_raw(sql("SELECT pg_backend_pid() AS pid, pg_sleep(0.2)::text"))
                .await
                .expect("query runs")
                .expect("one row");
            row.try_get::<i32>("", "pid").expect("pid")
        });
    }
    let pids: HashSet<i32> = running.join_all().await.into_iter().collect();
    // Three connections in the pool, two kept: the third stays for transactions.
    assert_eq!(pids.len(), 2, "{pids:?}");
    assert_eq!(sqlx_pool(&db).1, 2);
    db.close().await.expect("close");
}

#[tokio::test]
async fn a_transaction_gets_a_connection_even_when_the_pool_is_all_kept_or_in_use() {
    let Some(db) = kept("transaction_room", 2).await else {
        return;
    };
    backend_pid(&db).await; // one kept connection, idle
    let first = db.begin().await.expect("the pool's other connection");
    // The pool is now full (one kept, one in a transaction): the second transaction
    // must get the kept connection given back rather than wait for nothing.
    let second = tokio::time::timeout(Duration::from_secs(2), db.begin())
        .await
        .expect("begins without waiting for the pool's timeout")
        .expect("begins");
    second.commit().await.expect("commit");
    first.commit().await.expect("commit");
    assert_eq!(backend_pid(&db).await, backend_pid(&db).await);
    db.close().await.expect("close");
}
