//! Logs and traces: `tracing` to stdout (JSON by default when stdout is not a
//! terminal) and, when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, every span exported over
//! OTLP/HTTP with the caller's W3C trace context continued (see [`otel`]).

use std::io::{BufWriter, IsTerminal};

use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

use crate::settings::LogFormat;

pub mod otel;

/// Room for this many bytes of JSON lines between two writes to stdout.
const LOG_BUFFER_BYTES: usize = 64 * 1024;
/// Lines that may wait for the writer thread; its queue is allocated up front, so
/// tracing-appender's default (128 000) would cost ~4 MiB of memory for nothing.
const QUEUED_LINES: usize = 8 * 1024;

/// What must live until exit: dropping it writes the log lines still queued and sends
/// the spans not yet exported.
pub struct Telemetry {
    _log_writer: Option<WorkerGuard>,
    traces: Option<otel::Exporter>,
}

impl Telemetry {
    /// Sends the spans still queued (tests call this before reading what arrived).
    pub fn flush(&self) {
        if let Some(traces) = &self.traces {
            traces.flush();
        }
    }
}

/// The log layer: JSON lines written by a thread of their own (see [`init`]), or
/// human-readable lines.
fn log_layer<S>(format: LogFormat) -> (Box<dyn Layer<S> + Send + Sync>, Option<WorkerGuard>)
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    match format {
        LogFormat::Json => {
            let (writer, guard) = NonBlockingBuilder::default()
                .lossy(false)
                .buffered_lines_limit(QUEUED_LINES)
                .thread_name("taskforge-log")
                .finish(BufWriter::with_capacity(
                    LOG_BUFFER_BYTES,
                    std::io::stdout(),
                ));
            let layer = tracing_subscriber::fmt::layer()
                .json()
                .flatten_event(true)
                .with_current_span(true)
                .with_span_list(false)
                .with_writer(writer);
            (layer.boxed(), Some(guard))
        }
        LogFormat::Pretty => (tracing_subscriber::fmt::layer().boxed(), None),
    }
}

/// Installs the global subscriber. `RUST_LOG` filters (default `info`, with the SQL
/// driver's per-statement logs kept quiet). With `otlp_endpoint`, spans also go to
/// `<endpoint>/v1/traces`; without it no span is exported and nothing is paid for it.
///
/// JSON lines are written by a thread of their own, through a buffer flushed whenever
/// the lines queued so far are written: one `write` per burst instead of one per
/// request on the request's thread. Lines are never dropped; a stdout that cannot keep
/// up slows the requests down instead.
pub fn init(
    format: Option<LogFormat>,
    otlp_endpoint: Option<&str>,
    service_name: &str,
) -> Telemetry {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn"));
    let format = format.unwrap_or(if std::io::stdout().is_terminal() {
        LogFormat::Pretty
    } else {
        LogFormat::Json
    });
    let traces = otlp_endpoint.and_then(|endpoint| {
        otel::Exporter::new(endpoint, service_name)
            .inspect_err(|err| eprintln!("traces are not exported: {err}"))
            .ok()
    });
    let installed = match &traces {
        // Each layer filters for itself: `RUST_LOG` decides what is logged, not which
        // spans are exported (a quiet log must not silence the traces).
        Some(traces) => {
            let base = tracing_subscriber::registry()
                .with(traces.layer().with_filter(otel::spans_filter()));
            let (log, writer) = log_layer(format);
            base.with(log.with_filter(filter))
                .try_init()
                .map(|()| writer)
        }
        // One global filter: a span or event nobody wants is not even created (the
        // services' and adapters' spans are `debug`), which per-layer filters cost.
        None => {
            let base = tracing_subscriber::registry().with(filter);
            let (log, writer) = log_layer(format);
            base.with(log).try_init().map(|()| writer)
        }
    };
    let log_writer = installed.ok().flatten();
    Telemetry {
        _log_writer: log_writer,
        traces,
    }
}
