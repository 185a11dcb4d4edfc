//! What authentication needs from storage and cryptography.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::model::{Claims, ClientInfo, Rotation, Session, SessionSummary, TokenKind};
use super::reset::PasswordReset;
use super::throttle::ThrottleState;
use crate::DomainError;
use crate::page::{Page, PageRequest};
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

    /// Stores a new session begun by a login from `client`; its `last_used_at` is its
    /// `created_at`. ([`SessionRepository::insert`] is the same with no client known.)
    ///
    /// # Errors
    /// [`DomainError::NotFound`] when the user no longer exists;
    /// [`DomainError::Unexpected`] on storage failure.
    async fn start(&self, session: &Session, client: &ClientInfo) -> Result<(), DomainError>;

    /// A page of the user's live sessions (unrevoked, `expires_at > now`), newest
    /// first (`created_at` descending, ties by id descending).
    ///
    /// # Errors
    /// [`DomainError::Unexpected`] on storage failure.
    async fn list_live(
        &self,
        user_id: Uuid,
        now: DateTime<Utc>,
        page: PageRequest,
    ) -> Result<Page<SessionSummary>, DomainError>;

    /// Revokes session `session_id` if it is a live session of `user_id`; `false`
    /// when there is no such session (someone else's, unknown, revoked or expired).
    ///
    /// # Errors
    /// [`DomainError::Unexpected`] on storage failure.
    async fn revoke_own(
        &self,
        user_id: Uuid,
        session_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<bool, DomainError>;

    /// Spends refresh token `presented_jti` of session `session_id`, in one transaction:
    /// if it is the session's current token and the session is live at `now`, the
    /// session moves to `new_jti` expiring at `new_expires_at`, last used `now`
    /// ([`Rotation::Rotated`]);
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

/// The per-account login throttle's counts, shared by every instance (see
/// [`super::throttle`]).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait LoginThrottleRepository: Send + Sync {
    /// The stored state of a normalised login identifier.
    ///
    /// # Errors
    /// [`DomainError::Unexpected`] on storage failure; nothing stored is `Ok(None)`.
    async fn find(&self, identifier: &str) -> Result<Option<ThrottleState>, DomainError>;

    /// Counts one failed login at `now`: stores [`ThrottleState::after_failure`] of the
    /// stored state, in one transaction (parallel failures are each counted).
    ///
    /// # Errors
    /// [`DomainError::Unexpected`] on storage failure.
    async fn record_failure(
        &self,
        identifier: &str,
        now: DateTime<Utc>,
    ) -> Result<ThrottleState, DomainError>;

    /// Forgets an identifier's failures (a successful login).
    ///
    /// # Errors
    /// [`DomainError::Unexpected`] on storage failure.
    async fn clear(&self, identifier: &str) -> Result<(), DomainError>;

    /// Deletes every state whose latest failure is at least a window
    /// ([`super::throttle::FAILURE_WINDOW`]) before `now` and whose wait is over — each
    /// [`ThrottleState::is_stale`]; returns how many.
    ///
    /// # Errors
    /// [`DomainError::Unexpected`] on storage failure.
    async fn purge(&self, now: DateTime<Utc>) -> Result<u64, DomainError>;
}

/// Password reset tokens, stored only as digests.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait PasswordResetRepository: Send + Sync {
    /// Stores a new reset (committed when this returns).
    ///
    /// # Errors
    /// [`DomainError::NotFound`] when the user no longer exists;
    /// [`DomainError::Unexpected`] on storage failure.
    async fn insert(&self, reset: &PasswordReset) -> Result<(), DomainError>;

    /// The user of an unused reset with this digest that is unexpired at `now` and
    /// whose user is active.
    ///
    /// # Errors
    /// [`DomainError::Unexpected`] on storage failure; no such reset is `Ok(None)`.
    async fn find_live(
        &self,
        token_digest: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Uuid>, DomainError>;

    /// In one transaction: spends the reset with this digest if it is still live at
    /// `now` (as [`PasswordResetRepository::find_live`]), sets its user's password hash
    /// to `password_hash` (`updated_at = now`), revokes every session of the user and
    /// deletes their other resets. `false` when the reset was not live (of parallel
    /// calls with one token exactly one succeeds). Every other change of a user's
    /// password deletes their resets too ([`crate::user::UserRepository::update`]).
    ///
    /// # Errors
    /// [`DomainError::Unexpected`] on storage failure.
    async fn complete(
        &self,
        token_digest: &str,
        password_hash: &PasswordHash,
        now: DateTime<Utc>,
    ) -> Result<bool, DomainError>;

    /// Deletes every used reset and every reset expired at `now`; returns how many.
    ///
    /// # Errors
    /// [`DomainError::Unexpected`] on storage failure.
    async fn purge(&self, now: DateTime<Utc>) -> Result<u64, DomainError>;
}

/// Secrets that travel once (password reset tokens) and the digests they are stored
/// as.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait OneTimeTokens: Send + Sync {
    /// A new token: at least 128 random bits, URL-safe text.
    ///
    /// # Errors
    /// [`DomainError::Unexpected`] when no secure randomness is to be had.
    fn generate(&self) -> Result<String, DomainError>;

    /// The one-way digest a token is stored and looked up by.
    fn digest(&self, token: &str) -> String;
}
