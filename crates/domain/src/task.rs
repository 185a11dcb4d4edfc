//! Tasks: what users track, with ownership and optimistic concurrency.

mod changes;
mod events;
mod model;
mod ports;
mod position;
mod service;

pub use changes::*;
pub use events::*;
pub use model::*;
pub use ports::*;
pub use position::*;
pub use service::*;

#[cfg(test)]
mod tests;
