//! The password hashing queue: bounded (503 with `Retry-After` when full, nothing
//! queued without limit), and a login completes within seconds while other requests
//! keep every core busy.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::load::{hammer, observe, percentile, report};
use crate::server::{Server, settings};

fn sqlite_url() -> (String, std::path::PathBuf) {
    let path = std::env::temp_dir().join(format!("tf-faults-{}.db", uuid::Uuid::new_v4()));
    (format!("sqlite://{}", path.display()), path)
}

fn remove(path: &std::path::Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_hashing_queue_answers_503_with_retry_after() {
    let _serial = crate::SERIAL.lock().await;
    let (url, path) = sqlite_url();
    let mut env = settings(&url);
    env.insert("BCRYPT_COST", "12".to_owned());
    env.insert("HASH_QUEUE_CAPACITY", "2".to_owned());
    let server = Arc::new(Server::start(&env).await);
    server.user("hasher").await;
    let until = Instant::now() + Duration::from_secs(3);
    let server_ = Arc::clone(&server);
    let outcomes = hammer(12, until, move |_, _| {
        let server = Arc::clone(&server_);
        async move {
            let body = json!({"email": "hasher@example.com", "password": "fault-password-1"});
            observe(
                "login",
                server
                    .http
                    .post(server.url("/api/v1/auth/login"))
                    .json(&body),
            )
            .await
        }
    })
    .await;
    report("12 clients logging in, 2 hashes at most", &outcomes);
    assert!(outcomes.iter().any(|o| o.is(200)), "logins still succeed");
    let refused: Vec<_> = outcomes.iter().filter(|o| o.is(503)).collect();
    assert!(!refused.is_empty(), "a full queue refuses");
    assert!(
        refused.iter().all(|o| o.retry_after),
        "503 carries Retry-After"
    );
    // Refused at once, not after waiting in some other queue.
    let median = percentile(&refused, 50.0);
    assert!(median < Duration::from_millis(200), "{median:?}");
    assert!(outcomes.iter().all(|o| o.is(200) || o.is(503)));
    remove(&path);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_login_completes_within_5_s_while_reads_keep_every_core_busy() {
    let _serial = crate::SERIAL.lock().await;
    let (url, path) = sqlite_url();
    let mut env = settings(&url);
    env.insert("BCRYPT_COST", "12".to_owned());
    let server = Arc::new(Server::start(&env).await);
    let token = Arc::new(server.user("reader").await);
    let task = Arc::new(server.task(&token, "read me").await);
    // Idle: how long one login takes with nothing else running.
    let body = json!({"email": "reader@example.com", "password": "fault-password-1"});
    let idle = observe(
        "login",
        server
            .http
            .post(server.url("/api/v1/auth/login"))
            .json(&body),
    )
    .await;
    assert_eq!(idle.status, Some(200));

    // Readers keep both cores busy while logins are timed one after another.
    let until = Instant::now() + Duration::from_secs(12);
    let readers = tokio::spawn({
        let (server, token, task) = (Arc::clone(&server), Arc::clone(&token), Arc::clone(&task));
        hammer(48, until, move |_, _| {
            let (server, token, task) =
                (Arc::clone(&server), Arc::clone(&token), Arc::clone(&task));
            async move {
                let url = server.url(&format!("/api/v1/tasks/{task}"));
                observe("read", server.http.get(url).bearer_auth(&*token)).await
            }
        })
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut logins = Vec::new();
    while Instant::now() + Duration::from_secs(5) < until {
        let login = observe(
            "login",
            server
                .http
                .post(server.url("/api/v1/auth/login"))
                .json(&body),
        )
        .await;
        logins.push(login);
    }
    let reads = readers.await.unwrap();
    report("reads keeping the cores busy", &reads);
    report("logins meanwhile", &logins);
    println!("one login idle: {:?}", idle.latency);
    assert!(reads.iter().all(|o| o.is(200)));
    assert!(!logins.is_empty());
    for login in &logins {
        assert_eq!(login.status, Some(200), "{}", login.body);
        assert!(
            login.latency < Duration::from_secs(5),
            "a login took {:?}",
            login.latency
        );
    }
    remove(&path);
}
