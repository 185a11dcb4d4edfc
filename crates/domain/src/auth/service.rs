//! Login, token refresh with rotation and reuse detection, logout, and the
//! per-request check of an access token.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::model::{
    Claims, ClientInfo, Rotation, Session, SessionSummary, TokenKind, TokenLifetimes, TokenPair,
};
use super::ports::{LoginThrottleRepository, PasswordHasher, SessionRepository, TokenService};
use crate::DomainError;
use crate::clock::Clock;
use crate::ids::IdSource;
use crate::page::{Page, PageRequest};
use crate::user::{LoginIdentifier, User, UserRepository};

/// The one message for every failed login, so that it does not tell which part was wrong.
const BAD_CREDENTIALS: &str = "incorrect email, username or password";
/// The one message for every refused token.
const INVALID_TOKEN: &str = "invalid or revoked token";

/// The second half of checking an access token: `user` is what storage holds for the
/// token's session (`None` when the session is revoked or gone); the token is good only
/// while that is its own subject and the account is active.
fn accept_session_user(claims: &Claims, user: Option<User>) -> Result<User, DomainError> {
    match user {
        Some(user) if user.id == claims.sub && user.is_active => Ok(user),
        _ => Err(DomainError::Unauthorized(INVALID_TOKEN.into())),
    }
}

/// Sessions and tokens.
pub struct AuthService {
    users: Arc<dyn UserRepository>,
    sessions: Arc<dyn SessionRepository>,
    hasher: Arc<dyn PasswordHasher>,
    tokens: Arc<dyn TokenService>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdSource>,
    lifetimes: TokenLifetimes,
    /// The per-account login throttle; `None` when it is switched off.
    throttle: Option<Arc<dyn LoginThrottleRepository>>,
}

/// The key of the login throttle: the identifier as the login names it, normalised
/// as for the lookup, whether or not an account has it.
fn throttle_key(identifier: &LoginIdentifier) -> &str {
    match identifier {
        LoginIdentifier::Email(email) => email,
        LoginIdentifier::Username(username) => username,
    }
}

impl AuthService {
    /// Wires the service to its ports.
    pub fn new(
        users: Arc<dyn UserRepository>,
        sessions: Arc<dyn SessionRepository>,
        hasher: Arc<dyn PasswordHasher>,
        tokens: Arc<dyn TokenService>,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdSource>,
        lifetimes: TokenLifetimes,
    ) -> Self {
        Self {
            users,
            sessions,
            hasher,
            tokens,
            clock,
            ids,
            lifetimes,
            throttle: None,
        }
    }

    /// Throttles failed logins per login identifier with `throttle` (see
    /// [`super::throttle`]).
    #[must_use]
    pub fn with_login_throttle(mut self, throttle: Arc<dyn LoginThrottleRepository>) -> Self {
        self.throttle = Some(throttle);
        self
    }

    /// Logs in by email or username and starts a new session, from a client that is
    /// not known ([`AuthService::login_from`] with no user agent and no address).
    ///
    /// # Errors
    /// As [`AuthService::login_from`].
    pub async fn login(&self, identifier: &str, password: &str) -> Result<TokenPair, DomainError> {
        self.login_from(identifier, password, &ClientInfo::default())
            .await
    }

    /// Logs in by email or username and starts a new session recorded with `client`.
    /// An unknown account costs the same hashing work as a wrong password and gets the
    /// same error. With the throttle on, an identifier in its wait is refused before
    /// its password is looked at, every failure is counted and a success clears the
    /// count.
    ///
    /// # Errors
    /// [`DomainError::Throttled`] during the identifier's wait;
    /// [`DomainError::Unauthorized`] for wrong credentials; [`DomainError::Forbidden`]
    /// for an inactive account, only after a correct password.
    #[tracing::instrument(level = "debug", name = "AuthService::login", skip_all, fields(user.id = tracing::field::Empty))]
    pub async fn login_from(
        &self,
        identifier: &str,
        password: &str,
        client: &ClientInfo,
    ) -> Result<TokenPair, DomainError> {
        let identifier = LoginIdentifier::parse(identifier);
        let key = throttle_key(&identifier);
        if let Some(throttle) = &self.throttle {
            let state = throttle.find(key).await?;
            if let Some(secs) = state.and_then(|s| s.retry_after_secs(self.clock.now())) {
                return Err(DomainError::Throttled {
                    retry_after_secs: secs,
                });
            }
        }
        let credentials = self.users.find_credentials(&identifier).await?;
        let matches = self
            .hasher
            .verify(password, credentials.as_ref().map(|c| &c.password_hash))
            .await?;
        match credentials {
            Some(credentials) if matches => {
                tracing::Span::current()
                    .record("user.id", tracing::field::display(credentials.user.id));
                if let Some(throttle) = &self.throttle {
                    throttle.clear(key).await?;
                }
                if !credentials.user.is_active {
                    return Err(DomainError::Forbidden("this account is inactive".into()));
                }
                self.start_session(&credentials.user, client).await
            }
            _ => {
                if let Some(throttle) = &self.throttle {
                    throttle.record_failure(key, self.clock.now()).await?;
                }
                Err(DomainError::Unauthorized(BAD_CREDENTIALS.into()))
            }
        }
    }

    /// Spends a refresh token for a new pair. A token that was already spent revokes
    /// its whole session (someone else may hold a copy).
    ///
    /// # Errors
    /// [`DomainError::Unauthorized`] for an invalid, expired, revoked or reused token,
    /// or an access token.
    #[tracing::instrument(level = "debug", name = "AuthService::refresh", skip_all, fields(session.id = tracing::field::Empty))]
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenPair, DomainError> {
        let claims = self.tokens.verify(refresh_token, TokenKind::Refresh)?;
        tracing::Span::current().record("session.id", tracing::field::display(claims.sid));
        let now = self.clock.now();
        let new_jti = self.ids.new_id();
        let expires_at = now + Duration::seconds(self.lifetimes.refresh_secs);
        match self
            .sessions
            .rotate(claims.sid, claims.jti, new_jti, expires_at, now)
            .await?
        {
            Rotation::Rotated(session) if session.user_id == claims.sub => {
                self.issue_pair(session.user_id, session.id, new_jti, now)
            }
            Rotation::ReuseDetected => Err(DomainError::Unauthorized(
                "refresh token was already used; the session has been revoked".into(),
            )),
            Rotation::Rotated(_) | Rotation::Rejected => {
                Err(DomainError::Unauthorized(INVALID_TOKEN.into()))
            }
        }
    }

    /// Ends the session a refresh token belongs to. Any string is accepted: logging
    /// out twice, or with garbage, is not an error.
    ///
    /// # Errors
    /// [`DomainError::Unexpected`] on storage failure only.
    #[tracing::instrument(level = "debug", name = "AuthService::logout", skip_all)]
    pub async fn logout(&self, refresh_token: &str) -> Result<(), DomainError> {
        match self.tokens.verify(refresh_token, TokenKind::Refresh) {
            Ok(claims) => self.sessions.revoke(claims.sid, self.clock.now()).await,
            Err(_) => Ok(()),
        }
    }

    /// Ends every session of a user, killing all their refresh and access tokens.
    ///
    /// # Errors
    /// [`DomainError::Unexpected`] on storage failure.
    #[tracing::instrument(level = "debug", name = "AuthService::logout_everywhere", skip_all, fields(user.id = %user_id))]
    pub async fn logout_everywhere(&self, user_id: Uuid) -> Result<(), DomainError> {
        self.sessions.revoke_all(user_id, self.clock.now()).await
    }

    /// Who an access token belongs to, read fresh from storage (role included) in one
    /// lookup: the token's session must still be live and its user active.
    ///
    /// # Errors
    /// [`DomainError::Unauthorized`] for an invalid, expired or revoked token, a
    /// refresh token, or a deleted or inactive user.
    pub async fn authenticate(&self, access_token: &str) -> Result<User, DomainError> {
        self.authenticate_session(access_token)
            .await
            .map(|(user, _)| user)
    }

    /// [`AuthService::authenticate`], also naming the token's session.
    ///
    /// # Errors
    /// As [`AuthService::authenticate`].
    #[tracing::instrument(level = "debug", name = "AuthService::authenticate", skip_all, fields(session.id = tracing::field::Empty, user.id = tracing::field::Empty))]
    pub async fn authenticate_session(
        &self,
        access_token: &str,
    ) -> Result<(User, Uuid), DomainError> {
        let claims = self.tokens.verify(access_token, TokenKind::Access)?;
        let span = tracing::Span::current();
        span.record("session.id", tracing::field::display(claims.sid));
        span.record("user.id", tracing::field::display(claims.sub));
        let user = self.sessions.find_session_user(claims.sid).await?;
        accept_session_user(&claims, user).map(|user| (user, claims.sid))
    }

    /// A page of `user`'s live sessions, newest first.
    ///
    /// # Errors
    /// [`DomainError::Unexpected`] on storage failure.
    #[tracing::instrument(level = "debug", name = "AuthService::sessions", skip_all, fields(user.id = %user.id))]
    pub async fn sessions(
        &self,
        user: &User,
        page: PageRequest,
    ) -> Result<Page<SessionSummary>, DomainError> {
        self.sessions
            .list_live(user.id, self.clock.now(), page)
            .await
    }

    /// Ends one of `user`'s live sessions, and with it every token issued in it.
    ///
    /// # Errors
    /// [`DomainError::NotFound`] when `session_id` is not a live session of `user`
    /// (someone else's looks the same as none).
    #[tracing::instrument(level = "debug", name = "AuthService::end_session", skip_all, fields(user.id = %user.id, session.id = %session_id))]
    pub async fn end_session(&self, user: &User, session_id: Uuid) -> Result<(), DomainError> {
        if self
            .sessions
            .revoke_own(user.id, session_id, self.clock.now())
            .await?
        {
            Ok(())
        } else {
            Err(DomainError::NotFound(format!(
                "session {session_id} not found"
            )))
        }
    }

    /// Forgets the login throttle's lapsed counts; returns how many (the background
    /// job). Nothing to do when the throttle is off.
    ///
    /// # Errors
    /// [`DomainError::Unexpected`] on storage failure.
    pub async fn purge_login_throttles(&self) -> Result<u64, DomainError> {
        match &self.throttle {
            Some(throttle) => throttle.purge(self.clock.now()).await,
            None => Ok(0),
        }
    }

    /// Deletes expired and revoked sessions; returns how many (the background job).
    ///
    /// # Errors
    /// [`DomainError::Unexpected`] on storage failure.
    #[tracing::instrument(level = "debug", name = "AuthService::purge_sessions", skip_all)]
    pub async fn purge_sessions(&self) -> Result<u64, DomainError> {
        self.sessions.purge(self.clock.now()).await
    }

    async fn start_session(
        &self,
        user: &User,
        client: &ClientInfo,
    ) -> Result<TokenPair, DomainError> {
        let now = self.clock.now();
        let session = Session {
            id: self.ids.new_id(),
            user_id: user.id,
            refresh_jti: self.ids.new_id(),
            created_at: now,
            expires_at: now + Duration::seconds(self.lifetimes.refresh_secs),
            revoked_at: None,
        };
        self.sessions.start(&session, client).await?;
        self.issue_pair(user.id, session.id, session.refresh_jti, now)
    }

    fn issue_pair(
        &self,
        user_id: Uuid,
        session_id: Uuid,
        refresh_jti: Uuid,
        now: DateTime<Utc>,
    ) -> Result<TokenPair, DomainError> {
        let iat = now.timestamp();
        let access = Claims {
            sub: user_id,
            sid: session_id,
            jti: self.ids.new_id(),
            kind: TokenKind::Access,
            iat,
            exp: iat + self.lifetimes.access_secs,
        };
        let refresh = Claims {
            sub: user_id,
            sid: session_id,
            jti: refresh_jti,
            kind: TokenKind::Refresh,
            iat,
            exp: iat + self.lifetimes.refresh_secs,
        };
        Ok(TokenPair {
            access_token: self.tokens.issue(&access)?,
            refresh_token: self.tokens.issue(&refresh)?,
            expires_in: self.lifetimes.access_secs,
            refresh_expires_in: self.lifetimes.refresh_secs,
        })
    }
}
