//! What the user service needs from storage.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::model::{
    LoginIdentifier, PasswordHash, SessionEffect, User, UserCredentials, UserFilter,
};
use super::position::UserPosition;
use crate::DomainError;
use crate::page::{Slice, Window};

/// Persistent storage of users.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait UserRepository: Send + Sync {
    /// Stores a new user with their password hash.
    ///
    /// # Errors
    /// [`DomainError::Conflict`] when the email or the username (case-insensitively)
    /// is taken, also when a concurrent insert wins the race; [`DomainError::Unexpected`]
    /// on storage failure.
    async fn insert(&self, user: &User, password_hash: &PasswordHash) -> Result<(), DomainError>;

    /// The user with this id.
    ///
    /// # Errors
    /// [`DomainError::Unexpected`] on storage failure; absence is `Ok(None)`.
    async fn find_by_id(&self, id: Uuid) -> Result<Option<User>, DomainError>;

    /// The user with this email.
    ///
    /// # Errors
    /// [`DomainError::Unexpected`] on storage failure; absence is `Ok(None)`.
    async fn find_by_email(&self, email: &str) -> Result<Option<User>, DomainError>;

    /// The user a login identifier names, with the password hash.
    ///
    /// # Errors
    /// [`DomainError::Unexpected`] on storage failure; absence is `Ok(None)`.
    async fn find_credentials(
        &self,
        identifier: &LoginIdentifier,
    ) -> Result<Option<UserCredentials>, DomainError>;

    /// The password hash of a user, to check a `current_password`.
    ///
    /// # Errors
    /// [`DomainError::Unexpected`] on storage failure; absence is `Ok(None)`.
    async fn password_hash(&self, id: Uuid) -> Result<Option<PasswordHash>, DomainError>;

    /// The users matching `filter`, newest first (`created_at` descending, ties by id
    /// descending), in `window` (from its offset, or right after its position), with
    /// whether a user follows and the count exact up to the window's cap.
    ///
    /// # Errors
    /// [`DomainError::Unexpected`] on storage failure.
    async fn list(
        &self,
        filter: &UserFilter,
        window: Window<UserPosition>,
    ) -> Result<Slice<User>, DomainError>;

    /// Writes every field of `user` (found by `user.id`) but `updated_at`, which
    /// becomes `now`, optionally a new password hash (which also deletes the user's
    /// password reset tokens), and applies `sessions` — all in one transaction, and
    /// only over the version `user` was read from: if the stored `updated_at` is no
    /// longer `user.updated_at`, another write came between and nothing is written
    /// (so that write is never undone). When the stored user is an active admin and
    /// `user` is not, the transaction first makes sure another active admin exists
    /// (locking so that concurrent demotions cannot both pass). Returns the user as
    /// stored.
    ///
    /// # Errors
    /// [`DomainError::NotFound`] when no such user exists; [`DomainError::Conflict`]
    /// for the last active admin, a taken email/username, or a user changed since it
    /// was read ([`changed_meanwhile`]); [`DomainError::Unexpected`] on storage failure.
    async fn update(
        &self,
        user: &User,
        password_hash: Option<PasswordHash>,
        sessions: SessionEffect,
        now: DateTime<Utc>,
    ) -> Result<User, DomainError>;

    /// Deletes a user with all their tasks and sessions in one transaction, after
    /// checking (locked, in that transaction) that they are not the last active admin.
    /// Each deleted task leaves a `deleted` change by `actor_id` at `at` in the task
    /// change log, in the same transaction.
    ///
    /// # Errors
    /// [`DomainError::NotFound`] when no such user exists; [`DomainError::Conflict`]
    /// for the last active admin; [`DomainError::Unexpected`] on storage failure.
    async fn delete(&self, id: Uuid, actor_id: Uuid, at: DateTime<Utc>) -> Result<(), DomainError>;
}

/// The error of [`UserRepository::update`] for a user written by someone else since
/// it was read: the caller reads it again and decides anew.
pub fn changed_meanwhile(id: Uuid) -> DomainError {
    DomainError::Conflict(format!(
        "user {id} was changed by another request meanwhile; read it again and retry"
    ))
}
