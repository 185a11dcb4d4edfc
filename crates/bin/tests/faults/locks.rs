//! A task row held by an outside transaction: the requests for that row wait for the
//! lock deadline and answer 503; every other request, batched with them or not, is
//! served as if nothing happened.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, TransactionTrait};
use serde_json::json;

use crate::cluster::PgCluster;
use crate::load::{Outcome, hammer, observe, percentile, report};
use crate::server::{Server, settings};

async fn held_row_delays_only_its_requests(max_connections: &str) {
    let _serial = crate::SERIAL.lock().await;
    let Some(cluster) = PgCluster::start() else {
        return;
    };
    cluster.create_database("taskforge").await;
    let mut env = settings(&cluster.url("taskforge"));
    env.insert("DB_MAX_CONNECTIONS", max_connections.to_owned());
    let lock_deadline = Duration::from_millis(env["DB_LOCK_TIMEOUT_MS"].parse().unwrap());
    let server = Arc::new(Server::start(&env).await);
    let token = server.user("owner").await;
    let mut tasks = Vec::new();
    for i in 0..17 {
        tasks.push(server.task(&token, &format!("task {i}")).await);
    }
    let held = tasks[0].clone();

    // An outside transaction holds the first task's row until every write of it that
    // the load below starts (for 3 s) has met the lock deadline, with a second to
    // spare: a write started just before the load ends must still find the row held.
    let load = Duration::from_secs(3);
    let outside = cluster.connect("taskforge").await;
    let txn = outside.begin().await.unwrap();
    txn.execute_unprepared(&format!(
        "SELECT 1 FROM tasks WHERE id = '{held}' FOR UPDATE"
    ))
    .await
    .unwrap();
    let release = tokio::spawn(async move {
        tokio::time::sleep(load + lock_deadline + Duration::from_secs(1)).await;
        txn.rollback().await.unwrap();
    });

    let until = Instant::now() + load;
    let (tasks, token) = (Arc::new(tasks), Arc::new(token));
    let (server_, tasks_, token_) = (Arc::clone(&server), Arc::clone(&tasks), Arc::clone(&token));
    // Sixteen bystanders change, read and list the other tasks, batched with the
    // writes of the held one; one client writes the held task again and again.
    let outcomes = hammer(17, until, move |client, round| {
        let (server, tasks, token) = (
            Arc::clone(&server_),
            Arc::clone(&tasks_),
            Arc::clone(&token_),
        );
        async move {
            let http = &server.http;
            if client == 0 {
                let url = server.url(&format!("/api/v1/tasks/{}", tasks[0]));
                let body = json!({"title": format!("held {round}")});
                return observe("held", http.patch(url).bearer_auth(&*token).json(&body)).await;
            }
            let task = &tasks[client];
            match round % 3 {
                0 => {
                    let url = server.url(&format!("/api/v1/tasks/{task}"));
                    let body = json!({"title": format!("bystander {round}")});
                    observe("write", http.patch(url).bearer_auth(&*token).json(&body)).await
                }
                1 => {
                    let url = server.url(&format!("/api/v1/tasks/{task}"));
                    observe("read", http.get(url).bearer_auth(&*token)).await
                }
                _ => {
                    let url = server.url("/api/v1/tasks");
                    observe("list", http.get(url).bearer_auth(&*token)).await
                }
            }
        }
    })
    .await;
    release.await.unwrap();
    let (held, bystanders): (Vec<Outcome>, Vec<Outcome>) =
        outcomes.into_iter().partition(|o| o.label == "held");
    report(
        &format!("held row, {max_connections} connections: its writes"),
        &held,
    );
    report(
        &format!("held row, {max_connections} connections: bystanders"),
        &bystanders,
    );
    // The held row's writes end at the lock deadline with 503 (and Retry-After).
    assert!(!held.is_empty());
    for outcome in &held {
        assert!(outcome.is(503) && outcome.retry_after, "{outcome:?}");
        assert!(
            outcome.latency >= lock_deadline / 2,
            "{:?}",
            outcome.latency
        );
        assert!(
            outcome.latency <= lock_deadline + Duration::from_secs(1),
            "{:?}",
            outcome.latency
        );
    }
    // Nobody else noticed.
    assert!(
        bystanders.iter().all(Outcome::is_2xx),
        "{:?}",
        crate::load::tally(&bystanders)
    );
    let all: Vec<&Outcome> = bystanders.iter().collect();
    let p99 = percentile(&all, 99.0);
    assert!(
        p99 < lock_deadline / 2,
        "bystanders waited for the lock: p99 {p99:?}"
    );
    // Once the row is free, it is written at once.
    let url = server.url(&format!("/api/v1/tasks/{}", tasks[0]));
    let body = json!({"title": "free"});
    let after = observe(
        "after",
        server.http.patch(url).bearer_auth(&*token).json(&body),
    )
    .await;
    assert_eq!(after.status, Some(200), "{}", after.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_held_row_delays_only_its_own_requests() {
    held_row_delays_only_its_requests("10").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_held_row_delays_only_its_own_requests_with_two_connections() {
    held_row_delays_only_its_requests("2").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sqlite_file_locked_by_another_process_answers_503_and_reads_go_on() {
    let _serial = crate::SERIAL.lock().await;
    let path = std::env::temp_dir().join(format!("tf-faults-{}.db", uuid::Uuid::new_v4()));
    let url = format!("sqlite://{}", path.display());
    let env = settings(&url);
    let lock_deadline = Duration::from_millis(env["DB_LOCK_TIMEOUT_MS"].parse().unwrap());
    let server = Server::start(&env).await;
    let token = server.user("sqlite").await;
    let task = server.task(&token, "locked out").await;

    // Another process (here: another connection) holds the database's write lock.
    let other = sea_orm::Database::connect(format!("{url}?mode=rw"))
        .await
        .unwrap();
    let txn = other.begin().await.unwrap();
    txn.execute_unprepared("CREATE TABLE holding_the_write_lock (x INTEGER)")
        .await
        .unwrap();
    let write = observe(
        "write",
        server
            .http
            .patch(server.url(&format!("/api/v1/tasks/{task}")))
            .bearer_auth(&token)
            .json(&json!({"title": "blocked"})),
    )
    .await;
    let read = observe(
        "read",
        server
            .http
            .get(server.url(&format!("/api/v1/tasks/{task}")))
            .bearer_auth(&token),
    )
    .await;
    txn.rollback().await.unwrap();
    println!(
        "write while locked: {:?} after {:?}; read: {:?}",
        write.status, write.latency, read.status
    );
    assert_eq!(write.status, Some(503), "{}", write.body);
    assert!(write.retry_after);
    assert!(write.latency >= lock_deadline / 2, "{:?}", write.latency);
    assert_eq!(read.status, Some(200), "readers are not blocked (WAL)");
    let after = observe(
        "after",
        server
            .http
            .patch(server.url(&format!("/api/v1/tasks/{task}")))
            .bearer_auth(&token)
            .json(&json!({"title": "free"})),
    )
    .await;
    assert_eq!(after.status, Some(200), "{}", after.body);
    drop(server);
    let _ = other.close().await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}
