//! Transparent stand-ins for the password hasher and the token service. They keep the
//! ports' contracts (a wrong password never verifies, a token of the wrong kind or
//! past its expiry is refused) without any cryptography: **never use them outside
//! tests**.

use std::sync::Arc;

use async_trait::async_trait;
use uuid::Uuid;

use crate::DomainError;
use crate::auth::{Claims, PasswordHasher, TokenKind, TokenService};
use crate::clock::Clock;
use crate::user::{Password, PasswordHash};

/// Prefix of a "hash" made by [`PlainHasher`].
const PLAIN: &str = "plain:";

/// A [`PasswordHasher`] whose hash is the password itself behind a prefix: instant, and
/// readable in a failing assertion. Passwords over 72 bytes never match, as with bcrypt.
#[derive(Debug, Default, Clone, Copy)]
pub struct PlainHasher;

#[async_trait]
impl PasswordHasher for PlainHasher {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, DomainError> {
        Ok(PasswordHash::new(format!("{PLAIN}{}", password.expose())))
    }

    async fn verify<'a>(
        &self,
        password: &str,
        hash: Option<&'a PasswordHash>,
    ) -> Result<bool, DomainError> {
        let Some(hash) = hash else {
            return Ok(false);
        };
        let stored = hash
            .as_str()
            .strip_prefix(PLAIN)
            .ok_or_else(|| DomainError::unexpected("not a PlainHasher hash"))?;
        Ok(password.len() <= 72 && stored == password)
    }
}

/// A [`TokenService`] whose tokens are their claims in plain text
/// (`plain.<type>.<sub>.<sid>.<jti>.<iat>.<exp>`), checked for kind and expiry against
/// a clock. Anyone can forge one: for tests only.
#[derive(Clone)]
pub struct PlainTokens {
    clock: Arc<dyn Clock>,
}

impl PlainTokens {
    /// Tokens that expire by `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self { clock }
    }
}

impl std::fmt::Debug for PlainTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlainTokens").finish_non_exhaustive()
    }
}

impl TokenService for PlainTokens {
    fn issue(&self, claims: &Claims) -> Result<String, DomainError> {
        Ok(format!(
            "plain.{}.{}.{}.{}.{}.{}",
            claims.kind.as_str(),
            claims.sub,
            claims.sid,
            claims.jti,
            claims.iat,
            claims.exp
        ))
    }

    fn verify(&self, token: &str, expected: TokenKind) -> Result<Claims, DomainError> {
        let invalid = || DomainError::Unauthorized("invalid token".into());
        let parts: Vec<&str> = token.split('.').collect();
        let ["plain", kind, sub, sid, jti, iat, exp] = parts.as_slice() else {
            return Err(invalid());
        };
        let uuid = |raw: &str| Uuid::parse_str(raw).map_err(|_| invalid());
        let number = |raw: &str| raw.parse::<i64>().map_err(|_| invalid());
        let claims = Claims {
            sub: uuid(sub)?,
            sid: uuid(sid)?,
            jti: uuid(jti)?,
            kind: TokenKind::parse(kind)?,
            iat: number(iat)?,
            exp: number(exp)?,
        };
        // Valid through its `exp` second, as the JWT adapter's check (no leeway) has it.
        if claims.kind != expected || claims.exp < self.clock.now().timestamp() {
            return Err(invalid());
        }
        Ok(claims)
    }
}
