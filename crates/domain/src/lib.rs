//! Taskforge's domain: users, roles, sessions and tasks, with the rules that govern them.
//!
//! This crate knows nothing of HTTP, SQL, async runtimes or cryptography. It defines
//! validated value objects (invalid data cannot be constructed), the ports its
//! services need ([`user::UserRepository`], [`task::TaskRepository`],
//! [`auth::SessionRepository`], [`auth::PasswordHasher`], [`auth::TokenService`],
//! [`clock::Clock`], [`ids::IdSource`]) and the use-case services built on them
//! ([`user::UserService`], [`task::TaskService`], [`auth::AuthService`]).
//!
//! Features:
//! - `mocks`: a `mockall` mock of every port (`MockUserRepository`, ...).
//! - `testing`: everything a service or adapter test needs without a database
//!   (`testing::InMemoryStore` and its repositories, which keep the same contract as
//!   the SQL adapters; `FixedClock`; `SequentialIds`; builders of users and tasks;
//!   plain-text stand-ins for the hasher and the token service). Implies `mocks`.
//! - `serde`: serde derives on the value enums.
//!
//! ```
//! # #[cfg(feature = "testing")] {
//! use taskforge_domain::testing::Fixture;
//! # }
//! ```

#![warn(missing_docs)]

pub mod auth;
pub mod clock;
mod error;
pub mod idempotency;
pub mod ids;
pub mod mail;
pub mod page;
pub mod task;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod user;

pub use error::{DomainError, FieldError, Validator};

#[cfg(test)]
mod tests;
