//! Logging: `tracing` to stdout, JSON by default when stdout is not a terminal.

use std::io::{BufWriter, IsTerminal};

use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

use crate::settings::LogFormat;

/// Room for this many bytes of JSON lines between two writes to stdout.
const LOG_BUFFER_BYTES: usize = 64 * 1024;
/// Lines that may wait for the writer thread; its queue is allocated up front, so
/// tracing-appender's default (128 000) would cost ~4 MiB of memory for nothing.
const QUEUED_LINES: usize = 8 * 1024;

/// Installs the global subscriber. `RUST_LOG` filters (default `info`, with the SQL
/// driver's per-statement logs kept quiet).
///
/// JSON lines are written by a thread of their own, through a buffer flushed whenever
/// the lines queued so far are written: one `write` per burst instead of one per
/// request on the request's thread. Keep the returned guard until exit: dropping it
/// writes what is still queued. Lines are never dropped; a stdout that cannot keep up
/// slows the requests down instead.
pub fn init(format: Option<LogFormat>) -> Option<WorkerGuard> {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn"));
    let format = format.unwrap_or(if std::io::stdout().is_terminal() {
        LogFormat::Pretty
    } else {
        LogFormat::Json
    });
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
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
            let installed = builder
                .json()
                .flatten_event(true)
                .with_current_span(true)
                .with_span_list(false)
                .with_writer(writer)
                .try_init();
            installed.ok().map(|()| guard)
        }
        LogFormat::Pretty => {
            let _ = builder.try_init();
            None
        }
    }
}
