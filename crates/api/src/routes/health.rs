//! Liveness (no I/O) and readiness (the database answers).

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// The crate version reported by `/health`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// `GET /health`, `GET /health/live`: the process is up.
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok", "version": VERSION}))
}

/// `GET /health/ready`: the process can serve, i.e. the database answers.
pub async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    if state.database.is_reachable().await {
        Ok(HttpResponse::Ok().json(json!({"status": "ok", "checks": {"database": "ok"}})))
    } else {
        Err(ApiError::new(
            ErrorCode::ServiceUnavailable,
            "the database cannot be reached",
        )
        .with_extra("checks", json!({"database": "unavailable"})))
    }
}

/// Registers the health routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    // Resources (not bare routes), so another method gets 405 rather than 404.
    cfg.service(web::resource("/health").route(web::get().to(live)))
        .service(web::resource("/health/live").route(web::get().to(live)))
        .service(web::resource("/health/ready").route(web::get().to(ready)));
}
