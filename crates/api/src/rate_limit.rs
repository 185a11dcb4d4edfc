//! Per-client-IP rate limits for the auth route groups (login, register, refresh,
//! logout, password reset), with actix-governor, and the client-IP rule they key on
//! (also what a new session records as its `ip`). A group's limiter is built once per process and
//! shared by every worker and by the group's compatibility routes.
//!
//! Governor is a GCRA limiter: `N/min` allows a burst of `N` and then one request
//! every `60/N` seconds, so a client hammering a group gets 429 after `N` requests
//! within a minute. Counters live in this process; behind a load balancer each
//! instance limits on its own.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_governor::governor::NotUntil;
use actix_governor::governor::clock::{Clock, DefaultClock, QuantaInstant};
use actix_governor::governor::middleware::NoOpMiddleware;
use actix_governor::{
    GovernorConfig, GovernorConfigBuilder, KeyExtractor, SimpleKeyExtractionError,
};
use actix_web::dev::ServiceRequest;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder};

use crate::error::ErrorCode;

/// Limits from configuration.
#[derive(Debug, Clone)]
pub struct RateLimitSettings {
    /// `RATE_LIMIT_ENABLED`.
    pub enabled: bool,
    /// Requests per minute for login (JSON and form alike).
    pub login_per_min: u32,
    /// Requests per minute for register/signup.
    pub register_per_min: u32,
    /// Requests per minute for refresh.
    pub refresh_per_min: u32,
    /// Requests per minute for logout.
    pub logout_per_min: u32,
    /// Requests per minute for password reset requests (`RATE_LIMIT_RESET_PER_MIN`).
    pub reset_per_min: u32,
    /// Peers whose `X-Forwarded-For` is believed (`TRUSTED_PROXIES`).
    pub trusted_proxies: Vec<IpAddr>,
}

/// The client address of a request: the peer, unless the peer is a trusted proxy, in
/// which case the nearest address in `X-Forwarded-For` that is not itself a trusted proxy.
#[derive(Debug, Clone)]
pub struct ClientIp {
    trusted_proxies: Arc<Vec<IpAddr>>,
}

impl ClientIp {
    /// The client address of `req` by the rule above; `None` when not over TCP.
    pub fn of(&self, req: &HttpRequest) -> Option<IpAddr> {
        let peer = req.peer_addr()?.ip();
        if !self.trusted_proxies.contains(&peer) {
            return Some(peer);
        }
        let forwarded = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|ip| ip.trim().parse::<IpAddr>().ok())
            .collect::<Vec<_>>();
        Some(
            forwarded
                .into_iter()
                .rev()
                .find(|ip| !self.trusted_proxies.contains(ip))
                .unwrap_or(peer),
        )
    }
}

impl KeyExtractor for ClientIp {
    type Key = IpAddr;
    type KeyExtractionError = SimpleKeyExtractionError<&'static str>;

    fn extract(&self, req: &ServiceRequest) -> Result<IpAddr, Self::KeyExtractionError> {
        // Without a peer address (not over TCP) there is nobody to limit: one shared bucket.
        Ok(self.of(req.request()).unwrap_or(IpAddr::from([0, 0, 0, 0])))
    }

    fn exceed_rate_limit_response(
        &self,
        negative: &NotUntil<QuantaInstant>,
        mut response: HttpResponseBuilder,
    ) -> HttpResponse {
        let wait = negative
            .wait_time_from(DefaultClock::default().now())
            .as_secs_f64()
            .ceil() as u64;
        let retry_after = wait.clamp(1, 60);
        let code = ErrorCode::RateLimited;
        let mut res = response
            .insert_header((header::RETRY_AFTER, retry_after.to_string()))
            .finish();
        res.extensions_mut().insert(crate::error::Problem {
            code,
            detail: format!("too many requests; retry in {retry_after} s"),
            errors: Vec::new(),
            extra: None,
        });
        res
    }
}

/// One route group's limiter.
pub type GroupLimit = Option<GovernorConfig<ClientIp, NoOpMiddleware>>;

/// The four groups' limiters (absent when limits are off).
#[derive(Clone)]
pub struct RateLimits {
    /// Login (JSON and form, every alias).
    pub login: GroupLimit,
    /// Register and signup, every alias.
    pub register: GroupLimit,
    /// Refresh.
    pub refresh: GroupLimit,
    /// Logout.
    pub logout: GroupLimit,
    /// Password reset requests.
    pub reset: GroupLimit,
    /// The client-IP rule, for handlers that record the address.
    pub client_ip: ClientIp,
}

impl RateLimits {
    /// Builds the limiters once per process.
    pub fn new(settings: &RateLimitSettings) -> Self {
        let key = ClientIp {
            trusted_proxies: Arc::new(settings.trusted_proxies.clone()),
        };
        let group = |per_min: u32| -> GroupLimit {
            if !settings.enabled {
                return None;
            }
            let per_min = per_min.max(1);
            GovernorConfigBuilder::default()
                .period(Duration::from_secs(60) / per_min)
                .burst_size(per_min)
                .key_extractor(key.clone())
                .finish()
        };
        Self {
            login: group(settings.login_per_min),
            register: group(settings.register_per_min),
            refresh: group(settings.refresh_per_min),
            logout: group(settings.logout_per_min),
            reset: group(settings.reset_per_min),
            client_ip: key,
        }
    }

    /// No limits at all.
    pub fn disabled() -> Self {
        Self {
            login: None,
            register: None,
            refresh: None,
            logout: None,
            reset: None,
            client_ip: ClientIp {
                trusted_proxies: Arc::new(Vec::new()),
            },
        }
    }
}
