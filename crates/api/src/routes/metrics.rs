//! The Prometheus scrape endpoint.

use actix_web::{HttpResponse, web};

use crate::error::ApiError;
use crate::metrics::CONTENT_TYPE;
use crate::state::AppState;

/// `GET /metrics`: every metric in the Prometheus text format, the pool gauges read
/// at scrape time.
#[utoipa::path(get, path = "/metrics", tag = "health", responses((status = 200,
    description = "`http_requests_total`, `http_request_duration_seconds` (by method, route template, status) \
        `db_pool_connections` (by state: idle, in_use, max), `taskforge_rate_limit_shared` (1 while Redis holds the limits) and `taskforge_rate_limit_fallback_total`",
    content_type = "text/plain; version=0.0.4", body = String)))]
pub async fn metrics(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let text = state
        .metrics
        .render(state.database.pool_stats())
        .map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok().content_type(CONTENT_TYPE).body(text))
}

/// Registers the metrics route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    // A resource (not a bare route), so another method gets 405 rather than 404.
    cfg.service(web::resource("/metrics").route(web::get().to(metrics)));
}
