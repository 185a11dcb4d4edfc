//! Taskforge's HTTP layer: actix-web handlers, request/response DTOs, the bearer-token
//! extractor, RFC 9457 problem+json errors, middleware, and the app builder.
//!
//! This crate sees only the domain: storage and crypto arrive as domain services in
//! [`AppState`], built by the binary.

pub mod dto;
pub mod error;
pub mod extract;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod rate_limit;
pub mod routes;
pub mod state;
pub mod streams;

use actix_cors::Cors;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::{NormalizePath, from_fn};
use actix_web::{App, web};

pub use error::{ApiError, ErrorCode};
pub use metrics::Metrics;
pub use state::{AppState, DatabaseProbe, Lifecycle, PoolStats, TraceContext};

/// HTTP settings from configuration.
#[derive(Clone)]
pub struct HttpSettings {
    /// Largest accepted request body (`MAX_BODY_BYTES`).
    pub max_body_bytes: usize,
    /// Origins allowed to call cross-origin (`ALLOWED_ORIGINS`); none by default.
    pub allowed_origins: Vec<String>,
    /// The auth route groups' limiters, built once per process.
    pub rate_limits: rate_limit::RateLimits,
    /// The most a request may take before it answers 503 (`REQUEST_TIMEOUT_MS`).
    pub request_timeout: std::time::Duration,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            max_body_bytes: 64 * 1024,
            allowed_origins: Vec::new(),
            rate_limits: rate_limit::RateLimits::disabled(),
            request_timeout: std::time::Duration::from_secs(15),
        }
    }
}

/// CORS for the configured origins. Same-origin requests (a browser on `/docs` sends
/// `Origin` on POST) are always let through: they are not cross-origin.
fn cors(allowed: Vec<String>) -> Cors {
    Cors::default()
        .allowed_origin_fn(move |origin, head| {
            let Ok(origin) = origin.to_str() else {
                return false;
            };
            let same_origin = head
                .headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .is_some_and(|host| {
                    origin
                        .strip_prefix("http://")
                        .or_else(|| origin.strip_prefix("https://"))
                        == Some(host)
                });
            same_origin || allowed.iter().any(|a| a == origin)
        })
        .allow_any_method()
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_MATCH,
            header::ACCEPT,
            header::HeaderName::from_static("idempotency-key"),
            header::HeaderName::from_static("last-event-id"),
            middleware::request_context::REQUEST_ID,
        ])
        .expose_headers([
            header::ETAG,
            header::LOCATION,
            header::RETRY_AFTER,
            routes::tasks::REPLAYED,
            rate_limit::RATE_LIMIT_POLICY,
            rate_limit::RATE_LIMIT,
            middleware::request_context::REQUEST_ID,
        ])
        .max_age(600)
}

/// The whole application: routes, extractor configuration and middleware.
pub fn build_app(
    state: AppState,
    settings: HttpSettings,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(web::Data::new(state))
        .app_data(web::PayloadConfig::new(settings.max_body_bytes))
        .app_data(extract::path_config())
        .app_data(middleware::deadline::RequestTimeout(
            settings.request_timeout,
        ))
        // The router tries each path in turn: the task routes, which take most of the
        // traffic, first (no path of one group matches another's).
        .configure(routes::tasks::configure)
        .configure(routes::health::configure)
        .configure(routes::docs::configure)
        .configure(routes::metrics::configure)
        .configure(routes::auth::configure(&settings.rate_limits))
        .configure(routes::users::configure)
        // Innermost first: trailing slashes are trimmed in place (never redirected)
        // before routing; errors of everything inside are rendered as problem+json;
        // the request context wraps it all so every log line has the request id. (The
        // request deadline wraps each resource that waits on anything: see
        // `middleware::deadline`.)
        .wrap(NormalizePath::trim())
        .wrap(cors(settings.allowed_origins))
        .wrap(from_fn(middleware::problem::render_problems))
        .wrap(from_fn(middleware::request_context::request_context))
        .wrap(middleware::security_headers::security_headers())
}
