//! Liveness (no I/O) and readiness (the database answers).

use actix_web::{HttpResponse, web};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::middleware::deadline::bounded;
use crate::state::AppState;

/// The crate version reported by `/health`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Liveness: the process is up (no I/O).
#[derive(Serialize, ToSchema)]
pub struct LiveResponse {
    /// Always `ok`.
    #[schema(example = "ok")]
    pub status: &'static str,
    /// The server version.
    #[schema(example = "0.1.0")]
    pub version: &'static str,
}

/// Readiness: the database answers.
#[derive(Serialize, ToSchema)]
pub struct ReadyResponse {
    /// Always `ok`.
    #[schema(example = "ok")]
    pub status: &'static str,
    /// Per dependency: `ok`.
    #[schema(example = json!({"database": "ok"}))]
    pub checks: serde_json::Value,
}

/// `GET /health`: the process is up.
#[utoipa::path(get, path = "/health", tag = "health", responses((status = 200, description = "Alive", body = LiveResponse)))]
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(LiveResponse {
        status: "ok",
        version: VERSION,
    })
}

/// `GET /health/live`: the same as `/health`.
#[utoipa::path(get, path = "/health/live", tag = "health", responses((status = 200, description = "Alive", body = LiveResponse)))]
pub async fn live_probe() -> HttpResponse {
    live().await
}

/// `GET /health/ready`: the process can serve, i.e. it is not shutting down and the
/// database answers.
#[utoipa::path(get, path = "/health/ready", tag = "health", responses(
    (status = 200, description = "Ready", body = ReadyResponse),
    (status = 503, description = "The database cannot be reached (`checks.database` is `unavailable`), or the server is shutting down (`checks.server` is `draining`)"),
))]
pub async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    if state.lifecycle.is_draining() {
        // First thing on SIGTERM: a load balancer stops sending new requests here
        // while the ones in flight finish.
        return Err(ApiError::unavailable("the server is shutting down")
            .with_extra("checks", json!({"server": "draining"})));
    }
    if state.database.is_reachable().await {
        Ok(HttpResponse::Ok().json(ReadyResponse {
            status: "ok",
            checks: json!({"database": "ok"}),
        }))
    } else {
        Err(ApiError::unavailable("the database cannot be reached")
            .with_extra("checks", json!({"database": "unavailable"})))
    }
}

/// Registers the health routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    // Resources (not bare routes), so another method gets 405 rather than 404.
    cfg.service(web::resource("/health").route(web::get().to(live)))
        .service(web::resource("/health/live").route(web::get().to(live_probe)))
        .service(bounded(
            web::resource("/health/ready").route(web::get().to(ready)),
        ));
}
