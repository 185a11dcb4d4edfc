//! Sessions, token claims and token pairs.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::DomainError;

/// Which of the two tokens a JWT is. Each is refused where the other belongs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum TokenKind {
    /// Short-lived bearer token for API calls.
    Access,
    /// Longer-lived token that buys a new pair at `/refresh`, once.
    Refresh,
}

impl TokenKind {
    /// The `type` claim value.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Access => "access",
            TokenKind::Refresh => "refresh",
        }
    }

    /// Parses the `type` claim value.
    ///
    /// # Errors
    /// [`DomainError::Unauthorized`] for anything else.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        match s {
            "access" => Ok(TokenKind::Access),
            "refresh" => Ok(TokenKind::Refresh),
            _ => Err(DomainError::Unauthorized("invalid token".into())),
        }
    }
}

/// The claims of both token kinds. `sid` ties a token to its login session, so that
/// revoking the session revokes every token issued in it, whatever second it was issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// The user id (`sub`).
    pub sub: Uuid,
    /// The login session (refresh-token family) id.
    pub sid: Uuid,
    /// Unique token id.
    pub jti: Uuid,
    /// `access` or `refresh`.
    pub kind: TokenKind,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Expires at, Unix seconds.
    pub exp: i64,
}

/// One login session: the family of refresh tokens descended from one login.
/// Only the newest refresh token (`refresh_jti`) can be spent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The `sid` claim of every token of this session.
    pub id: Uuid,
    /// Whose session it is.
    pub user_id: Uuid,
    /// The `jti` of the one refresh token that may still be spent.
    pub refresh_jti: Uuid,
    /// When the session began (login).
    pub created_at: DateTime<Utc>,
    /// When the current refresh token expires.
    pub expires_at: DateTime<Utc>,
    /// Set when the session was revoked (logout, reuse, password change, ...).
    pub revoked_at: Option<DateTime<Utc>>,
}

/// What presenting a refresh token to [`crate::auth::SessionRepository::rotate`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The token was the current one: the session now expects `new_jti`.
    Rotated(Session),
    /// The token was already spent: the whole session has just been revoked.
    ReuseDetected,
    /// No live session: unknown, expired or revoked.
    Rejected,
}

/// What login and refresh hand out.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenPair {
    /// Bearer token for API calls.
    pub access_token: String,
    /// Token for `/refresh`, valid once.
    pub refresh_token: String,
    /// Lifetime of the access token, seconds.
    pub expires_in: i64,
    /// Lifetime of the refresh token, seconds.
    pub refresh_expires_in: i64,
}

impl std::fmt::Debug for TokenPair {
    /// Never prints the tokens.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenPair")
            .field("expires_in", &self.expires_in)
            .field("refresh_expires_in", &self.refresh_expires_in)
            .finish_non_exhaustive()
    }
}

/// Token lifetimes, from configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenLifetimes {
    /// Access token lifetime in seconds (`ACCESS_TOKEN_EXPIRE_MINUTES` × 60).
    pub access_secs: i64,
    /// Refresh token lifetime in seconds (`REFRESH_TOKEN_EXPIRE_DAYS` × 86 400).
    pub refresh_secs: i64,
}

impl Default for TokenLifetimes {
    fn default() -> Self {
        Self {
            access_secs: 30 * 60,
            refresh_secs: 7 * 86_400,
        }
    }
}

/// The most characters of a `User-Agent` kept with a session.
pub const MAX_USER_AGENT_CHARS: usize = 256;

/// Where a login came from, recorded with its session so that its owner can tell their
/// sessions apart.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientInfo {
    /// The `User-Agent`, at most [`MAX_USER_AGENT_CHARS`] characters, without control
    /// characters (no database stores NUL).
    pub user_agent: Option<String>,
    /// The client address by the rate limiter's rule (`X-Forwarded-For` only from a
    /// trusted proxy).
    pub ip: Option<String>,
}

impl ClientInfo {
    /// Keeps what is worth keeping of a client's self-description: the user agent cut
    /// to [`MAX_USER_AGENT_CHARS`] characters after dropping control characters (an
    /// empty one is none).
    pub fn new(user_agent: Option<&str>, ip: Option<String>) -> Self {
        let user_agent = user_agent
            .map(|ua| {
                ua.chars()
                    .filter(|c| !c.is_control())
                    .take(MAX_USER_AGENT_CHARS)
                    .collect::<String>()
            })
            .filter(|ua| !ua.trim().is_empty());
        Self { user_agent, ip }
    }
}

/// A live login session as its owner sees it in the list of their sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSummary {
    /// The session id (the `sid` claim of its tokens).
    pub id: Uuid,
    /// When the session began (login).
    pub created_at: DateTime<Utc>,
    /// The last login or refresh in this session.
    pub last_used_at: DateTime<Utc>,
    /// When its current refresh token expires.
    pub expires_at: DateTime<Utc>,
    /// The login's `User-Agent`, if it sent one.
    pub user_agent: Option<String>,
    /// The login's client address.
    pub ip: Option<String>,
}
