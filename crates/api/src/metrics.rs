//! Prometheus metrics: request counts and latencies per route template, and the
//! database pool's connections. One [`Metrics`] per process, with its own registry
//! (not the crate-global default, so tests and embedders can run several servers in one
//! process), shared by every worker through [`crate::AppState`].

use std::time::Duration;

use actix_web::http::Method;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

use crate::state::PoolStats;

/// The `Content-Type` of the text exposition format.
pub const CONTENT_TYPE: &str = prometheus::TEXT_FORMAT;

/// Latency buckets in seconds: from half a millisecond (a health check) to ten seconds
/// (a request stuck waiting for a pool connection).
const DURATION_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The label values of the request metrics.
const REQUEST_LABELS: &[&str] = &["method", "route", "status"];

/// The process's metrics and the registry that exposes them.
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    duration: HistogramVec,
    pool: IntGaugeVec,
    rate_limits: crate::rate_limit::SharedMetrics,
    mail: IntCounterVec,
}

impl Metrics {
    /// Creates the metrics and registers them in a fresh registry.
    ///
    /// # Errors
    /// The registry's error should a metric be refused (only possible if its name or
    /// labels were invalid, which a test rules out).
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests handled."),
            REQUEST_LABELS,
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "Time from receiving an HTTP request to having its response, in seconds.",
            )
            .buckets(DURATION_BUCKETS.to_vec()),
            REQUEST_LABELS,
        )?;
        let pool = IntGaugeVec::new(
            Opts::new(
                "db_pool_connections",
                "Database pool connections: idle, in use, and the pool's maximum.",
            ),
            &["state"],
        )?;
        let mail = IntCounterVec::new(
            Opts::new(
                "mail_messages_total",
                "Outgoing mail by outcome: sent, retried (one failed attempt), failed (given up), dropped (queue full).",
            ),
            &["outcome"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        registry.register(Box::new(pool.clone()))?;
        let rate_limits = crate::rate_limit::SharedMetrics {
            shared: IntGauge::new(
                "taskforge_rate_limit_shared",
                "1 while rate-limit counters are shared by every instance (Redis answers), \
                 0 while this instance counts on its own.",
            )?,
            fallbacks: IntCounter::new(
                "taskforge_rate_limit_fallback_total",
                "Limited requests counted by this instance alone because Redis did not answer.",
            )?,
        };
        registry.register(Box::new(rate_limits.shared.clone()))?;
        registry.register(Box::new(rate_limits.fallbacks.clone()))?;
        registry.register(Box::new(mail.clone()))?;
        // Every outcome shows from the start, at 0, so an alert on a rate has a series.
        for outcome in ["sent", "retried", "failed", "dropped"] {
            mail.with_label_values(&[outcome]);
        }
        Ok(Self {
            registry,
            requests,
            duration,
            pool,
            rate_limits,
            mail,
        })
    }

    /// Records one finished request. `route` must be a route template (or the
    /// unmatched-route constant), never a raw path, to keep label cardinality bounded.
    pub fn observe_request(&self, method: &Method, route: &str, status: u16, elapsed: Duration) {
        let status = status.to_string();
        let labels = [method_label(method), route, status.as_str()];
        self.requests.with_label_values(&labels).inc();
        self.duration
            .with_label_values(&labels)
            .observe(elapsed.as_secs_f64());
    }

    /// The rate limits' gauge and counter, for the shared counters to keep up to date.
    pub fn rate_limits(&self) -> crate::rate_limit::SharedMetrics {
        self.rate_limits.clone()
    }

    /// Counts one outgoing mail outcome (`sent`, `retried`, `failed`, `dropped`).
    pub fn count_mail(&self, outcome: &str) {
        self.mail.with_label_values(&[outcome]).inc();
    }

    /// Sets the pool gauges to `stats` and renders every metric in the text format.
    ///
    /// # Errors
    /// The encoder's error (it only fails on malformed metric families).
    pub fn render(&self, stats: PoolStats) -> Result<String, prometheus::Error> {
        for (state, value) in [
            ("idle", stats.idle),
            ("in_use", stats.in_use),
            ("max", stats.max),
        ] {
            self.pool.with_label_values(&[state]).set(i64::from(value));
        }
        let mut buf = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buf)?;
        String::from_utf8(buf).map_err(|e| prometheus::Error::Msg(e.to_string()))
    }
}

/// The method as a label value; methods outside the standard set share `other`, since
/// actix accepts any token as a method and scanners would otherwise add label values.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_register_and_render_every_family() {
        let metrics = Metrics::new().expect("the metrics register");
        metrics.observe_request(
            &Method::GET,
            "/api/v1/tasks/{id}",
            404,
            Duration::from_millis(3),
        );
        let text = metrics
            .render(PoolStats {
                idle: 2,
                in_use: 1,
                max: 5,
            })
            .expect("the metrics render");
        assert!(text.contains(
            r#"http_requests_total{method="GET",route="/api/v1/tasks/{id}",status="404"} 1"#
        ));
        assert!(text.contains(
            r#"http_request_duration_seconds_bucket{method="GET",route="/api/v1/tasks/{id}",status="404",le="0.005"} 1"#
        ));
        assert!(text.contains(r#"db_pool_connections{state="idle"} 2"#));
        assert!(text.contains(r#"db_pool_connections{state="in_use"} 1"#));
        assert!(text.contains(r#"db_pool_connections{state="max"} 5"#));
    }

    #[test]
    fn unknown_methods_share_one_label() {
        let method = Method::from_bytes(b"BREW").expect("a valid token");
        assert_eq!(method_label(&method), "other");
        assert_eq!(method_label(&Method::DELETE), "DELETE");
    }
}
