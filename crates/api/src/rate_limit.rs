//! Per-client-IP rate limits for the auth route groups (login, register, refresh,
//! logout, password reset), and the client-IP rule they key on (also what a new
//! session records as its `ip`). Each group's limit is built once per process and shared by every worker
//! and by the group's compatibility routes. The arithmetic is in [`gcra`]; the counters
//! live in this process, or in Redis shared by every instance ([`shared`]).
//!
//! Every response of a limited route carries `RateLimit-Policy` and `RateLimit`
//! (draft-ietf-httpapi-ratelimit-headers): `"login";q=5;w=60` and
//! `"login";r=<remaining>;t=<seconds until the quota is whole again>`.

pub mod client_ip;
pub mod gcra;
pub mod shared;

use std::net::IpAddr;
use std::sync::Arc;

use actix_web::body::BoxBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpResponse};

pub use client_ip::ClientIp;
pub use gcra::Decision;
pub use shared::{Counters, SharedCounters, SharedCountersError, SharedLink, SharedMetrics};

use crate::error::{ErrorCode, Problem};

/// `RateLimit-Policy`: the group's quota and window.
pub const RATE_LIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
/// `RateLimit`: what is left of the quota and when it is whole again.
pub const RATE_LIMIT: HeaderName = HeaderName::from_static("ratelimit");

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

/// One route group's limit.
#[derive(Clone)]
pub struct GroupLimit {
    /// The group's name: the policy name in the headers and part of the counter's key.
    name: &'static str,
    limit: u32,
    policy: HeaderValue,
    client_ip: ClientIp,
    counters: Arc<Counters>,
}

impl GroupLimit {
    /// Counts `req` against the group; a request over the limit gets 429 with
    /// `Retry-After` and never reaches the handler.
    pub async fn check(
        &self,
        req: ServiceRequest,
        next: Next<BoxBody>,
    ) -> Result<ServiceResponse<BoxBody>, Error> {
        let client = self.client_ip.of(&req);
        let decision = self.counters.hit(self.name, client, self.limit).await;
        let mut res = if decision.allowed {
            next.call(req).await?
        } else {
            req.into_response(self.refusal(&decision))
        };
        let headers = res.headers_mut();
        headers.insert(RATE_LIMIT_POLICY, self.policy.clone());
        let state = format!(
            "\"{}\";r={};t={}",
            self.name,
            decision.remaining,
            whole_seconds(decision.reset)
        );
        if let Ok(value) = HeaderValue::from_str(&state) {
            headers.insert(RATE_LIMIT, value);
        }
        Ok(res)
    }

    fn refusal(&self, decision: &Decision) -> HttpResponse {
        let retry_after = whole_seconds(decision.retry_after).clamp(1, gcra::WINDOW_SECS);
        let mut res = HttpResponse::TooManyRequests()
            .insert_header((header::RETRY_AFTER, retry_after.to_string()))
            .finish();
        res.extensions_mut().insert(Problem {
            code: ErrorCode::RateLimited,
            detail: format!("too many requests; retry in {retry_after} s"),
            errors: Vec::new(),
            extra: None,
        });
        res
    }
}

/// A duration in whole seconds, rounded up: a client that waits this long is served.
fn whole_seconds(d: std::time::Duration) -> u64 {
    d.as_micros()
        .div_ceil(1_000_000)
        .try_into()
        .unwrap_or(u64::MAX)
}

/// The groups' limits (absent when limits are off), and the client-IP rule.
#[derive(Clone)]
pub struct RateLimits {
    /// Login (JSON and form, every alias).
    pub login: Option<GroupLimit>,
    /// Register and signup, every alias.
    pub register: Option<GroupLimit>,
    /// Refresh.
    pub refresh: Option<GroupLimit>,
    /// Logout.
    pub logout: Option<GroupLimit>,
    /// Password reset requests.
    pub reset: Option<GroupLimit>,
    /// The client-IP rule, for handlers that record the address (on even when the
    /// limits are off).
    pub client_ip: ClientIp,
}

impl RateLimits {
    /// The limits of `settings`, counted in `counters` (one set per process).
    pub fn new(settings: &RateLimitSettings, counters: Counters) -> Self {
        let client_ip = ClientIp::new(settings.trusted_proxies.clone());
        if !settings.enabled {
            return Self {
                client_ip,
                ..Self::disabled()
            };
        }
        let counters = Arc::new(counters);
        let group = |name: &'static str, per_min: u32| {
            let limit = per_min.max(1);
            Some(GroupLimit {
                name,
                limit,
                policy: HeaderValue::from_str(&format!(
                    "\"{name}\";q={limit};w={}",
                    gcra::WINDOW_SECS
                ))
                .unwrap_or_else(|_| HeaderValue::from_static("")),
                client_ip: client_ip.clone(),
                counters: counters.clone(),
            })
        };
        Self {
            login: group("login", settings.login_per_min),
            register: group("register", settings.register_per_min),
            refresh: group("refresh", settings.refresh_per_min),
            logout: group("logout", settings.logout_per_min),
            reset: group("reset", settings.reset_per_min),
            client_ip,
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
            client_ip: ClientIp::new(Vec::new()),
        }
    }
}
