//! The rate limits' Redis counters against a real `redis-server` the test starts on a
//! free port, stops and starts again: the script's window is the one of
//! `gcra::decide`, keys expire with their window, and an outage — a Redis gone, or one
//! that accepts connections and never answers — costs at most one deadline, falls back
//! to per-instance counters, and ends without a restart.
//!
//! Needs `redis-server` (a failure when missing, unless `TASKFORGE_SKIP_CLUSTER` is set).

use std::net::IpAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use taskforge::shared_limits::RedisCounters;
use taskforge_api::rate_limit::gcra::{self, Decision};
use taskforge_api::rate_limit::{Counters, SharedCounters, SharedMetrics};

/// The gauge and counter a [`Counters`] updates, from a registry of their own.
fn metrics() -> SharedMetrics {
    taskforge_api::Metrics::new()
        .expect("metrics")
        .rate_limits()
}

const TIMEOUT: Duration = Duration::from_millis(200);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A `redis-server` of the test's own, killed when dropped.
struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    /// Starts one on `port`, or `None` when redis-server is not installed and the
    /// test may be skipped.
    async fn start(port: u16) -> Option<Self> {
        let child = match Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
        {
            Ok(child) => child,
            Err(e) if std::env::var_os("TASKFORGE_SKIP_CLUSTER").is_some() => {
                eprintln!("skipped: redis-server: {e}");
                return None;
            }
            Err(e) => panic!("redis-server is needed (apt-get install redis-server): {e}"),
        };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "redis-server starts"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Some(Self { child, port })
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn the_script_counts_the_same_window_as_one_instance_and_keys_expire() {
    let Some(redis) = Redis::start(free_port()).await else {
        return;
    };
    let store = RedisCounters::new(&redis.url(), TIMEOUT).expect("a Redis URL");
    let mut tat = None;
    let now = 0;
    for n in 0..6 {
        let shared = store
            .hit("taskforge:rate:test:a", 5)
            .await
            .expect("an answer");
        let (local, new_tat) = gcra::decide(tat, now, 5);
        tat = new_tat.or(tat);
        assert_eq!(shared.allowed, local.allowed, "request {n}");
        assert_eq!(shared.remaining, local.remaining, "request {n}");
        // The server's clock moved a little between the calls: within 50 ms.
        let near = |a: Duration, b: Duration| a.abs_diff(b) < Duration::from_millis(50);
        assert!(near(shared.reset, local.reset), "{shared:?} vs {local:?}");
        assert!(
            near(shared.retry_after, local.retry_after),
            "{shared:?} vs {local:?}"
        );
    }
    // Another key has a budget of its own.
    assert!(
        store
            .hit("taskforge:rate:test:b", 5)
            .await
            .expect("an answer")
            .allowed
    );

    let client = redis::Client::open(redis.url()).expect("a client");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("a connection");
    let ttl: i64 = redis::cmd("PTTL")
        .arg("taskforge:rate:test:a")
        .query_async(&mut conn)
        .await
        .expect("PTTL");
    assert!(
        (59_000..=60_000).contains(&ttl),
        "the key lives as long as its window: {ttl} ms"
    );
}

fn allowed(decision: Decision) -> bool {
    decision.allowed
}

#[tokio::test]
async fn redis_stopped_falls_back_within_the_deadline_and_restarted_is_shared_again() {
    let port = free_port();
    let Some(redis) = Redis::start(port).await else {
        return;
    };
    let m = metrics();
    let store = Arc::new(RedisCounters::new(&redis.url(), TIMEOUT).expect("a Redis URL"));
    let counters = Counters::shared(store, TIMEOUT, m.clone());
    let ip = IpAddr::from([192, 0, 2, 1]);
    assert!(allowed(counters.hit("login", ip, 3).await));
    assert_eq!(m.shared.get(), 1);

    redis.stop();
    let started = Instant::now();
    // Shared: 1 of 3 spent. Local: a fresh budget of 3, then 429.
    let outage: Vec<bool> = {
        let mut v = Vec::new();
        for _ in 0..4 {
            v.push(allowed(counters.hit("login", ip, 3).await));
        }
        v
    };
    let took = started.elapsed();
    assert_eq!(outage, [true, true, true, false], "per-instance counting");
    assert!(
        took < TIMEOUT + Duration::from_millis(300),
        "one deadline at most: {took:?}"
    );
    assert_eq!(m.shared.get(), 0);
    assert_eq!(m.fallbacks.get(), 4);

    let _redis = Redis::start(port).await.expect("redis-server restarts");
    let started = Instant::now();
    let other = IpAddr::from([192, 0, 2, 2]);
    while m.shared.get() != 1 {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "shared again within 5 s"
        );
        counters.hit("login", other, 1000).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("shared again {:?} after Redis came back", started.elapsed());
    // The restarted Redis is empty: the client has its whole shared budget again.
    for _ in 0..3 {
        assert!(allowed(counters.hit("login", ip, 3).await));
    }
    assert!(!allowed(counters.hit("login", ip, 3).await));
}

#[tokio::test]
async fn a_redis_that_never_answers_costs_one_deadline() {
    // Accepts connections and reads nothing: every command waits for ever.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a listener");
    let port = listener.local_addr().expect("an address").port();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let m = metrics();
    let store = Arc::new(
        RedisCounters::new(&format!("redis://127.0.0.1:{port}/0"), TIMEOUT).expect("a Redis URL"),
    );
    let counters = Counters::shared(store, TIMEOUT, m.clone());
    let ip = IpAddr::from([192, 0, 2, 3]);
    let started = Instant::now();
    for _ in 0..5 {
        assert!(allowed(counters.hit("login", ip, 5).await));
    }
    let took = started.elapsed();
    assert!(
        took >= TIMEOUT && took < TIMEOUT * 3,
        "one deadline, then no waiting while Redis rests: {took:?}"
    );
    assert_eq!(m.shared.get(), 0);
    silent.abort();
}
