//! How many event streams each user holds open, and the limit on them
//! (`EVENTS_MAX_STREAMS_PER_USER`).
//!
//! With a shared store (Redis, `REDIS_URL`) the limit holds across every instance: each
//! open stream holds a lease there that its heartbeat renews, so the stream of an
//! instance that died stops counting once its lease runs out ([`LEASE_HEARTBEATS`]
//! heartbeats). While the store cannot be reached each instance counts its own
//! streams, as the rate limits do (`crate::rate_limit::shared`): never a 5xx because of
//! it. Without a store the limit is per instance.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use actix_web::http::header;
use async_trait::async_trait;
use uuid::Uuid;

use crate::error::{ApiError, ErrorCode};
use crate::rate_limit::{SharedCountersError, SharedLink};

/// What a client over its stream limit is told to wait, in seconds.
const RETRY_STREAM_AFTER_SECS: u32 = 5;

/// A lease lasts this many heartbeats: a stream whose renewal failed once or twice
/// still counts.
pub const LEASE_HEARTBEATS: u32 = 3;

/// Stream settings (`EVENTS_HEARTBEAT_SECS`, `EVENTS_MAX_STREAMS_PER_USER`).
#[derive(Debug, Clone, Copy)]
pub struct StreamSettings {
    /// How often a quiet stream sends a comment line, checks the session again and
    /// renews its lease.
    pub heartbeat: Duration,
    /// The most streams one user may have open (on every instance together when the
    /// limit is shared).
    pub max_per_user: usize,
}

impl Default for StreamSettings {
    fn default() -> Self {
        Self {
            heartbeat: Duration::from_secs(15),
            max_per_user: 5,
        }
    }
}

/// Leases of open streams that every instance sees, implemented by the binary (over
/// Redis). A lease is named by its user and an id of its own, and lasts `ttl` unless
/// renewed.
#[async_trait]
pub trait SharedStreams: Send + Sync {
    /// Takes lease `id` of `user` when fewer than `max` of the user's leases are
    /// unexpired, in one atomic step: whether it was taken.
    ///
    /// # Errors
    /// [`SharedCountersError`] when the store cannot be reached.
    async fn open(
        &self,
        user: Uuid,
        id: Uuid,
        max: usize,
        ttl: Duration,
    ) -> Result<bool, SharedCountersError>;

    /// Extends lease `id` by `ttl`, taking it again if it ran out meanwhile (its
    /// stream is still open, so it counts).
    ///
    /// # Errors
    /// [`SharedCountersError`] when the store cannot be reached.
    async fn renew(&self, user: Uuid, id: Uuid, ttl: Duration) -> Result<(), SharedCountersError>;

    /// Gives lease `id` back.
    ///
    /// # Errors
    /// [`SharedCountersError`] when the store cannot be reached (the lease then runs
    /// out by itself).
    async fn close(&self, user: Uuid, id: Uuid) -> Result<(), SharedCountersError>;
}

/// The streams open in this process per user, and the limit on them.
pub struct Streams {
    settings: StreamSettings,
    open: Mutex<HashMap<Uuid, usize>>,
    shared: Option<(Arc<dyn SharedStreams>, Arc<SharedLink>)>,
}

impl Streams {
    /// A limit per instance.
    pub fn new(settings: StreamSettings) -> Self {
        Self {
            settings,
            open: Mutex::default(),
            shared: None,
        }
    }

    /// A limit across every instance, kept in `store` through `link` (per instance
    /// while the store does not answer).
    pub fn shared(
        settings: StreamSettings,
        store: Arc<dyn SharedStreams>,
        link: Arc<SharedLink>,
    ) -> Self {
        Self {
            shared: Some((store, link)),
            ..Self::new(settings)
        }
    }

    /// The settings.
    pub fn settings(&self) -> StreamSettings {
        self.settings
    }

    /// How many streams are open in this process.
    pub fn open(&self) -> usize {
        self.local().values().sum()
    }

    fn local(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, usize>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lease_ttl(&self) -> Duration {
        self.settings.heartbeat * LEASE_HEARTBEATS
    }

    /// A place for one more stream of `user`, or 429.
    pub(crate) async fn admit(self: &Arc<Self>, user: Uuid) -> Result<StreamPermit, ApiError> {
        let id = Uuid::new_v4();
        let max = self.settings.max_per_user;
        let shared = match &self.shared {
            Some((store, link)) => {
                let answer = link.call(store.open(user, id, max, self.lease_ttl())).await;
                if answer.is_none() {
                    link.fell_back();
                }
                answer
            }
            None => None,
        };
        let mut open = self.local();
        let count = open.entry(user).or_default();
        // The store's answer when it gave one, else this instance's own count.
        if !shared.unwrap_or(*count < max) {
            if *count == 0 {
                open.remove(&user);
            }
            return Err(ApiError::new(
                ErrorCode::RateLimited,
                format!("at most {max} event streams per user; close one first"),
            )
            .with_header(header::RETRY_AFTER, &RETRY_STREAM_AFTER_SECS.to_string()));
        }
        *count += 1;
        Ok(StreamPermit {
            streams: Arc::clone(self),
            user,
            id,
        })
    }
}

/// One open stream; closing it (dropping this) frees its place.
pub(crate) struct StreamPermit {
    streams: Arc<Streams>,
    user: Uuid,
    /// Its lease in the shared store. A stream admitted while the store was away
    /// takes its lease at its first renewal after the store is back.
    id: Uuid,
}

impl StreamPermit {
    /// Renews the stream's lease, if the limit is shared; a failure is left to the
    /// next heartbeat (the lease outlives a few).
    pub(crate) async fn renew(&self) {
        if let Some((store, link)) = &self.streams.shared {
            link.call(store.renew(self.user, self.id, self.streams.lease_ttl()))
                .await;
        }
    }
}

impl Drop for StreamPermit {
    fn drop(&mut self) {
        {
            let mut open = self.streams.local();
            if let Some(count) = open.get_mut(&self.user) {
                *count -= 1;
                if *count == 0 {
                    open.remove(&self.user);
                }
            }
        }
        if let (Some((store, link)), Ok(runtime)) =
            (&self.streams.shared, tokio::runtime::Handle::try_current())
        {
            let (store, link, user, id) = (store.clone(), link.clone(), self.user, self.id);
            runtime.spawn(async move { link.call(store.close(user, id)).await });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use actix_web::ResponseError;
    use prometheus::{IntCounter, IntGauge};

    use super::*;
    use crate::rate_limit::SharedMetrics;

    /// Leases in memory, with no expiry (the Redis tests cover it), that fail while
    /// `down` is set.
    #[derive(Default)]
    struct Leases {
        held: Mutex<BTreeMap<Uuid, Vec<Uuid>>>,
        down: Mutex<bool>,
    }

    impl Leases {
        fn check(&self) -> Result<(), SharedCountersError> {
            if *self.down.lock().unwrap() {
                return Err(SharedCountersError("connection refused".into()));
            }
            Ok(())
        }

        fn held(&self, user: Uuid) -> usize {
            self.held.lock().unwrap().get(&user).map_or(0, Vec::len)
        }
    }

    #[async_trait]
    impl SharedStreams for Leases {
        async fn open(
            &self,
            user: Uuid,
            id: Uuid,
            max: usize,
            _ttl: Duration,
        ) -> Result<bool, SharedCountersError> {
            self.check()?;
            let mut held = self.held.lock().unwrap();
            let leases = held.entry(user).or_default();
            if leases.len() >= max {
                return Ok(false);
            }
            leases.push(id);
            Ok(true)
        }

        async fn renew(
            &self,
            user: Uuid,
            id: Uuid,
            _ttl: Duration,
        ) -> Result<(), SharedCountersError> {
            self.check()?;
            let mut held = self.held.lock().unwrap();
            let leases = held.entry(user).or_default();
            if !leases.contains(&id) {
                leases.push(id);
            }
            Ok(())
        }

        async fn close(&self, user: Uuid, id: Uuid) -> Result<(), SharedCountersError> {
            self.check()?;
            if let Some(leases) = self.held.lock().unwrap().get_mut(&user) {
                leases.retain(|lease| *lease != id);
            }
            Ok(())
        }
    }

    fn settings() -> StreamSettings {
        StreamSettings {
            heartbeat: Duration::from_secs(15),
            max_per_user: 2,
        }
    }

    fn metrics() -> SharedMetrics {
        SharedMetrics {
            shared: IntGauge::new("g", "g").unwrap(),
            fallbacks: IntCounter::new("c", "c").unwrap(),
        }
    }

    fn shared(store: &Arc<Leases>, metrics: SharedMetrics) -> Arc<Streams> {
        let link = Arc::new(SharedLink::new(Duration::from_millis(50), metrics));
        Arc::new(Streams::shared(settings(), store.clone(), link))
    }

    /// Lets the lease returns that dropped permits spawned run.
    async fn settle() {
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn the_limit_holds_per_user_and_a_closed_stream_frees_its_place() {
        let streams = Arc::new(Streams::new(settings()));
        let (user, other) = (Uuid::new_v4(), Uuid::new_v4());
        let first = streams.admit(user).await.unwrap();
        let _second = streams.admit(user).await.unwrap();
        let refused = streams.admit(user).await.err().expect("a third is refused");
        assert_eq!(refused.status_code().as_u16(), 429);
        let _theirs = streams.admit(other).await.unwrap();
        assert_eq!(streams.open(), 3);
        drop(first);
        assert_eq!(streams.open(), 2);
        let _again = streams.admit(user).await.unwrap();
    }

    #[tokio::test]
    async fn the_shared_store_decides_for_every_instance() {
        let store = Arc::new(Leases::default());
        // Two instances on one store: one stream on each, a third on either is refused.
        let (one, two) = (shared(&store, metrics()), shared(&store, metrics()));
        let user = Uuid::new_v4();
        let on_one = one.admit(user).await.unwrap();
        let _on_two = two.admit(user).await.unwrap();
        assert_eq!(store.held(user), 2);
        assert!(one.admit(user).await.is_err());
        assert!(two.admit(user).await.is_err());
        assert_eq!(one.open() + two.open(), 2, "a refusal holds no place");

        drop(on_one);
        settle().await;
        assert_eq!(store.held(user), 1, "the lease is given back");
        let _on_two_again = two.admit(user).await.unwrap();
        assert_eq!(two.open(), 2);
    }

    #[tokio::test]
    async fn while_the_store_is_away_each_instance_counts_its_own_and_leases_follow() {
        let store = Arc::new(Leases::default());
        let m = metrics();
        let (one, two) = (shared(&store, m.clone()), shared(&store, metrics()));
        let user = Uuid::new_v4();
        let _held = one.admit(user).await.unwrap();
        assert_eq!(m.shared.get(), 1);

        *store.down.lock().unwrap() = true;
        // Instance two counts alone: its limit of 2 holds, no error but the 429.
        let on_two = [
            two.admit(user).await.unwrap(),
            two.admit(user).await.unwrap(),
        ];
        assert_eq!(
            two.admit(user).await.err().unwrap().status_code().as_u16(),
            429
        );
        let _on_one = one.admit(user).await.unwrap();
        assert_eq!(m.shared.get(), 0);
        assert_eq!(m.fallbacks.get(), 1);

        *store.down.lock().unwrap() = false;
        tokio::time::sleep(Duration::from_millis(1100)).await;
        // Renewals bring the streams admitted meanwhile into the store, so the shared
        // limit sees them.
        for permit in &on_two {
            permit.renew().await;
        }
        assert_eq!(store.held(user), 3);
        assert!(one.admit(user).await.is_err(), "four open, the limit is 2");
    }
}
