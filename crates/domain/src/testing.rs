//! Everything a test of the domain's services, or of another adapter of its ports,
//! needs without a database (the `testing` feature).
//!
//! - [`InMemoryStore`]: users, tasks and sessions in memory, behind the repository
//!   ports ([`InMemoryStore::users`], [`InMemoryStore::tasks`], [`InMemoryStore::sessions`]),
//!   keeping the same contract as the SQL adapters: the same conflicts, the same
//!   not-found cases, the same list order and paging, deletes that cascade. The
//!   adapter contract suite of `taskforge-infra` runs against these too.
//! - [`FixedClock`]: a clock that stands still until told to move.
//! - [`SequentialIds`]: ids in a fixed, increasing sequence.
//! - [`UserBuilder`], [`TaskBuilder`]: valid users and tasks in one line.
//! - [`PlainHasher`], [`PlainTokens`]: fast, transparent stand-ins for the password
//!   hasher and the token service. **Insecure by design**: for tests only.
//! - [`RecordingMailer`], [`PlainOneTimeTokens`]: a mailer that keeps what it is
//!   given, and predictable reset tokens (insecure by design).
//! - [`Fixture`]: all of the above wired into the services.

mod builders;
mod clock;
mod crypto;
mod fixture;
mod ids;
mod mail;
mod store;

pub use builders::{TaskBuilder, UserBuilder};
pub use clock::FixedClock;
pub use crypto::{PlainHasher, PlainTokens};
pub use fixture::Fixture;
pub use ids::SequentialIds;
pub use mail::{PlainOneTimeTokens, RecordingMailer};
pub use store::{
    InMemoryIdempotencyRepository, InMemoryLoginThrottle, InMemoryPasswordResetRepository,
    InMemorySessionRepository, InMemoryStore, InMemoryTaskChangeLog, InMemoryTaskRepository,
    InMemoryUserRepository,
};

#[cfg(test)]
mod tests;
