//! Users and roles: who can log in, and what they may administer.

mod model;
mod ports;
mod position;
mod service;

pub use model::*;
pub use ports::*;
pub use position::*;
pub use service::*;

#[cfg(test)]
mod tests;
