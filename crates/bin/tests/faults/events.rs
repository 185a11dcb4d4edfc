//! Live events on a bad day: a database restart loses no event (the stream stays open,
//! the reader catches up from the change log, and the listener of another instance
//! reconnects by itself), and SIGTERM ends open streams cleanly.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::cluster::PgCluster;
use crate::server::{Client, Server, settings};

/// The events of one stream as they arrive: `(event name, task id, when)`; and whether
/// and how the stream ended.
#[derive(Default)]
struct Received {
    events: Vec<(String, String, Instant)>,
    ended: Option<Result<(), String>>,
}

/// Follows `GET /api/v1/tasks/events` in the background.
fn follow(server: &Server, token: &str) -> Arc<Mutex<Received>> {
    let received = Arc::new(Mutex::new(Received::default()));
    let request = server
        .http
        .get(server.url("/api/v1/tasks/events"))
        .bearer_auth(token)
        // Streams outlive the client's default request timeout.
        .timeout(Duration::from_secs(3600));
    let sink = Arc::clone(&received);
    tokio::spawn(async move {
        let mut response = match request.send().await {
            Ok(response) if response.status() == 200 => response,
            Ok(response) => {
                sink.lock().unwrap().ended = Some(Err(format!("status {}", response.status())));
                return;
            }
            Err(err) => {
                sink.lock().unwrap().ended = Some(Err(err.to_string()));
                return;
            }
        };
        let mut buffer = String::new();
        let ended = loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    buffer.push_str(&String::from_utf8_lossy(&chunk));
                    while let Some(end) = buffer.find("\n\n") {
                        let frame: String = buffer.drain(..end + 2).collect();
                        let field = |name: &str| {
                            frame
                                .lines()
                                .find_map(|l| l.strip_prefix(name))
                                .map(str::to_owned)
                        };
                        if let (Some(event), Some(data)) = (field("event: "), field("data: ")) {
                            let data: Value = serde_json::from_str(&data).expect("JSON data");
                            let id = data["id"].as_str().expect("an id").to_owned();
                            sink.lock()
                                .unwrap()
                                .events
                                .push((event, id, Instant::now()));
                        }
                    }
                }
                Ok(None) => break Ok(()),
                Err(err) => break Err(err.to_string()),
            }
        };
        sink.lock().unwrap().ended = Some(ended);
    });
    received
}

/// Creates tasks one after another until `until`: the ids acknowledged with 201, each
/// with when it was acknowledged.
async fn write_until(server: &Client, token: &str, until: Instant) -> Vec<(String, Instant)> {
    let mut acknowledged = Vec::new();
    let mut n = 0;
    while Instant::now() < until {
        n += 1;
        let answer = server
            .http
            .post(server.url("/api/v1/tasks"))
            .bearer_auth(token)
            .json(&json!({"title": format!("event {n}")}))
            .send()
            .await;
        if let Ok(answer) = answer
            && answer.status() == 201
        {
            let task: Value = answer.json().await.expect("a task");
            acknowledged.push((task["id"].as_str().unwrap().to_owned(), Instant::now()));
        }
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    acknowledged
}

/// Waits until `received` holds every id of `expected` (at most `limit`).
async fn wait_for_all(received: &Mutex<Received>, expected: &[(String, Instant)], limit: Duration) {
    let started = Instant::now();
    while started.elapsed() < limit {
        let seen = received.lock().unwrap().events.len();
        if seen >= expected.len() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every acknowledged write arrived exactly once, in the order written (writes whose
/// answer was lost may have happened too, and then arrive as well, once).
fn assert_each_once_in_order(label: &str, received: &Received, acknowledged: &[(String, Instant)]) {
    let mut times: HashMap<&str, usize> = HashMap::new();
    for (_, id, _) in &received.events {
        *times.entry(id.as_str()).or_default() += 1;
    }
    let twice: Vec<_> = times.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "{label}: events twice: {twice:?}");
    let missing: Vec<_> = acknowledged
        .iter()
        .filter(|(id, _)| !times.contains_key(id.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "{label}: {} of {} acknowledged writes never arrived",
        missing.len(),
        acknowledged.len()
    );
    let order: Vec<&str> = received
        .events
        .iter()
        .map(|(_, id, _)| id.as_str())
        .filter(|id| acknowledged.iter().any(|(a, _)| a == id))
        .collect();
    let written: Vec<&str> = acknowledged.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(order, written, "{label}: in the order written");
    assert!(
        received
            .events
            .iter()
            .all(|(event, _, _)| event == "task.created"),
        "{label}: only creations were made"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_restart_loses_no_event_on_this_instance_or_another() {
    let _serial = crate::SERIAL.lock().await;
    let Some(cluster) = PgCluster::start() else {
        return;
    };
    crate::record_run();
    cluster.create_database("taskforge").await;
    let env = settings(&cluster.url("taskforge"));
    let writer = Server::start(&env).await;
    let other = Server::start(&env).await;
    let token = writer.user("follower").await;
    let here = follow(&writer, &token);
    let there = follow(&other, &token);
    // Both streams are open before the first write.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let until = Instant::now() + Duration::from_secs(7);
    let writes = tokio::spawn({
        let (client, token) = (writer.client(), token.clone());
        async move { write_until(&client, &token, until).await }
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    let cluster = tokio::task::spawn_blocking(move || {
        cluster.restart();
        cluster
    })
    .await
    .unwrap();
    let back = Instant::now();
    let acknowledged = writes.await.unwrap();
    assert!(
        acknowledged.iter().filter(|(_, at)| *at > back).count() >= 20,
        "writes went on after the restart"
    );
    wait_for_all(&here, &acknowledged, Duration::from_secs(10)).await;
    wait_for_all(&there, &acknowledged, Duration::from_secs(10)).await;

    for (label, received) in [("same instance", &here), ("other instance", &there)] {
        let received = received.lock().unwrap();
        assert!(
            received.ended.is_none(),
            "{label}: the stream stayed open: {:?}",
            received.ended
        );
        assert_each_once_in_order(label, &received, &acknowledged);
    }
    // The other instance heard of the writes after the restart through its listener,
    // which reconnected by itself: at once, not at its once-a-second look at the log.
    let there = there.lock().unwrap();
    let mut delays: Vec<Duration> = acknowledged
        .iter()
        .filter(|(_, at)| *at > back + Duration::from_secs(1))
        .filter_map(|(id, acked)| {
            there
                .events
                .iter()
                .find(|(_, seen, _)| seen == id)
                .map(|(_, _, at)| at.saturating_duration_since(*acked))
        })
        .collect();
    delays.sort();
    let median = delays[delays.len() / 2];
    println!(
        "other instance after the restart: median delay {median:?} over {}",
        delays.len()
    );
    assert!(median < Duration::from_millis(400), "{median:?}");
    drop(cluster);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_ends_open_streams_cleanly() {
    let _serial = crate::SERIAL.lock().await;
    let Some(cluster) = PgCluster::start() else {
        return;
    };
    crate::record_run();
    cluster.create_database("taskforge").await;
    let mut env = settings(&cluster.url("taskforge"));
    env.insert("SHUTDOWN_DRAIN_MS", "500".to_owned());
    env.insert("SHUTDOWN_TIMEOUT_SECS", "10".to_owned());
    let mut server = Server::start(&env).await;
    let token = server.user("streamer").await;
    let streams: Vec<_> = (0..3).map(|_| follow(&server, &token)).collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let id = server.task(&token, "before the signal").await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    server.terminate();
    let signalled = Instant::now();
    let exit = server.exited_within(Duration::from_secs(8)).await;
    let exited_after = signalled.elapsed();
    println!("exited {exit:?} after {exited_after:?}");
    assert!(exit.is_some_and(|status| status.success()), "{exit:?}");
    // Streams end when draining starts, so they never hold up the shutdown timeout.
    assert!(exited_after < Duration::from_secs(3), "{exited_after:?}");
    for stream in streams {
        let received = stream.lock().unwrap();
        assert_eq!(received.ended, Some(Ok(())), "each stream ended cleanly");
        assert_eq!(received.events.len(), 1);
        assert_eq!(received.events[0].1, id);
    }
    drop(cluster);
}
