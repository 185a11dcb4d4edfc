//! The rate limits' shared counters in Redis (`REDIS_URL`): one script call per
//! limited request, run atomically by Redis with the arithmetic of
//! `taskforge_api::rate_limit::gcra`.

use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, Script};
use taskforge_api::rate_limit::gcra::{SHARED_SCRIPT, period_micros};
use taskforge_api::rate_limit::{Decision, SharedCounters, SharedCountersError};

/// Counters in one Redis, over a connection manager that reconnects by itself.
pub struct RedisCounters {
    connection: ConnectionManager,
    script: Script,
}

impl RedisCounters {
    /// Prepares the connection without opening it: an instance starts, and counts on
    /// its own, while Redis is down. Every connection attempt and every command is
    /// bounded by `timeout`.
    ///
    /// # Errors
    /// Redis's error when `url` is not a usable Redis URL (its text never includes
    /// the URL).
    pub fn new(url: &str, timeout: Duration) -> Result<Self, redis::RedisError> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            // A failed command triggers a reconnect in the background; the request
            // that saw the failure has already fallen back, so retries only need to
            // be few and quick.
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(10))
            .set_max_delay(Duration::from_millis(100));
        let connection = ConnectionManager::new_lazy_with_config(Client::open(url)?, config)?;
        Ok(Self {
            connection,
            script: Script::new(SHARED_SCRIPT),
        })
    }
}

#[async_trait]
impl SharedCounters for RedisCounters {
    async fn hit(&self, key: &str, limit: u32) -> Result<Decision, SharedCountersError> {
        let mut connection = self.connection.clone();
        let (allowed, remaining, reset, retry_after): (u8, u32, u64, u64) = self
            .script
            .key(key)
            .arg(period_micros(limit))
            .arg(limit.max(1))
            .invoke_async(&mut connection)
            .await
            .map_err(|e| SharedCountersError(e.to_string()))?;
        Ok(Decision {
            allowed: allowed == 1,
            remaining,
            reset: Duration::from_micros(reset),
            retry_after: Duration::from_micros(retry_after),
        })
    }
}
