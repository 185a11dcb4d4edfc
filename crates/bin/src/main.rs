//! `taskforge`: with no arguments, serves the API (see `taskforge --help`).

use std::process::ExitCode;

use clap::Parser;
use taskforge::cli::{self, Cli};
use taskforge::{Settings, telemetry};

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
    telemetry::init(settings.log_format);
    match cli::run(cli, settings).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "taskforge failed");
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}
