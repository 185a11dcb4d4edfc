//! Tasks: what users track, with ownership and optimistic concurrency.

mod changes;
mod events;
mod model;
mod position;
mod ports;
mod service;

pub use changes::*;
pub use events::*;
pub use model::*;
pub use position::*;
pub use ports::*;
pub use service::*;

#[cfg(test)]
mod tests;
