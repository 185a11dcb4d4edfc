//! Span export over OpenTelemetry's OTLP/HTTP (JSON), and W3C trace context.
//!
//! Spans are batched and posted by the SDK's batch processor from a thread of its own,
//! through reqwest's blocking client (it must not depend on the server's runtime), to
//! `OTEL_EXPORTER_OTLP_ENDPOINT` + `/v1/traces`. A request that arrives with a
//! `traceparent` header continues that trace: its `request` span becomes a child of
//! the caller's span, and every span under it (services, adapters, the batches that
//! served it, linked) shares the trace id.

use std::time::Duration;

use actix_web::http::header::HeaderMap;
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{Protocol, SpanExporter, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider};
use tracing::Level;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::registry::LookupSpan;

/// How long one export may take before it is given up.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long spans may wait to be sent together.
const EXPORT_DELAY: Duration = Duration::from_millis(500);
/// Spans that may wait for export; beyond it new spans are dropped, never the server
/// slowed down.
const MAX_QUEUED_SPANS: usize = 4096;

/// The spans exported: Taskforge's own — requests (`info`), services, adapters and
/// batches (`debug`, so that they cost nothing while no span is exported) — whatever
/// `RUST_LOG` says about logging.
pub fn spans_filter() -> Targets {
    Targets::new()
        .with_target("taskforge", Level::DEBUG)
        .with_target("taskforge_api", Level::DEBUG)
        .with_target("taskforge_domain", Level::DEBUG)
        .with_target("taskforge_infra", Level::DEBUG)
}

/// The tracer provider; dropping it (at exit) sends what is still queued.
pub struct Exporter {
    provider: SdkTracerProvider,
}

impl Exporter {
    /// An exporter to `endpoint` (`http://collector:4318`, the OTLP/HTTP base).
    ///
    /// # Errors
    /// A message when the exporter cannot be built (a malformed endpoint, say).
    pub fn new(endpoint: &str, service_name: &str) -> Result<Self, String> {
        // reqwest's blocking client owns a runtime, which must not be built on (or
        // dropped from) a thread of the server's: build it on a thread of its own.
        let client = std::thread::spawn(|| {
            reqwest::blocking::Client::builder()
                .timeout(EXPORT_TIMEOUT)
                .build()
        })
        .join()
        .map_err(|_| "the HTTP client could not be built".to_owned())?
        .map_err(|err| err.to_string())?;
        let exporter = SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpJson)
            .with_endpoint(format!("{}/v1/traces", endpoint.trim_end_matches('/')))
            .with_timeout(EXPORT_TIMEOUT)
            .with_http_client(BlockingClient(client))
            .build()
            .map_err(|err| err.to_string())?;
        let processor = BatchSpanProcessor::builder(exporter)
            .with_batch_config(
                BatchConfigBuilder::default()
                    .with_max_queue_size(MAX_QUEUED_SPANS)
                    .with_scheduled_delay(EXPORT_DELAY)
                    .build(),
            )
            .build();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_resource(
                Resource::builder()
                    .with_service_name(service_name.to_owned())
                    .build(),
            )
            .build();
        Ok(Self { provider })
    }

    /// The `tracing` layer that turns spans into exported ones.
    pub fn layer<S>(&self) -> impl Layer<S> + use<S>
    where
        S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    {
        tracing_opentelemetry::layer().with_tracer(self.provider.tracer("taskforge"))
    }

    /// Sends every span queued so far.
    pub fn flush(&self) {
        if let Err(err) = self.provider.force_flush() {
            eprintln!("traces could not be flushed: {err}");
        }
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        if let Err(err) = self.provider.shutdown() {
            eprintln!("traces could not be sent at exit: {err}");
        }
    }
}

/// W3C Trace Context for the request spans (`taskforge_api::TraceContext`).
#[derive(Debug, Default)]
pub struct W3cTraceContext {
    propagator: TraceContextPropagator,
}

impl taskforge_api::TraceContext for W3cTraceContext {
    fn continue_trace(&self, headers: &HeaderMap, span: &tracing::Span) {
        if !headers.contains_key("traceparent") {
            return;
        }
        let parent = self.propagator.extract(&Headers(headers));
        // Fails only if the span was already entered, which the caller rules out.
        let _ = span.set_parent(parent);
    }

    fn name_span(&self, span: &tracing::Span, name: String) {
        span.context().span().update_name(name);
    }
}

/// actix-web's headers as an OpenTelemetry carrier.
struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|name| name.as_str()).collect()
    }
}

/// reqwest's blocking client as the exporter's HTTP client.
#[derive(Debug, Clone)]
struct BlockingClient(reqwest::blocking::Client);

#[async_trait::async_trait]
impl HttpClient for BlockingClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let (parts, body) = request.into_parts();
        let response = self
            .0
            .request(parts.method, parts.uri.to_string())
            .headers(parts.headers)
            .body(body.to_vec())
            .send()?;
        let status = response.status();
        let body = response.bytes()?;
        Ok(Response::builder().status(status).body(body)?)
    }
}
