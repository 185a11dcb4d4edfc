//! The Taskforge server: configuration, CLI and wiring of the domain to its adapters
//! and the HTTP layer. The binary is `main.rs`; tests start [`Application`] directly.

pub mod cli;
pub mod settings;
pub mod shared_limits;
pub mod startup;
pub mod telemetry;

pub use settings::Settings;
pub use startup::Application;
