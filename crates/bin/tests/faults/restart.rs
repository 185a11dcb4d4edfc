//! The database restarting or away under load: 503 with `Retry-After` (never 500)
//! within the deadline while it is away, and recovery within a second once it is back.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::cluster::PgCluster;
use crate::load::{Outcome, hammer, observe, report};
use crate::server::{Server, settings};

/// Sixteen clients of their own reading, listing and creating tasks.
async fn traffic(server: &Arc<Server>, until: Instant) -> Vec<Outcome> {
    let mut users = Vec::new();
    for i in 0..16 {
        let token = server.user(&format!("load{i}")).await;
        let task = server.task(&token, "read me").await;
        users.push((token, task));
    }
    let users = Arc::new(users);
    let server = Arc::clone(server);
    hammer(16, until, move |client, round| {
        let (server, users) = (Arc::clone(&server), Arc::clone(&users));
        async move {
            let (token, task) = &users[client];
            let http = &server.http;
            match round % 3 {
                0 => {
                    let url = server.url(&format!("/api/v1/tasks/{task}"));
                    observe("read", http.get(url).bearer_auth(token)).await
                }
                1 => {
                    observe(
                        "list",
                        http.get(server.url("/api/v1/tasks")).bearer_auth(token),
                    )
                    .await
                }
                _ => {
                    let request = http
                        .post(server.url("/api/v1/tasks"))
                        .bearer_auth(token)
                        .json(&json!({"title": format!("written in round {round}")}));
                    observe("create", request).await
                }
            }
        }
    })
    .await
}

/// No 500 anywhere; every 503 says when to retry.
fn assert_no_500_and_503s_say_retry_after(outcomes: &[Outcome]) {
    let errors: Vec<&Outcome> = outcomes.iter().filter(|o| o.is(500)).collect();
    assert!(
        errors.is_empty(),
        "500s: {:?}",
        errors.first().map(|o| &o.body)
    );
    let bare: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| o.is(503) && !o.retry_after)
        .collect();
    assert!(bare.is_empty(), "503s without Retry-After: {}", bare.len());
    assert!(
        outcomes.iter().all(|o| o.status.is_some()),
        "every request got an answer"
    );
}

/// After `back` (the database accepting connections again): the first success, and
/// whether any 5xx came later than a second after it.
fn recovery(outcomes: &[Outcome], back: Instant) -> (Duration, usize) {
    let first_ok = outcomes
        .iter()
        .filter(|o| o.at >= back && o.is_2xx())
        .map(|o| o.at)
        .min()
        .expect("requests succeed again");
    let late_5xx = outcomes
        .iter()
        .filter(|o| o.at > first_ok + Duration::from_secs(1) && o.is_5xx())
        .count();
    (first_ok - back, late_5xx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_restart_under_load_costs_no_500_and_heals_within_a_second() {
    let _serial = crate::SERIAL.lock().await;
    let Some(cluster) = PgCluster::start() else {
        return;
    };
    cluster.create_database("taskforge").await;
    let server = Arc::new(Server::start(&settings(&cluster.url("taskforge"))).await);
    let until = Instant::now() + Duration::from_secs(6);
    let load = tokio::spawn({
        let server = Arc::clone(&server);
        async move { traffic(&server, until).await }
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    let cluster = tokio::task::spawn_blocking(move || {
        cluster.restart();
        cluster
    })
    .await
    .unwrap();
    let back = Instant::now();
    let outcomes = load.await.unwrap();
    report("restart under load", &outcomes);
    assert_no_500_and_503s_say_retry_after(&outcomes);
    let (to_first_ok, late_5xx) = recovery(&outcomes, back);
    println!("first success {to_first_ok:?} after the database was back; 5xx later: {late_5xx}");
    assert!(to_first_ok <= Duration::from_secs(1), "{to_first_ok:?}");
    assert_eq!(late_5xx, 0);
    drop(cluster);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_away_answers_503_within_the_deadline_then_heals() {
    let _serial = crate::SERIAL.lock().await;
    let Some(cluster) = PgCluster::start() else {
        return;
    };
    cluster.create_database("taskforge").await;
    let env = settings(&cluster.url("taskforge"));
    let acquire = Duration::from_millis(env["DB_ACQUIRE_TIMEOUT_MS"].parse().unwrap());
    let server = Arc::new(Server::start(&env).await);
    let until = Instant::now() + Duration::from_secs(9);
    let load = tokio::spawn({
        let server = Arc::clone(&server);
        async move { traffic(&server, until).await }
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    let cluster = tokio::task::spawn_blocking(move || {
        cluster.stop();
        cluster
    })
    .await
    .unwrap();
    let away = Instant::now();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let ready = observe("ready", server.http.get(server.url("/health/ready"))).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    // Answers before this were surely made while it was away; `start_again` returns only
    // once the database accepts connections again, possibly a while after it does.
    let restarting = Instant::now();
    let cluster = tokio::task::spawn_blocking(move || {
        cluster.start_again();
        cluster
    })
    .await
    .unwrap();
    let back = Instant::now();
    let outcomes = load.await.unwrap();
    report("database away for 4 s under load", &outcomes);
    assert_eq!(
        ready.status,
        Some(503),
        "readiness while away: {}",
        ready.body
    );
    assert!(
        ready.body.contains("\"database\":\"unavailable\""),
        "{}",
        ready.body
    );
    assert_no_500_and_503s_say_retry_after(&outcomes);
    // While it was away (sent after it stopped, answered before it was back), every
    // answer was a 503 within the connection deadline (plus the answer's own way).
    let meanwhile: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| o.at - o.latency > away + Duration::from_millis(100) && o.at < restarting)
        .collect();
    assert!(
        !meanwhile.is_empty(),
        "requests were made while it was away"
    );
    assert!(
        meanwhile.iter().all(|o| o.is(503)),
        "{:?}",
        crate::load::tally(&outcomes)
    );
    let slowest = meanwhile
        .iter()
        .map(|o| o.latency)
        .max()
        .unwrap_or_default();
    println!(
        "while away: {} answers, slowest {slowest:?}",
        meanwhile.len()
    );
    assert!(
        slowest <= acquire + Duration::from_millis(1500),
        "{slowest:?}"
    );
    let (to_first_ok, late_5xx) = recovery(&outcomes, back);
    println!("first success {to_first_ok:?} after the database was back; 5xx later: {late_5xx}");
    assert!(to_first_ok <= Duration::from_secs(1), "{to_first_ok:?}");
    assert_eq!(late_5xx, 0);
    drop(cluster);
}
