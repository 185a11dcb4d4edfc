//! Authentication: login sessions, JWT access and refresh tokens, and password hashing.

pub mod model;
pub mod ports;
pub mod service;

pub use model::*;
pub use ports::*;
pub use service::*;

#[cfg(test)]
mod tests;
