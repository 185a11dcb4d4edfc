//! HMAC-signed JWTs, as the domain's [`TokenService`] port.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretSlice};
use serde::{Deserialize, Serialize};
use taskforge_domain::DomainError;
use taskforge_domain::auth::{Claims, TokenKind, TokenService};
use uuid::Uuid;

/// The claims as they travel: `type` is a keyword in Rust, so it is renamed here.
#[derive(Debug, Serialize, Deserialize)]
struct WireClaims {
    sub: Uuid,
    sid: Uuid,
    jti: Uuid,
    #[serde(rename = "type")]
    kind: String,
    iat: i64,
    exp: i64,
}

/// How many verified access tokens are remembered: one per live client is the working
/// set; past it the least useful are evicted one by one (quick_cache's CLOCK-Pro), so
/// the hit rate holds with many live tokens.
const REMEMBERED_TOKENS: usize = 16_384;

/// Signs and verifies tokens with one HMAC algorithm and one secret. Only that
/// algorithm is accepted on verification, so `alg: none` and algorithm-confusion
/// tokens are refused. `Debug` never prints the secret.
///
/// A client sends the same access token with every request for its lifetime, and
/// checking it (two base64 decodes, two JSON parses, an HMAC) took ~9 % of the
/// server's CPU under load. So the service remembers the claims of the tokens it
/// verified, by their exact text, and serves them again while they are unexpired.
/// Only verified access tokens are remembered (a refresh token is spent once), under
/// this service's own key, in a bounded cache whose entries expire with their tokens;
/// the session
/// behind a token is still checked in storage on every request, so revocation is as
/// exact as before.
pub struct JwtTokenService {
    algorithm: Algorithm,
    secret: SecretSlice<u8>,
    validation: Validation,
    verified: quick_cache::sync::Cache<Box<str>, Claims>,
}

impl JwtTokenService {
    /// HS256 with `secret` (the default of `JWT_ALGORITHM`). The caller vouches for the
    /// secret's strength; [`JwtTokenService::new`] refuses an empty one.
    pub fn hs256(secret: &[u8]) -> Self {
        Self::with_algorithm(secret, Algorithm::HS256)
    }

    /// `alg_name` is `HS256`, `HS384` or `HS512` (as `JWT_ALGORITHM` spells it).
    ///
    /// # Errors
    /// A message naming the problem for any other algorithm or an empty secret.
    pub fn new(secret: &[u8], alg_name: &str) -> Result<Self, String> {
        let algorithm = match alg_name {
            "HS256" => Algorithm::HS256,
            "HS384" => Algorithm::HS384,
            "HS512" => Algorithm::HS512,
            other => {
                return Err(format!(
                    "unsupported JWT algorithm {other:?}: use HS256, HS384 or HS512"
                ));
            }
        };
        if secret.is_empty() {
            return Err("the JWT secret must not be empty".to_owned());
        }
        Ok(Self::with_algorithm(secret, algorithm))
    }

    fn with_algorithm(secret: &[u8], algorithm: Algorithm) -> Self {
        let mut validation = Validation::new(algorithm);
        // Expiry is exact: the lifetimes are ours to choose, there is no clock skew
        // between issuer and verifier (they are the same service).
        validation.leeway = 0;
        validation.validate_exp = true;
        // `iat` is required too, by `WireClaims` itself (jsonwebtoken only checks
        // the registered claims it knows here).
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self {
            algorithm,
            secret: SecretSlice::from(secret.to_vec()),
            validation,
            verified: quick_cache::sync::Cache::new(REMEMBERED_TOKENS),
        }
    }

    /// The claims of a token verified before and not expired since; an expired one is
    /// forgotten.
    fn remembered(&self, token: &str) -> Option<Claims> {
        let claims = self.verified.get(token)?;
        // The same rule as `jsonwebtoken`'s with no leeway: expired once `exp` is past.
        let now = i64::try_from(jsonwebtoken::get_current_timestamp()).unwrap_or(i64::MAX);
        if claims.exp >= now {
            Some(claims)
        } else {
            self.verified.remove(token);
            None
        }
    }

    fn remember(&self, token: &str, claims: &Claims) {
        if claims.kind == TokenKind::Access {
            self.verified.insert(token.into(), claims.clone());
        }
    }

    /// Checks signature, algorithm and expiry of `token`.
    fn decode(&self, token: &str) -> Result<Claims, DomainError> {
        let key = DecodingKey::from_secret(self.secret.expose_secret());
        let data = jsonwebtoken::decode::<WireClaims>(token, &key, &self.validation)
            .map_err(|_| invalid_token())?;
        let wire = data.claims;
        Ok(Claims {
            sub: wire.sub,
            sid: wire.sid,
            jti: wire.jti,
            kind: TokenKind::parse(&wire.kind).map_err(|_| invalid_token())?,
            iat: wire.iat,
            exp: wire.exp,
        })
    }

    /// The signing algorithm.
    pub fn algorithm(&self) -> &'static str {
        match self.algorithm {
            Algorithm::HS384 => "HS384",
            Algorithm::HS512 => "HS512",
            _ => "HS256",
        }
    }
}

impl std::fmt::Debug for JwtTokenService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtTokenService")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

/// Every verification failure looks the same to the caller: which check failed is
/// of use only to an attacker.
fn invalid_token() -> DomainError {
    DomainError::Unauthorized("invalid token".to_owned())
}

impl TokenService for JwtTokenService {
    fn issue(&self, claims: &Claims) -> Result<String, DomainError> {
        let wire = WireClaims {
            sub: claims.sub,
            sid: claims.sid,
            jti: claims.jti,
            kind: claims.kind.as_str().to_owned(),
            iat: claims.iat,
            exp: claims.exp,
        };
        // The key is built per call so the secret lives in one zeroised place only.
        let key = EncodingKey::from_secret(self.secret.expose_secret());
        jsonwebtoken::encode(&Header::new(self.algorithm), &wire, &key)
            .map_err(DomainError::unexpected)
    }

    fn verify(&self, token: &str, expected: TokenKind) -> Result<Claims, DomainError> {
        let claims = match self.remembered(token) {
            Some(claims) => claims,
            None => {
                let claims = self.decode(token)?;
                self.remember(token, &claims);
                claims
            }
        };
        if claims.kind != expected {
            return Err(invalid_token());
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;

    const SECRET: &[u8] = b"a test secret that is long enough for HS256 use";

    fn claims(kind: TokenKind, exp_in: i64) -> Claims {
        let now = Utc::now().timestamp();
        Claims {
            sub: Uuid::now_v7(),
            sid: Uuid::now_v7(),
            jti: Uuid::now_v7(),
            kind,
            iat: now,
            exp: now + exp_in,
        }
    }

    fn assert_invalid_token(result: Result<Claims, DomainError>) {
        match result {
            Err(DomainError::Unauthorized(message)) => assert_eq!(message, "invalid token"),
            other => panic!("expected Unauthorized(\"invalid token\"), got {other:?}"),
        }
    }

    #[test]
    fn an_issued_token_verifies_to_the_same_claims() {
        let service = JwtTokenService::hs256(SECRET);
        for kind in [TokenKind::Access, TokenKind::Refresh] {
            let claims = claims(kind, 60);
            let token = service.issue(&claims).unwrap();
            assert_eq!(service.verify(&token, kind).unwrap(), claims);
        }
    }

    #[test]
    fn the_wire_claims_are_sub_sid_jti_type_iat_exp() {
        let service = JwtTokenService::hs256(SECRET);
        let claims = claims(TokenKind::Refresh, 60);
        let token = service.issue(&claims).unwrap();
        let wire: serde_json::Value =
            jsonwebtoken::dangerous::insecure_decode_claims(&token).unwrap();
        assert_eq!(wire["sub"], claims.sub.to_string());
        assert_eq!(wire["sid"], claims.sid.to_string());
        assert_eq!(wire["jti"], claims.jti.to_string());
        assert_eq!(wire["type"], "refresh");
        assert_eq!(wire["iat"], claims.iat);
        assert_eq!(wire["exp"], claims.exp);
    }

    #[test]
    fn a_token_of_the_other_kind_is_unauthorized() {
        let service = JwtTokenService::hs256(SECRET);
        let access = service.issue(&claims(TokenKind::Access, 60)).unwrap();
        let refresh = service.issue(&claims(TokenKind::Refresh, 60)).unwrap();
        assert_invalid_token(service.verify(&access, TokenKind::Refresh));
        assert_invalid_token(service.verify(&refresh, TokenKind::Access));
    }

    #[test]
    fn a_token_signed_with_another_key_is_unauthorized() {
        let other = JwtTokenService::hs256(b"another secret, also long enough for HS256");
        let token = other.issue(&claims(TokenKind::Access, 60)).unwrap();
        assert_invalid_token(JwtTokenService::hs256(SECRET).verify(&token, TokenKind::Access));
    }

    #[test]
    fn a_token_signed_with_another_hmac_algorithm_is_unauthorized() {
        let hs512 = JwtTokenService::new(SECRET, "HS512").unwrap();
        let token = hs512.issue(&claims(TokenKind::Access, 60)).unwrap();
        assert!(hs512.verify(&token, TokenKind::Access).is_ok());
        assert_invalid_token(JwtTokenService::hs256(SECRET).verify(&token, TokenKind::Access));
    }

    #[test]
    fn a_tampered_token_is_unauthorized() {
        let service = JwtTokenService::hs256(SECRET);
        let mine = service.issue(&claims(TokenKind::Access, 60)).unwrap();
        let theirs = service.issue(&claims(TokenKind::Access, 60)).unwrap();
        // Someone else's claims under my signature.
        let mine: Vec<&str> = mine.split('.').collect();
        let theirs: Vec<&str> = theirs.split('.').collect();
        let forged = format!("{}.{}.{}", mine[0], theirs[1], mine[2]);
        assert_invalid_token(service.verify(&forged, TokenKind::Access));
    }

    #[test]
    fn an_expired_token_is_unauthorized() {
        let service = JwtTokenService::hs256(SECRET);
        let token = service.issue(&claims(TokenKind::Access, -1)).unwrap();
        assert_invalid_token(service.verify(&token, TokenKind::Access));
    }

    #[test]
    fn a_remembered_token_is_refused_once_it_expires() {
        let service = JwtTokenService::hs256(SECRET);
        let claims = claims(TokenKind::Access, 1);
        let token = service.issue(&claims).unwrap();
        assert_eq!(service.verify(&token, TokenKind::Access).unwrap(), claims);
        assert_eq!(service.verify(&token, TokenKind::Access).unwrap(), claims);
        std::thread::sleep(std::time::Duration::from_millis(2100));
        assert_invalid_token(service.verify(&token, TokenKind::Access));
    }

    #[test]
    fn a_remembered_token_is_still_refused_as_the_other_kind_and_by_another_key() {
        let service = JwtTokenService::hs256(SECRET);
        let token = service.issue(&claims(TokenKind::Refresh, 60)).unwrap();
        assert!(service.verify(&token, TokenKind::Refresh).is_ok());
        assert_invalid_token(service.verify(&token, TokenKind::Access));
        let other = JwtTokenService::hs256(b"another secret, also long enough for HS256");
        assert_invalid_token(other.verify(&token, TokenKind::Refresh));
    }

    #[test]
    fn past_its_capacity_the_memory_stays_bounded_keeps_most_tokens_and_all_still_verify() {
        let service = JwtTokenService::hs256(SECRET);
        let tokens: Vec<(String, Claims)> = (0..REMEMBERED_TOKENS + 1000)
            .map(|_| {
                let claims = claims(TokenKind::Access, 60);
                (service.issue(&claims).unwrap(), claims)
            })
            .collect();
        for (token, claims) in tokens.iter().chain(tokens.iter()) {
            assert_eq!(&service.verify(token, TokenKind::Access).unwrap(), claims);
            assert!(service.verified.len() <= REMEMBERED_TOKENS);
        }
        // Full, it evicts one by one rather than emptying itself.
        assert!(service.verified.len() > REMEMBERED_TOKENS * 9 / 10);
    }

    #[test]
    fn only_access_tokens_are_remembered() {
        let service = JwtTokenService::hs256(SECRET);
        let refresh = service.issue(&claims(TokenKind::Refresh, 60)).unwrap();
        let access = service.issue(&claims(TokenKind::Access, 60)).unwrap();
        service.verify(&refresh, TokenKind::Refresh).unwrap();
        service.verify(&access, TokenKind::Access).unwrap();
        assert!(service.verified.get(refresh.as_str()).is_none());
        assert!(service.verified.get(access.as_str()).is_some());
    }

    #[test]
    fn an_alg_none_token_is_unauthorized() {
        let service = JwtTokenService::hs256(SECRET);
        let real = service.issue(&claims(TokenKind::Access, 60)).unwrap();
        let payload = real.split('.').nth(1).unwrap();
        // base64url of {"alg":"none","typ":"JWT"}
        let header = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0";
        assert_invalid_token(service.verify(&format!("{header}.{payload}."), TokenKind::Access));
    }

    #[test]
    fn garbage_is_unauthorized() {
        let service = JwtTokenService::hs256(SECRET);
        for token in ["", "a.b.c", "not a token", "..", "ey.ey.ey"] {
            assert_invalid_token(service.verify(token, TokenKind::Access));
        }
    }

    #[test]
    fn only_hmac_algorithms_and_nonempty_secrets_are_accepted() {
        assert!(JwtTokenService::new(SECRET, "HS384").is_ok());
        for alg in ["none", "RS256", "ES256", "hs256", ""] {
            assert!(JwtTokenService::new(SECRET, alg).is_err(), "{alg}");
        }
        assert!(JwtTokenService::new(b"", "HS256").is_err());
    }

    #[test]
    fn debug_does_not_print_the_secret() {
        let service = JwtTokenService::hs256(SECRET);
        let debug = format!("{service:?}");
        assert!(!debug.contains("a test secret"), "{debug}");
    }
}
