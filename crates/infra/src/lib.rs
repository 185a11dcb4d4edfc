//! Taskforge's adapters: the domain's ports implemented with real technology.
//!
//! - [`db::connect`] opens a SeaORM pool on PostgreSQL or SQLite, tuned for each.
//! - [`SeaUserRepository`], [`SeaTaskRepository`], [`SeaSessionRepository`] implement the
//!   repository ports with SeaORM, one statement or one transaction per call, the same
//!   on both databases; every operation the domain needs to be atomic runs in one
//!   database transaction (or one conditional statement) here.
//! - [`postgres`] is the PostgreSQL fast path: the same ports with connections kept
//!   between statements and the statements of concurrent requests batched.
//! - [`BcryptHasher`] hashes passwords on its own low-priority pool; [`JwtTokenService`]
//!   signs and verifies HMAC JWTs; [`SystemClock`] reads the wall clock;
//!   [`TimeOrderedIds`] makes UUID v7 ids.
//!
//! The SeaORM entities stay private: nothing outside this crate sees a table layout.

pub mod changes;
pub mod clock;
pub mod db;
mod entities;
mod error;
pub mod ids;
pub mod jwt;
mod like;
pub mod live;
pub mod login_throttle_repository;
pub mod mail;
pub mod one_time_tokens;
mod paging;
pub mod password;
pub mod password_reset_repository;
pub mod postgres;
mod purge;
pub mod session_repository;
mod sqlite_hold;
pub mod task_repository;
pub mod user_repository;

pub use changes::{SeaIdempotencyRepository, SeaTaskChangeLog};
pub use clock::SystemClock;
pub use ids::TimeOrderedIds;
pub use jwt::JwtTokenService;
pub use login_throttle_repository::SeaLoginThrottle;
pub use one_time_tokens::RandomTokens;
pub use password::BcryptHasher;
pub use password_reset_repository::SeaPasswordResetRepository;
pub use session_repository::SeaSessionRepository;
pub use task_repository::SeaTaskRepository;
pub use user_repository::SeaUserRepository;
