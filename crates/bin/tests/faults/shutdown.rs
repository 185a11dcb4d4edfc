//! SIGTERM under write load: readiness turns 503 first, in-flight requests finish,
//! every write acknowledged with 2xx is in the database after a restart, and the
//! process exits within its drain and shutdown deadlines.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::cluster::PgCluster;
use crate::load::{Failure, hammer, observe, report};
use crate::server::{Server, settings};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_under_write_load_loses_no_acknowledged_write() {
    let _serial = crate::SERIAL.lock().await;
    let Some(cluster) = PgCluster::start() else {
        return;
    };
    cluster.create_database("taskforge").await;
    let mut env = settings(&cluster.url("taskforge"));
    env.insert("SHUTDOWN_DRAIN_MS", "500".to_owned());
    env.insert("SHUTDOWN_TIMEOUT_SECS", "5".to_owned());
    let mut server = Server::start(&env).await;
    let token = Arc::new(server.user("writer").await);
    let (http, base) = (server.http.clone(), server.base.clone());

    let until = Instant::now() + Duration::from_secs(4);
    let writers = tokio::spawn({
        let (http, base, token) = (http.clone(), base.clone(), Arc::clone(&token));
        hammer(32, until, move |client, round| {
            let (http, base, token) = (http.clone(), base.clone(), Arc::clone(&token));
            async move {
                let body = json!({"title": format!("write {client}-{round}")});
                let request = http
                    .post(format!("{base}/api/v1/tasks"))
                    .bearer_auth(&*token)
                    .json(&body);
                observe("create", request).await
            }
        })
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.terminate();
    let signalled = Instant::now();
    // The signal reaches the server asynchronously: a readiness check sent in the same
    // instant may be answered before the server has handled it. Readiness must turn
    // 503 while the listener still answers (its drain), so look until it does or the
    // listener is gone.
    let mut ready = observe("ready", http.get(format!("{base}/health/ready"))).await;
    while ready.status == Some(200) && signalled.elapsed() < Duration::from_millis(400) {
        tokio::time::sleep(Duration::from_millis(10)).await;
        ready = observe("ready", http.get(format!("{base}/health/ready"))).await;
    }
    let exit = server.exited_within(Duration::from_secs(10)).await;
    let exited_after = signalled.elapsed();
    let outcomes = writers.await.unwrap();
    report("SIGTERM under 32 writers", &outcomes);
    println!(
        "readiness right after SIGTERM: {:?}; exited after {exited_after:?}",
        ready.status
    );
    assert_eq!(
        ready.status,
        Some(503),
        "readiness turns 503 first: {}",
        ready.body
    );
    assert!(
        exit.is_some_and(|status| status.success()),
        "exit: {exit:?}"
    );
    assert!(exited_after < Duration::from_secs(6), "{exited_after:?}");
    // Every request sent before the listener closed was answered; later ones were
    // refused. (A connection the kernel queued just as the listener closed can only be
    // reset: that moment is the end of the drain, so requests started well before it
    // must all have their answer.)
    let listener_closed = signalled + Duration::from_millis(500);
    let lost_in_flight = outcomes
        .iter()
        .filter(|o| o.failure == Some(Failure::Lost))
        .filter(|o| o.at - o.latency + Duration::from_millis(100) < listener_closed)
        .count();
    let lost_at_close = outcomes
        .iter()
        .filter(|o| o.failure == Some(Failure::Lost))
        .count();
    println!(
        "cut off: {lost_in_flight} in flight, {lost_at_close} in all (queued as the listener closed)"
    );
    assert_eq!(lost_in_flight, 0, "requests cut off in flight");
    assert!(
        outcomes
            .iter()
            .all(|o| o.status.is_none_or(|s| s == 201 || s == 503))
    );

    // A new server on the same database has every acknowledged write.
    let server = Server::start(&env).await;
    let acknowledged: Vec<String> = outcomes
        .iter()
        .filter(|o| o.is(201))
        .map(|o| {
            let body: Value = serde_json::from_str(&o.body).unwrap();
            body["id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert!(
        acknowledged.len() > 32,
        "writes were acknowledged: {}",
        acknowledged.len()
    );
    for id in &acknowledged {
        let found = server
            .http
            .get(server.url(&format!("/api/v1/tasks/{id}")))
            .bearer_auth(&*token)
            .send()
            .await
            .unwrap();
        assert_eq!(found.status(), 200, "acknowledged write {id} lost");
    }
    println!(
        "{} acknowledged writes, all found after the restart",
        acknowledged.len()
    );
    drop(cluster);
}
