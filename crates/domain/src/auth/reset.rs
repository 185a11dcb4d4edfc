//! Password reset by mail: a single-use token sent to the account's address, stored
//! only as a digest, that sets a new password once and ends every session.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::ports::{OneTimeTokens, PasswordHasher, PasswordResetRepository};
use crate::DomainError;
use crate::clock::Clock;
use crate::mail::{MailMessage, Mailer, escape_html};
use crate::user::{Email, Password, UserRepository};

/// The one answer for a token that is unknown, used or expired.
const INVALID_RESET_TOKEN: &str = "the reset token is invalid, used or expired";

/// A stored reset: never the token itself, only its digest.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordReset {
    /// [`OneTimeTokens::digest`] of the token.
    pub token_digest: String,
    /// Whose password it resets.
    pub user_id: Uuid,
    /// When it was requested.
    pub created_at: DateTime<Utc>,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for PasswordReset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordReset")
            .field("user_id", &self.user_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Password reset settings, from configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetSettings {
    /// How long a token works (`PASSWORD_RESET_EXPIRE_MINUTES`).
    pub lifetime: Duration,
    /// The link in the message, to which the token is appended (`PASSWORD_RESET_URL`).
    pub link_base: String,
}

impl Default for ResetSettings {
    fn default() -> Self {
        Self {
            lifetime: Duration::minutes(30),
            link_base: "http://localhost:8000/reset-password?token=".into(),
        }
    }
}

/// The message that carries a reset link.
pub fn reset_message(to: &Email, link: &str, lifetime: Duration) -> MailMessage {
    let minutes = lifetime.num_minutes();
    let text = format!(
        "Someone asked to reset the password of your Taskforge account.\n\n\
         To choose a new password, open this link within {minutes} minutes:\n\n{link}\n\n\
         The link works once. If you did not ask for this, ignore this message: your \
         password stays as it is.\n"
    );
    let link = escape_html(link);
    let html = format!(
        "<!DOCTYPE html>\n<html><body>\
         <p>Someone asked to reset the password of your Taskforge account.</p>\
         <p>To choose a new password, open this link within {minutes} minutes:</p>\
         <p><a href=\"{link}\">{link}</a></p>\
         <p>The link works once. If you did not ask for this, ignore this message: your \
         password stays as it is.</p></body></html>\n"
    );
    MailMessage {
        to: to.as_str().to_owned(),
        subject: "Reset your Taskforge password".into(),
        text,
        html,
    }
}

/// Requests and completes password resets.
pub struct PasswordResetService {
    users: Arc<dyn UserRepository>,
    resets: Arc<dyn PasswordResetRepository>,
    hasher: Arc<dyn PasswordHasher>,
    tokens: Arc<dyn OneTimeTokens>,
    mailer: Option<Arc<dyn Mailer>>,
    clock: Arc<dyn Clock>,
    settings: ResetSettings,
}

impl PasswordResetService {
    /// Wires the service to its ports; `mailer: None` is mail switched off, and then
    /// resets cannot be requested.
    pub fn new(
        users: Arc<dyn UserRepository>,
        resets: Arc<dyn PasswordResetRepository>,
        hasher: Arc<dyn PasswordHasher>,
        tokens: Arc<dyn OneTimeTokens>,
        mailer: Option<Arc<dyn Mailer>>,
        clock: Arc<dyn Clock>,
        settings: ResetSettings,
    ) -> Self {
        Self {
            users,
            resets,
            hasher,
            tokens,
            mailer,
            clock,
            settings,
        }
    }

    /// Whether resets can be requested at all (mail is not switched off).
    ///
    /// # Errors
    /// [`DomainError::Unavailable`] when mail is switched off.
    pub fn ensure_available(&self) -> Result<&Arc<dyn Mailer>, DomainError> {
        self.mailer.as_ref().ok_or_else(|| {
            DomainError::Unavailable("password reset by mail is switched off".into())
        })
    }

    /// Sends a reset link to `email` if it is the address of an active user; does
    /// nothing otherwise, so that the caller's answer is the same either way. The
    /// token is stored (as a digest) before the message is queued.
    ///
    /// # Errors
    /// [`DomainError::Unavailable`] when mail is off or the message cannot be queued;
    /// [`DomainError::Unexpected`] on storage failure.
    #[tracing::instrument(level = "debug", name = "PasswordResetService::request", skip_all, fields(user.id = tracing::field::Empty))]
    pub async fn request(&self, email: &Email) -> Result<(), DomainError> {
        let mailer = self.ensure_available()?;
        let Some(user) = self.users.find_by_email(email.as_str()).await? else {
            return Ok(());
        };
        if !user.is_active {
            return Ok(());
        }
        tracing::Span::current().record("user.id", tracing::field::display(user.id));
        let token = self.tokens.generate()?;
        let now = self.clock.now();
        let reset = PasswordReset {
            token_digest: self.tokens.digest(&token),
            user_id: user.id,
            created_at: now,
            expires_at: now + self.settings.lifetime,
        };
        self.resets.insert(&reset).await?;
        let link = format!("{}{token}", self.settings.link_base);
        mailer
            .send(reset_message(&user.email, &link, self.settings.lifetime))
            .await
    }

    /// Sets a new password with a reset token and ends every session of its user. The
    /// token is checked before the (costly) hashing and spent in the same transaction
    /// as the change, so of two uses exactly one succeeds.
    ///
    /// # Errors
    /// [`DomainError::InvalidToken`] for a token that is unknown, used, expired, or
    /// whose user is no longer active; [`DomainError::Unexpected`] on storage failure.
    #[tracing::instrument(level = "debug", name = "PasswordResetService::confirm", skip_all, fields(user.id = tracing::field::Empty))]
    pub async fn confirm(&self, token: &str, new_password: &Password) -> Result<(), DomainError> {
        let invalid = || DomainError::InvalidToken(INVALID_RESET_TOKEN.into());
        let digest = self.tokens.digest(token);
        let user_id = self
            .resets
            .find_live(&digest, self.clock.now())
            .await?
            .ok_or_else(invalid)?;
        tracing::Span::current().record("user.id", tracing::field::display(user_id));
        let hash = self.hasher.hash(new_password).await?;
        if self
            .resets
            .complete(&digest, &hash, self.clock.now())
            .await?
        {
            Ok(())
        } else {
            Err(invalid())
        }
    }

    /// Deletes used and expired resets; returns how many (the background job).
    ///
    /// # Errors
    /// [`DomainError::Unexpected`] on storage failure.
    pub async fn purge(&self) -> Result<u64, DomainError> {
        self.resets.purge(self.clock.now()).await
    }
}
