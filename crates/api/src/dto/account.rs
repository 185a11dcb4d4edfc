//! Session list items and the password reset bodies.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use taskforge_domain::auth::SessionSummary;
use taskforge_domain::user::{Email, Password};
use taskforge_domain::{DomainError, FieldError};
use utoipa::ToSchema;
use uuid::Uuid;

/// One of the caller's live login sessions.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Session)]
pub struct SessionResponse {
    /// The session id (`DELETE /api/v1/auth/sessions/{id}` ends it).
    pub id: Uuid,
    /// The login that began it.
    #[serde(serialize_with = "super::rfc3339::serialize")]
    pub created_at: DateTime<Utc>,
    /// The last login or refresh in it.
    #[serde(serialize_with = "super::rfc3339::serialize")]
    pub last_used_at: DateTime<Utc>,
    /// When its refresh token expires.
    #[serde(serialize_with = "super::rfc3339::serialize")]
    pub expires_at: DateTime<Utc>,
    /// The login's `User-Agent` (at most 256 characters), or null.
    #[schema(required = true)]
    pub user_agent: Option<String>,
    /// The login's client address, or null.
    #[schema(required = true)]
    pub ip: Option<String>,
    /// Whether this is the session of the bearer token.
    pub current: bool,
}

impl SessionResponse {
    /// The list item of `session`, `current` when it is `current_session`.
    pub fn of(session: SessionSummary, current_session: Uuid) -> Self {
        Self {
            current: session.id == current_session,
            id: session.id,
            created_at: session.created_at,
            last_used_at: session.last_used_at,
            expires_at: session.expires_at,
            user_agent: session.user_agent,
            ip: session.ip,
        }
    }
}

/// `{email}`: where to send a reset link.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetBody {
    /// The account's email.
    #[schema(format = Email, example = "ada@example.com")]
    pub email: String,
}

impl TryFrom<PasswordResetBody> for Email {
    type Error = DomainError;

    fn try_from(body: PasswordResetBody) -> Result<Self, Self::Error> {
        Email::parse(&body.email)
    }
}

/// `{token, new_password}`: a reset token from the mail, and the new password.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetConfirmBody {
    /// The token from the reset link.
    pub token: String,
    /// The new password, 8–72 bytes.
    #[schema(min_length = 8, max_length = 72, example = "correct horse battery")]
    pub new_password: String,
}

impl std::fmt::Debug for PasswordResetConfirmBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordResetConfirmBody")
            .finish_non_exhaustive()
    }
}

impl PasswordResetConfirmBody {
    /// The new password, validated under its own key (`new_password`).
    ///
    /// # Errors
    /// [`DomainError::Validation`] on `new_password`.
    pub fn password(&self) -> Result<Password, DomainError> {
        Password::parse(&self.new_password).map_err(|err| match err {
            DomainError::Validation(fields) => DomainError::Validation(
                fields
                    .into_iter()
                    .map(|f| FieldError::new("new_password", f.message))
                    .collect(),
            ),
            other => other,
        })
    }
}
