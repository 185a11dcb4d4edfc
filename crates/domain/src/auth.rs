//! Authentication: login sessions, JWT access and refresh tokens, and password hashing.

mod model;
mod ports;
mod service;

pub use model::*;
pub use ports::*;
pub use service::*;

#[cfg(test)]
mod tests;
