//! What authentication needs from storage and cryptography.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::model::{Claims, Rotation, Session, TokenKind};
use crate::DomainError;
use crate::user::{Password, PasswordHash, User};

/// Persistent storage of login sessions (refresh-token families).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait SessionRepository: Send + Sync {
    /// Stores a new session.
    ///
    /// # Errors
    /// [`DomainError::NotFound`] when the user no longer exists;
    /// [`DomainError::Unexpected`] on storage failure.
    async fn insert(&self, session: &Session) -> Result<(), DomainError>;

    /// Spends refresh token `presented_jti` of session `session_id`, in one transaction:
    /// if it is the session's current token and the session is live at `now`, the
    /// session moves to `new_jti` expiring at `new_expires_at` ([`Rotation::Rotated`]);
    /// if it is an older, spent token of a live session, the session is revoked
    /// ([`Rotation::ReuseDetected`]); otherwise nothing changes ([`Rotation::Rejected`]).
    /// Of parallel calls with one token exactly one rotates.
    ///
    /// # Errors
    /// [`DomainError::Unexpected`] on storage failure.
    async fn rotate(
        &self,
        session_id: Uuid,
        presented_jti: Uuid,
        new_jti: Uuid,
        new_expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Rotation, DomainError>;

    /// The user of a session that has not been revoked — the per-request check of an
    /// access token, one indexed lookup (session joined with its user).
    ///
    /// # Errors
    /// [`DomainError::Unexpected`] on storage failure; a revoked or unknown session is `Ok(None)`.
    async fn find_session_user(&self, session_id: Uuid) -> Result<Option<User>, DomainError>;

    /// Revokes one session (logout). Revoking an unknown or revoked session is a no-op.
    ///
    /// # Errors
    /// [`DomainError::Unexpected`] on storage failure.
    async fn revoke(&self, session_id: Uuid, now: DateTime<Utc>) -> Result<(), DomainError>;

    /// Revokes every session of a user (logout everywhere).
    ///
    /// # Errors
    /// [`DomainError::Unexpected`] on storage failure.
    async fn revoke_all(&self, user_id: Uuid, now: DateTime<Utc>) -> Result<(), DomainError>;

    /// Deletes every revoked session and every session expired at `now`
    /// (`expires_at <= now`); returns how many.
    ///
    /// # Errors
    /// [`DomainError::Unexpected`] on storage failure.
    async fn purge(&self, now: DateTime<Utc>) -> Result<u64, DomainError>;
}

/// One-way password hashing (bcrypt in production). Implementations must keep the
/// CPU-heavy work off async worker threads.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait PasswordHasher: Send + Sync {
    /// Hashes a new password.
    ///
    /// # Errors
    /// [`DomainError::Unexpected`] when hashing fails.
    async fn hash(&self, password: &Password) -> Result<PasswordHash, DomainError>;

    /// Whether `password` matches `hash`. With `hash = None` it does the same work
    /// against a dummy hash and answers `false`, so an unknown account takes as long as
    /// a wrong password. Passwords longer than 72 bytes never match (no truncation).
    ///
    /// # Errors
    /// [`DomainError::Unexpected`] when the stored hash is corrupt or hashing fails.
    // The named lifetime is for mockall, which cannot mock an elided one inside `Option`.
    async fn verify<'a>(
        &self,
        password: &str,
        hash: Option<&'a PasswordHash>,
    ) -> Result<bool, DomainError>;
}

/// Signs and verifies tokens (JWT in production).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait TokenService: Send + Sync {
    /// Encodes and signs claims.
    ///
    /// # Errors
    /// [`DomainError::Unexpected`] when signing fails.
    fn issue(&self, claims: &Claims) -> Result<String, DomainError>;

    /// Verifies signature, algorithm, expiry and that the `type` claim is `expected`.
    ///
    /// # Errors
    /// [`DomainError::Unauthorized`] for any token that fails a check (malformed,
    /// `alg: none`, wrong key, tampered, expired, wrong type).
    fn verify(&self, token: &str, expected: TokenKind) -> Result<Claims, DomainError>;
}
