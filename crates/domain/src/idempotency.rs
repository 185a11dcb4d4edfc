//! Safe retries: a write sent again with the same `Idempotency-Key` is done once.
//!
//! The first request with a key claims it ([`IdempotencyRepository::claim`]); its write
//! and the record of its outcome are stored together, in one transaction, by the
//! repository that writes (see [`Completion`]), so a crash can never leave a write
//! without its record or the reverse. A repeat with the same key and the same request
//! gets that outcome again and writes nothing; the same key for another request is
//! refused; a repeat while the first still runs is a conflict. A request that fails
//! gives its key back ([`IdempotencyRepository::release`]).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::DomainError;
use crate::task::Task;

/// What the contract calls an `Idempotency-Key`: 1–255 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// The field errors name this (the request header).
    pub const FIELD: &'static str = "Idempotency-Key";

    /// Validates a key.
    ///
    /// # Errors
    /// [`DomainError::Validation`] on `Idempotency-Key` when empty, longer than 255
    /// characters, or holding anything but visible ASCII.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        if (1..=255).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_graphic()) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(DomainError::invalid(
                Self::FIELD,
                "must be 1 to 255 visible ASCII characters",
            ))
        }
    }

    /// The key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A write's retry identity: the key and what the request was (a digest of its method,
/// path and body, made by whoever received it), so that a key reused for another
/// request is recognised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idempotency {
    /// The client's key.
    pub key: IdempotencyKey,
    /// A digest of the request.
    pub fingerprint: String,
}

/// What a write under a key did, kept to answer its repeats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotentOutcome {
    /// The task as the write left it (create, replace, patch, toggle).
    Task(Box<Task>),
    /// The task was deleted.
    Deleted,
}

/// The record of a write's outcome, stored by the writing repository in the same
/// transaction as the write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// Whose key it is.
    pub user_id: Uuid,
    /// The key.
    pub key: IdempotencyKey,
    /// What the write did.
    pub outcome: IdempotentOutcome,
}

/// What claiming a key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key was free: it is now taken for this request, which must write (with its
    /// [`Completion`]) or give it back.
    Claimed,
    /// The same request was done before: its outcome, to answer again.
    Done(IdempotentOutcome),
    /// The key was used for another request (another method, path or body).
    Mismatch,
    /// The same key is taken by a request still running.
    InProgress,
}

/// Storage of idempotency keys, per user.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait IdempotencyRepository: Send + Sync {
    /// Claims `key` of `user_id` for a request with `fingerprint`, atomically: free
    /// (or expired, or claimed before `stale_before` by a request that never finished)
    /// → [`Claim::Claimed`], and the claim lives until `expires_at`; otherwise what it
    /// holds. Of parallel claims of one free key exactly one gets `Claimed`.
    ///
    /// # Errors
    /// [`DomainError::Unavailable`] or [`DomainError::Unexpected`] on storage failure.
    async fn claim(
        &self,
        user_id: Uuid,
        key: &IdempotencyKey,
        fingerprint: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> Result<Claim, DomainError>;

    /// Gives back a claimed key whose request did not write (a failed request leaves
    /// its key unused). A key already completed is left alone.
    ///
    /// # Errors
    /// As [`IdempotencyRepository::claim`].
    async fn release(&self, user_id: Uuid, key: &IdempotencyKey) -> Result<(), DomainError>;

    /// Deletes keys expired at `now`; how many.
    ///
    /// # Errors
    /// As [`IdempotencyRepository::claim`].
    async fn purge(&self, now: DateTime<Utc>) -> Result<u64, DomainError>;
}
