//! `taskforge`: with no arguments, serves the API (see `taskforge --help`).

use std::process::ExitCode;

use clap::Parser;
use taskforge::cli::{self, Cli};
use taskforge::{Settings, telemetry};

// Every request allocates and frees many small buffers, across threads (a pooled
// connection's buffers move between tasks): mimalloc's per-thread free lists do that
// in a fraction of glibc malloc's time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load() {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("{err}");
            return ExitCode::from(2);
        }
    };
    // Held to the end of `main`: dropping it writes the log lines still queued and
    // sends the spans not yet exported.
    let _telemetry = telemetry::init(
        settings.log_format,
        settings.otlp_endpoint.as_deref(),
        &settings.otel_service_name,
    );
    match cli::run(cli, settings).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "taskforge failed");
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}
