//! Taskforge's adapters: the domain's ports implemented with real technology.
//!
//! - [`db::connect`] opens a SeaORM pool on PostgreSQL or SQLite, tuned for each.
//! - [`SeaUserRepository`], [`SeaTaskRepository`], [`SeaSessionRepository`] implement the
//!   repository ports with SeaORM; every operation the domain needs to be atomic runs in
//!   one database transaction (or one conditional statement) here.
//! - [`BcryptHasher`] hashes passwords on its own low-priority pool; [`JwtTokenService`]
//!   signs and verifies HMAC JWTs; [`SystemClock`] reads the wall clock.
//!
//! The SeaORM entities stay private: nothing outside this crate sees a table layout.

pub mod clock;
pub mod db;
mod entities;
mod error;
pub mod jwt;
mod like;
pub mod password;
mod session_lookup;
pub mod session_repository;
mod task_columns;
mod task_inserts;
pub mod task_repository;
mod task_updates;
pub mod user_repository;

pub use clock::SystemClock;
pub use jwt::JwtTokenService;
pub use password::BcryptHasher;
pub use session_repository::SeaSessionRepository;
pub use task_repository::SeaTaskRepository;
pub use user_repository::SeaUserRepository;
