//! Taskforge's domain: users, roles, sessions and tasks, with the rules that govern them.
//!
//! This crate knows nothing of HTTP, SQL, async runtimes or cryptography. It defines
//! validated value objects (invalid data cannot be constructed), the ports its
//! services need (`UserRepository`, `TaskRepository`, `SessionRepository`,
//! `PasswordHasher`, `TokenService`, `Clock`) and the use-case services built on them.
//!
//! With the `mocks` feature every port has a `mockall` mock (`MockUserRepository`, ...),
//! so other services can test against this crate without a database.

pub mod auth;
pub mod clock;
pub mod error;
pub mod page;
pub mod task;
pub mod user;

pub use error::{DomainError, FieldError};

#[cfg(test)]
mod tests;
