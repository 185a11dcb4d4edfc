//! The window arithmetic of every limit, in one place: a generic cell rate algorithm
//! (GCRA) over one-minute windows. `N` per minute allows a burst of `N` and then one
//! request every `60/N` seconds, so a client hammering a group gets 429 after `N`
//! requests within a minute — the semantics the limits always had. A key's whole state
//! is one number, its theoretical arrival time (TAT): the same arithmetic runs here on
//! per-instance counters and in Redis as a script (`SHARED_SCRIPT`), which mirrors
//! [`decide`] line by line.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The window every limit counts over, in microseconds.
pub const WINDOW_MICROS: u64 = 60_000_000;

/// The window in whole seconds, as the `RateLimit-Policy` header states it.
pub const WINDOW_SECS: u64 = WINDOW_MICROS / 1_000_000;

/// The spacing between two requests of a client at `limit` per minute, in microseconds.
pub fn period_micros(limit: u32) -> u64 {
    WINDOW_MICROS / u64::from(limit.max(1))
}

/// What one counted request learned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may go on.
    pub allowed: bool,
    /// Requests the client may still make right away.
    pub remaining: u32,
    /// Time until the client's whole quota is back.
    pub reset: Duration,
    /// Time until one more request is allowed (zero when this one was).
    pub retry_after: Duration,
}

/// Counts a request made at `now` (µs) against a key whose stored TAT is `tat`:
/// the decision, and the TAT to store (`None` when the request was refused, which
/// leaves the state as it was).
pub fn decide(tat: Option<u64>, now: u64, limit: u32) -> (Decision, Option<u64>) {
    let period = period_micros(limit);
    let horizon = period * u64::from(limit.max(1));
    let tat = tat.unwrap_or(now).max(now);
    let new_tat = tat + period;
    if new_tat - now > horizon {
        let decision = Decision {
            allowed: false,
            remaining: 0,
            reset: Duration::from_micros(tat - now),
            retry_after: Duration::from_micros(new_tat - now - horizon),
        };
        return (decision, None);
    }
    let remaining = (horizon - (new_tat - now)) / period;
    let decision = Decision {
        allowed: true,
        remaining: u32::try_from(remaining).unwrap_or(u32::MAX),
        reset: Duration::from_micros(new_tat - now),
        retry_after: Duration::ZERO,
    };
    (decision, Some(new_tat))
}

/// [`decide`] as a Redis script: `KEYS[1]` the counter, `ARGV[1]` the period (µs),
/// `ARGV[2]` the limit. The clock is the Redis server's (`TIME`), so every instance
/// counts on the same one. Returns `{allowed, remaining, reset_us, retry_after_us}`.
/// The key expires with the window it describes: nothing is left behind.
pub const SHARED_SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local period = tonumber(ARGV[1])
local horizon = period * tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local new_tat = tat + period
if new_tat - now > horizon then
  return {0, 0, tat - now, new_tat - now - horizon}
end
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.ceil((new_tat - now) / 1000))
return {1, math.floor((horizon - (new_tat - now)) / period), new_tat - now, 0}
";

/// Per-instance counters: the limits when no Redis is configured, and the fallback
/// while it cannot be reached.
#[derive(Debug)]
pub struct LocalCounters {
    epoch: Instant,
    state: Mutex<Tats>,
}

#[derive(Debug)]
struct Tats {
    by_key: HashMap<(&'static str, IpAddr), u64>,
    /// The size at which expired keys are next swept out: the map never holds more
    /// than twice the clients of the last minute.
    sweep_at: usize,
}

/// Below this many keys the map is never swept.
const MIN_SWEEP: usize = 4096;

impl Default for LocalCounters {
    fn default() -> Self {
        Self {
            epoch: Instant::now(),
            state: Mutex::new(Tats {
                by_key: HashMap::new(),
                sweep_at: MIN_SWEEP,
            }),
        }
    }
}

impl LocalCounters {
    /// Counts one request of `client` in `group` against `limit` per minute.
    pub fn hit(&self, group: &'static str, client: IpAddr, limit: u32) -> Decision {
        let now = u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX);
        // A panic elsewhere while holding the lock cannot leave a TAT half-written:
        // the map is still sound, so a poisoned lock is used as it is.
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if state.by_key.len() >= state.sweep_at {
            state.by_key.retain(|_, tat| *tat > now);
            state.sweep_at = (state.by_key.len() * 2).max(MIN_SWEEP);
        }
        let key = (group, client);
        let (decision, new_tat) = decide(state.by_key.get(&key).copied(), now, limit);
        if let Some(tat) = new_tat {
            state.by_key.insert(key, tat);
        }
        decision
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_the_limit_passes_and_the_next_waits_one_period() {
        let mut tat = None;
        for n in 0..5u32 {
            let (d, new) = decide(tat, 1_000, 5);
            assert!(d.allowed, "request {n}");
            assert_eq!(d.remaining, 4 - n);
            tat = new;
        }
        let (d, new) = decide(tat, 1_000, 5);
        assert!(!d.allowed);
        assert_eq!(new, None, "a refusal changes nothing");
        assert_eq!(d.retry_after, Duration::from_secs(12));
        assert_eq!(d.reset, Duration::from_secs(60));
        // One period later exactly one more request passes.
        let (d, new) = decide(tat, 1_000 + 12_000_000, 5);
        assert!(d.allowed && d.remaining == 0);
        assert!(!decide(new, 1_000 + 12_000_000, 5).0.allowed);
    }

    #[test]
    fn a_quiet_minute_gives_the_whole_quota_back() {
        let mut tat = None;
        for _ in 0..5 {
            tat = decide(tat, 0, 5).1;
        }
        let (d, _) = decide(tat, WINDOW_MICROS, 5);
        assert!(d.allowed);
        assert_eq!(d.remaining, 4);
    }

    #[test]
    fn local_counters_keep_groups_and_clients_apart() {
        let counters = LocalCounters::default();
        let a = IpAddr::from([10, 0, 0, 1]);
        let b = IpAddr::from([10, 0, 0, 2]);
        assert!(counters.hit("login", a, 1).allowed);
        assert!(!counters.hit("login", a, 1).allowed);
        assert!(counters.hit("login", b, 1).allowed);
        assert!(counters.hit("register", a, 1).allowed);
    }
}
