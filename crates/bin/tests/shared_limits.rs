//! The limits kept in Redis against a real `redis-server` the test starts on a free
//! port, stops and starts again: the rate limits' script counts the window of
//! `gcra::decide`, keys expire with their window, and an outage — a Redis gone, or one
//! that accepts connections and never answers — costs at most one deadline, falls back
//! to per-instance counters, and ends without a restart; event stream leases hold the
//! limit for every instance, and run out unless renewed.
//!
//! Needs `redis-server` (a failure when missing, unless `TASKFORGE_SKIP_CLUSTER` is set).

use std::net::IpAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use taskforge::shared_limits::RedisCounters;
use taskforge_api::rate_limit::gcra::{self, Decision};
use taskforge_api::rate_limit::{Counters, SharedCounters, SharedLink, SharedMetrics};
use taskforge_api::streams::SharedStreams;
use uuid::Uuid;

/// The gauge and counter a [`Counters`] updates, from a registry of their own.
fn metrics() -> SharedMetrics {
    taskforge_api::Metrics::new()
        .expect("metrics")
        .rate_limits()
}

const TIMEOUT: Duration = Duration::from_millis(200);

/// Counters in `store`, each call bounded by [`TIMEOUT`], shown by `metrics`.
fn shared(store: Arc<RedisCounters>, metrics: SharedMetrics) -> Counters {
    Counters::shared(store, Arc::new(SharedLink::new(TIMEOUT, metrics)))
}

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

    /// How many milliseconds `key` has left to live.
    async fn pttl(&self, key: &str) -> i64 {
        let client = redis::Client::open(self.url()).expect("a client");
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .expect("a connection");
        redis::cmd("PTTL")
            .arg(key)
            .query_async(&mut conn)
            .await
            .expect("PTTL")
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

    let ttl = redis.pttl("taskforge:rate:test:a").await;
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
    let counters = shared(store, m.clone());
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
    let counters = shared(store, m.clone());
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

#[tokio::test]
async fn stream_leases_hold_the_limit_and_run_out_unless_renewed() {
    let Some(redis) = Redis::start(free_port()).await else {
        return;
    };
    // Two instances' stores on one Redis.
    let one = RedisCounters::new(&redis.url(), TIMEOUT).expect("a Redis URL");
    let two = RedisCounters::new(&redis.url(), TIMEOUT).expect("a Redis URL");
    let (user, other) = (Uuid::new_v4(), Uuid::new_v4());
    let long = Duration::from_secs(60);
    let leases: Vec<Uuid> = (0..3).map(|_| Uuid::new_v4()).collect();
    assert!(one.open(user, leases[0], 2, long).await.expect("an answer"));
    assert!(two.open(user, leases[1], 2, long).await.expect("an answer"));
    assert!(
        !one.open(user, leases[2], 2, long).await.expect("an answer"),
        "a third lease over a limit of 2"
    );
    assert!(
        two.open(other, Uuid::new_v4(), 2, long)
            .await
            .expect("an answer"),
        "another user has places of their own"
    );
    two.close(user, leases[0]).await.expect("closed");
    assert!(
        one.open(user, leases[2], 2, long).await.expect("an answer"),
        "a closed lease frees its place, whichever instance closes it"
    );

    // Short leases: one renewed keeps its place, one not renewed frees it.
    let (kept, lapsed) = (Uuid::new_v4(), Uuid::new_v4());
    let short = Duration::from_secs(1);
    let third = Uuid::new_v4();
    assert!(one.open(third, kept, 2, short).await.expect("an answer"));
    assert!(one.open(third, lapsed, 2, short).await.expect("an answer"));
    assert!(
        !one.open(third, Uuid::new_v4(), 2, short)
            .await
            .expect("an answer")
    );
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        one.renew(third, kept, short).await.expect("renewed");
    }
    assert!(
        one.open(third, Uuid::new_v4(), 2, short)
            .await
            .expect("an answer"),
        "the lapsed lease ran out"
    );
    assert!(
        !one.open(third, Uuid::new_v4(), 2, short)
            .await
            .expect("an answer"),
        "the renewed one still counts"
    );

    // A lease that ran out is taken again by its renewal: its stream is still open.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    one.renew(third, lapsed, long).await.expect("renewed");
    assert!(
        one.open(third, Uuid::new_v4(), 2, long)
            .await
            .expect("an answer")
    );
    assert!(
        !one.open(third, Uuid::new_v4(), 2, long)
            .await
            .expect("an answer")
    );

    let ttl = redis.pttl(&format!("taskforge:streams:{third}")).await;
    assert!(
        (59_000..=60_000).contains(&ttl),
        "the key lives as long as its newest lease: {ttl} ms"
    );
}
