//! The limits every instance shares, in Redis (`REDIS_URL`): the rate limits' counters
//! (one script call per limited request, run atomically by Redis with the arithmetic of
//! `taskforge_api::rate_limit::gcra`) and the leases of open event streams
//! (`taskforge_api::streams`), a sorted set per user of lease ids scored by when each
//! runs out, on Redis's clock.

use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, Script};
use taskforge_api::rate_limit::gcra::{SHARED_SCRIPT, period_micros};
use taskforge_api::rate_limit::{Decision, SharedCounters, SharedCountersError};
use taskforge_api::streams::SharedStreams;
use uuid::Uuid;

/// Removes the user's run-out leases; takes lease `ARGV[1]` for `ARGV[3]` ms when fewer
/// than `ARGV[2]` remain. The key lives as long as its newest lease.
const OPEN_STREAM: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
";

/// Lease `ARGV[1]` runs out `ARGV[2]` ms from now, taken again if it had run out.
const RENEW_STREAM: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
";

/// The key of a user's stream leases.
fn streams_key(user: Uuid) -> String {
    format!("taskforge:streams:{user}")
}

fn millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

fn store_error(error: &redis::RedisError) -> SharedCountersError {
    SharedCountersError(error.to_string())
}

/// Counters in one Redis, over a connection manager that reconnects by itself.
pub struct RedisCounters {
    connection: ConnectionManager,
    script: Script,
    open_stream: Script,
    renew_stream: Script,
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
            open_stream: Script::new(OPEN_STREAM),
            renew_stream: Script::new(RENEW_STREAM),
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
            .map_err(|e| store_error(&e))?;
        Ok(Decision {
            allowed: allowed == 1,
            remaining,
            reset: Duration::from_micros(reset),
            retry_after: Duration::from_micros(retry_after),
        })
    }
}

#[async_trait]
impl SharedStreams for RedisCounters {
    async fn open(
        &self,
        user: Uuid,
        id: Uuid,
        max: usize,
        ttl: Duration,
    ) -> Result<bool, SharedCountersError> {
        let taken: u8 = self
            .open_stream
            .key(streams_key(user))
            .arg(id.to_string())
            .arg(max)
            .arg(millis(ttl))
            .invoke_async(&mut self.connection.clone())
            .await
            .map_err(|e| store_error(&e))?;
        Ok(taken == 1)
    }

    async fn renew(&self, user: Uuid, id: Uuid, ttl: Duration) -> Result<(), SharedCountersError> {
        let _: u8 = self
            .renew_stream
            .key(streams_key(user))
            .arg(id.to_string())
            .arg(millis(ttl))
            .invoke_async(&mut self.connection.clone())
            .await
            .map_err(|e| store_error(&e))?;
        Ok(())
    }

    async fn close(&self, user: Uuid, id: Uuid) -> Result<(), SharedCountersError> {
        let _: u8 = redis::cmd("ZREM")
            .arg(streams_key(user))
            .arg(id.to_string())
            .query_async(&mut self.connection.clone())
            .await
            .map_err(|e| store_error(&e))?;
        Ok(())
    }
}
