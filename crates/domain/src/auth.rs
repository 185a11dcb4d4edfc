//! Authentication: login sessions, JWT access and refresh tokens, password hashing,
//! the per-account login throttle and password reset by mail.

mod model;
mod ports;
mod reset;
mod service;
pub mod throttle;

pub use model::*;
pub use ports::*;
pub use reset::*;
pub use service::*;

#[cfg(test)]
mod tests;
