//! Request ids and the access log: one id per request (the client's `X-Request-ID` when
//! it is 1–128 visible ASCII characters, else a fresh UUID), carried by a tracing span
//! over the whole request and echoed in the response; one log line and one metrics
//! observation per request, and a log line for a request dropped before its answer.

use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::{ConnectionType, Method};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, web};
use tracing::Instrument;
use uuid::Uuid;

use crate::error::InternalCause;
use crate::state::AppState;

/// The `X-Request-ID` header.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What the rest of the request needs to know about itself.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// The request id.
    pub id: String,
    /// The path as the client sent it (before trailing-slash normalisation).
    pub path: String,
}

/// The route label of requests that matched no route, so that scanners cannot blow up
/// log and metric cardinality.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Logs a request whose handling was dropped before it answered: its client closed
/// the connection (the server does not wait for half-closed ones) or the server
/// stopped. Such a request has no status, route or metrics observation.
struct Unanswered<'a> {
    method: &'a Method,
    started: Instant,
    span: &'a tracing::Span,
}

impl Unanswered<'_> {
    /// The request got its answer: nothing to log here.
    fn answered(self) {
        std::mem::forget(self);
    }
}

impl Drop for Unanswered<'_> {
    fn drop(&mut self) {
        let latency_ms = self.started.elapsed().as_secs_f64() * 1000.0;
        let _entered = self.span.enter();
        tracing::info!(method = %self.method, latency_ms, "request abandoned before its answer");
    }
}

fn client_request_id(req: &ServiceRequest) -> Option<String> {
    let value = req.headers().get(&REQUEST_ID)?.to_str().ok()?;
    let valid = (1..=128).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_graphic());
    valid.then(|| value.to_owned())
}

/// The outermost middleware: assigns the request id, logs the request once it is done.
pub async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let started = Instant::now();
    let id = client_request_id(&req).unwrap_or_else(|| Uuid::now_v7().to_string());
    let method = req.method().clone();
    req.extensions_mut().insert(RequestContext {
        id: id.clone(),
        path: req.path().to_owned(),
    });
    let trace = req
        .app_data::<web::Data<AppState>>()
        .and_then(|state| state.trace_context.clone());
    // The log lines carry the request id; an exported span also says what it was.
    // (A span's fields are formatted for the log as it is created: only pay for the
    // attributes when spans are exported.)
    let span = match &trace {
        Some(trace) => {
            let span = tracing::info_span!(
                "request",
                request_id = %id,
                otel.kind = "server",
                http.request.method = %method,
                http.route = tracing::field::Empty,
                http.response.status_code = tracing::field::Empty,
            );
            trace.continue_trace(req.headers(), &span);
            span
        }
        None => tracing::info_span!("request", request_id = %id),
    };
    let unanswered = Unanswered {
        method: &method,
        started,
        span: &span,
    };
    // No clone of the request may be held across `next.call`: NormalizePath rewrites
    // the path in place and needs the only reference.
    let result = next.call(req).instrument(span.clone()).await;
    unanswered.answered();
    let mut res = result?.map_into_boxed_body();
    if let Ok(value) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(REQUEST_ID, value);
    }
    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| UNMATCHED_ROUTE.to_owned());
    let status = res.status().as_u16();
    let elapsed = started.elapsed();
    let draining = match res.request().app_data::<web::Data<AppState>>() {
        Some(state) => {
            state
                .metrics
                .observe_request(&method, &route, status, elapsed);
            state.lifecycle.is_draining()
        }
        None => false,
    };
    if draining {
        // Shutting down: the client opens its next connection elsewhere (or finds
        // this server gone), rather than sending on one about to be closed.
        res.response_mut()
            .head_mut()
            .set_connection_type(ConnectionType::Close);
    }
    let latency_ms = elapsed.as_secs_f64() * 1000.0;
    if let Some(trace) = &trace {
        trace.name_span(&span, format!("{method} {route}"));
    }
    span.record("http.route", route.as_str());
    span.record("http.response.status_code", status);
    let _entered = span.enter();
    match res.response().extensions().get::<InternalCause>() {
        Some(cause) => tracing::error!(
            method = %method, route = %route, status, latency_ms, cause = %cause.0,
            "request failed"
        ),
        None => tracing::info!(method = %method, route = %route, status, latency_ms, "request"),
    }
    Ok(res)
}
