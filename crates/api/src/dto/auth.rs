//! Login, refresh and logout bodies, and the token pair.

use serde::{Deserialize, Serialize};
use taskforge_domain::auth::TokenPair;
use utoipa::ToSchema;

/// JSON login: an email or a username, and the password.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    /// Email (or any identifier containing `@`).
    pub email: Option<String>,
    /// Username (or email).
    pub username: Option<String>,
    /// Password.
    pub password: String,
}

/// The OAuth2 password-flow form. `username` may hold an email; the OAuth2 fields
/// that make no difference here are accepted and ignored.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct LoginForm {
    /// Email or username.
    pub username: String,
    /// Password.
    pub password: String,
    /// Ignored (`password`).
    pub grant_type: Option<String>,
    /// Ignored.
    pub scope: Option<String>,
    /// Ignored.
    pub client_id: Option<String>,
    /// Ignored.
    pub client_secret: Option<String>,
}

impl LoginForm {
    /// 422 naming `username` or `password` when it holds a NUL character (the JSON
    /// bodies are checked as they are parsed).
    ///
    /// # Errors
    /// As above.
    pub fn refuse_nul(&self) -> Result<(), crate::error::ApiError> {
        let mut errors = taskforge_domain::Validator::new();
        for (field, value) in [("username", &self.username), ("password", &self.password)] {
            if value.contains('\0') {
                errors.push(field, crate::extract::json::NUL_MESSAGE);
            }
        }
        errors.finish().map_err(Into::into)
    }
}

/// `{refresh_token}` for `/refresh` and `/logout`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshBody {
    /// The refresh token.
    pub refresh_token: String,
}

/// The token pair of login and refresh.
#[derive(Serialize, ToSchema)]
#[schema(as = TokenPair)]
pub struct TokenResponse {
    /// Bearer token for API calls.
    pub access_token: String,
    /// Token for `/refresh`, valid once.
    pub refresh_token: String,
    /// Always `bearer`.
    #[schema(example = "bearer")]
    pub token_type: &'static str,
    /// Access token lifetime, seconds.
    pub expires_in: i64,
    /// Refresh token lifetime, seconds.
    pub refresh_expires_in: i64,
}

impl From<TokenPair> for TokenResponse {
    fn from(pair: TokenPair) -> Self {
        Self {
            access_token: pair.access_token,
            refresh_token: pair.refresh_token,
            token_type: "bearer",
            expires_in: pair.expires_in,
            refresh_expires_in: pair.refresh_expires_in,
        }
    }
}
