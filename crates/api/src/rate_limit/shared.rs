//! Counters shared by every instance (Redis, when `REDIS_URL` is set), and what happens
//! while they cannot be reached: each instance counts on its own, says so once in the
//! log and in `/metrics`, and goes back to the shared counters as soon as they answer —
//! never a 5xx because of them.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use prometheus::{IntCounter, IntGauge};

use super::gcra::{Decision, LocalCounters};

/// Why the shared counters gave no answer.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SharedCountersError(pub String);

/// Counters every instance sees, implemented by the binary (over Redis).
#[async_trait]
pub trait SharedCounters: Send + Sync {
    /// Counts one request under `key` against `limit` per minute, with the arithmetic
    /// of [`super::gcra::decide`], in one atomic round trip.
    ///
    /// # Errors
    /// [`SharedCountersError`] when the store cannot be reached or answers nonsense; the
    /// caller then counts locally.
    async fn hit(&self, key: &str, limit: u32) -> Result<Decision, SharedCountersError>;
}

/// How long after a failure the shared counters are left alone: during an outage a
/// request costs no wait at all, and at most one request per interval finds out
/// whether they are back.
const RETRY_INTERVAL: Duration = Duration::from_secs(1);

/// Where the shared counters stand.
const UNKNOWN: u8 = 0;
const UP: u8 = 1;
const DOWN: u8 = 2;

/// The gauge and counter that show the fallback in `/metrics`.
#[derive(Clone)]
pub struct SharedMetrics {
    /// 1 while the last call to the shared counters answered, else 0.
    pub shared: IntGauge,
    /// Requests counted per instance because the shared counters did not answer.
    pub fallbacks: IntCounter,
}

/// Calls to the shared store (Redis) with their deadline and outage bookkeeping, one
/// for every limit kept there: the rate limits' counters and the event streams'
/// leases (`crate::streams`).
pub struct SharedLink {
    timeout: Duration,
    state: AtomicU8,
    /// Microseconds since `epoch` before which the store is not tried again.
    retry_at: AtomicU64,
    epoch: Instant,
    metrics: SharedMetrics,
}

impl SharedLink {
    /// A link whose every call is bounded by `timeout`; `metrics` shows its state.
    pub fn new(timeout: Duration, metrics: SharedMetrics) -> Self {
        metrics.shared.set(0);
        Self {
            timeout,
            state: AtomicU8::new(UNKNOWN),
            retry_at: AtomicU64::new(0),
            epoch: Instant::now(),
            metrics,
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    /// What `call` answers, or `None` when the store is resting after a failure or
    /// fails now: the caller then decides on this instance's own.
    pub(crate) async fn call<T>(
        &self,
        call: impl Future<Output = Result<T, SharedCountersError>>,
    ) -> Option<T> {
        if self.state.load(Ordering::Relaxed) == DOWN
            && self.now() < self.retry_at.load(Ordering::Relaxed)
        {
            return None;
        }
        let outcome = match tokio::time::timeout(self.timeout, call).await {
            Ok(outcome) => outcome,
            Err(_) => Err(SharedCountersError(format!(
                "no answer within {} ms",
                self.timeout.as_millis()
            ))),
        };
        match outcome {
            Ok(answer) => {
                if self.state.swap(UP, Ordering::Relaxed) != UP {
                    tracing::info!(
                        "rate limits: shared counters answer; limits hold across every instance"
                    );
                }
                self.metrics.shared.set(1);
                Some(answer)
            }
            Err(error) => {
                let retry_at =
                    self.now() + u64::try_from(RETRY_INTERVAL.as_micros()).unwrap_or(u64::MAX);
                self.retry_at.store(retry_at, Ordering::Relaxed);
                // One warning per outage: only the call that finds them down says so.
                if self.state.swap(DOWN, Ordering::Relaxed) != DOWN {
                    tracing::warn!(%error, "rate limits: shared counters unreachable; each instance counts on its own until they answer");
                }
                self.metrics.shared.set(0);
                None
            }
        }
    }

    /// Counts one decision this instance made alone because the store did not answer.
    pub(crate) fn fell_back(&self) {
        self.metrics.fallbacks.inc();
    }
}

/// Every limited request's counters: shared when configured and reachable, else local.
pub struct Counters {
    local: LocalCounters,
    shared: Option<(Arc<dyn SharedCounters>, Arc<SharedLink>)>,
}

impl Counters {
    /// Counters of this instance only.
    pub fn local() -> Self {
        Self {
            local: LocalCounters::default(),
            shared: None,
        }
    }

    /// Counters in `store`, called through `link`, falling back to this instance's own
    /// counters while `store` fails.
    pub fn shared(store: Arc<dyn SharedCounters>, link: Arc<SharedLink>) -> Self {
        Self {
            local: LocalCounters::default(),
            shared: Some((store, link)),
        }
    }

    /// Counts one request of `client` in `group` against `limit` per minute.
    pub async fn hit(&self, group: &'static str, client: IpAddr, limit: u32) -> Decision {
        if let Some((store, link)) = &self.shared {
            let key = format!("taskforge:rate:{group}:{client}");
            if let Some(decision) = link.call(store.hit(&key, limit)).await {
                return decision;
            }
            link.fell_back();
        }
        self.local.hit(group, client, limit)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::AtomicUsize;

    use super::*;

    /// A store that fails while `down` is set and otherwise allows everything,
    /// counting its calls.
    #[derive(Default)]
    struct FlakyStore {
        down: Mutex<bool>,
        hang: Mutex<bool>,
        calls: AtomicUsize,
    }

    #[async_trait]
    impl SharedCounters for FlakyStore {
        async fn hit(&self, _key: &str, _limit: u32) -> Result<Decision, SharedCountersError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if *self.hang.lock().unwrap() {
                std::future::pending::<()>().await;
            }
            if *self.down.lock().unwrap() {
                return Err(SharedCountersError("connection refused".into()));
            }
            Ok(Decision {
                allowed: true,
                remaining: 99,
                reset: Duration::ZERO,
                retry_after: Duration::ZERO,
            })
        }
    }

    fn metrics() -> SharedMetrics {
        SharedMetrics {
            shared: IntGauge::new("g", "g").unwrap(),
            fallbacks: IntCounter::new("c", "c").unwrap(),
        }
    }

    fn link(metrics: SharedMetrics) -> Arc<SharedLink> {
        Arc::new(SharedLink::new(Duration::from_millis(50), metrics))
    }

    #[tokio::test]
    async fn an_outage_falls_back_locally_rests_and_recovers_without_a_restart() {
        let store = Arc::new(FlakyStore::default());
        let m = metrics();
        let counters = Counters::shared(store.clone(), link(m.clone()));
        let ip = IpAddr::from([10, 0, 0, 1]);
        assert_eq!(counters.hit("login", ip, 2).await.remaining, 99);
        assert_eq!(m.shared.get(), 1);

        *store.down.lock().unwrap() = true;
        // Local counting at limit 2: two pass, the third is refused.
        assert!(counters.hit("login", ip, 2).await.allowed);
        assert_eq!(m.shared.get(), 0);
        let calls = store.calls.load(Ordering::SeqCst);
        assert!(counters.hit("login", ip, 2).await.allowed);
        assert!(!counters.hit("login", ip, 2).await.allowed);
        assert_eq!(
            store.calls.load(Ordering::SeqCst),
            calls,
            "resting: not tried again"
        );
        assert_eq!(m.fallbacks.get(), 3);

        *store.down.lock().unwrap() = false;
        tokio::time::sleep(RETRY_INTERVAL + Duration::from_millis(50)).await;
        assert_eq!(
            counters.hit("login", ip, 2).await.remaining,
            99,
            "shared again"
        );
        assert_eq!(m.shared.get(), 1);
    }

    #[tokio::test]
    async fn a_store_that_never_answers_costs_one_deadline() {
        let store = Arc::new(FlakyStore::default());
        *store.hang.lock().unwrap() = true;
        let counters = Counters::shared(store.clone(), link(metrics()));
        let ip = IpAddr::from([10, 0, 0, 1]);
        let started = Instant::now();
        assert!(counters.hit("login", ip, 5).await.allowed);
        assert!(counters.hit("login", ip, 5).await.allowed);
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(50) && took < Duration::from_millis(500),
            "{took:?}"
        );
    }
}
