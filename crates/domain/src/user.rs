//! Users and roles: who can log in, and what they may administer.

mod model;
mod position;
mod ports;
mod service;

pub use model::*;
pub use position::*;
pub use ports::*;
pub use service::*;

#[cfg(test)]
mod tests;
