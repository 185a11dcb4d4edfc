//! Unit tests of the auth rules, against mockall mocks of the ports, one file per rule
//! family; this file holds what they share.

use std::sync::{Arc, Mutex};

use uuid::Uuid;

use super::model::{Claims, Session, TokenKind, TokenLifetimes, TokenPair};
use super::ports::{
    MockLoginThrottleRepository, MockPasswordHasher, MockSessionRepository, MockTokenService,
};
use super::service::AuthService;
use crate::DomainError;
use crate::testing::SequentialIds;
use crate::tests::fixtures::{clock, now};
use crate::user::{MockUserRepository, PasswordHash, User, UserCredentials};

mod authenticate;
mod login;
mod logout;
mod model;
mod purge;
mod refresh;
mod reset;
mod sessions;
mod throttle;

/// Deliberately not the defaults, so the service is seen to use the configured values.
const LIFETIMES: TokenLifetimes = TokenLifetimes {
    access_secs: 900,
    refresh_secs: 86_400,
};

/// The mocked ports of one [`AuthService`]; new ids come from a fresh
/// [`SequentialIds`], so the ids one call draws are `nth(1)`, `nth(2)`, ...
#[derive(Default)]
struct Ports {
    users: MockUserRepository,
    sessions: MockSessionRepository,
    hasher: MockPasswordHasher,
    tokens: MockTokenService,
    /// The login throttle, when a test switches it on.
    throttle: Option<MockLoginThrottleRepository>,
}

impl Ports {
    fn service(self) -> AuthService {
        let service = AuthService::new(
            Arc::new(self.users),
            Arc::new(self.sessions),
            Arc::new(self.hasher),
            Arc::new(self.tokens),
            clock(),
            Arc::new(SequentialIds::new()),
            LIFETIMES,
        );
        match self.throttle {
            Some(throttle) => service.with_login_throttle(Arc::new(throttle)),
            None => service,
        }
    }

    /// `find_credentials` answers `credentials` for any identifier.
    fn credentials(&mut self, credentials: Option<UserCredentials>) {
        self.users
            .expect_find_credentials()
            .times(1)
            .returning(move |_| Ok(credentials.clone()));
    }

    /// `verify` answers `matches`, once.
    fn password_matches(&mut self, matches: bool) {
        self.hasher
            .expect_verify()
            .times(1)
            .returning(move |_, _| Ok(matches));
    }

    /// `start` stores one session, kept for the assertions.
    fn record_inserted_session(&mut self) -> Arc<Mutex<Option<Session>>> {
        let inserted = Arc::new(Mutex::new(None));
        let slot = Arc::clone(&inserted);
        self.sessions
            .expect_start()
            .times(1)
            .returning(move |s, _| {
                *slot.lock().unwrap() = Some(s.clone());
                Ok(())
            });
        inserted
    }

    /// `issue` records every claim set and signs it as `<type>-<jti>`.
    fn record_issued(&mut self) -> Arc<Mutex<Vec<Claims>>> {
        let issued = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&issued);
        self.tokens.expect_issue().returning(move |claims| {
            sink.lock().unwrap().push(claims.clone());
            Ok(format!("{}-{}", claims.kind.as_str(), claims.jti))
        });
        issued
    }

    /// `verify(token, expected)` answers `claims` for exactly this token and kind.
    fn token_verifies(&mut self, token: &'static str, kind: TokenKind, claims: Claims) {
        self.tokens
            .expect_verify()
            .withf(move |t, k| t == token && *k == kind)
            .times(1)
            .returning(move |_, _| Ok(claims.clone()));
    }

    /// `verify` refuses every token.
    fn token_refused(&mut self) {
        self.tokens
            .expect_verify()
            .times(1)
            .returning(|_, _| Err(DomainError::Unauthorized("bad token".into())));
    }
}

fn credentials_of(user: &User) -> UserCredentials {
    UserCredentials {
        user: user.clone(),
        password_hash: PasswordHash::new("$2b$12$stored-hash"),
    }
}

/// Verified claims of a token of `kind` issued a minute ago to `sub` in session `sid`.
fn claims(kind: TokenKind, sub: Uuid, sid: Uuid) -> Claims {
    let iat = now().timestamp() - 60;
    Claims {
        sub,
        sid,
        jti: Uuid::now_v7(),
        kind,
        iat,
        exp: iat + 600,
    }
}

/// The one claim set of `kind` among those issued.
fn issued_of(issued: &[Claims], kind: TokenKind) -> Claims {
    let mut of_kind = issued.iter().filter(|c| c.kind == kind);
    let claims = of_kind.next().expect("a token of this kind was issued");
    assert!(of_kind.next().is_none(), "one token of each kind");
    claims.clone()
}

fn unauthorized_message(result: Result<TokenPair, DomainError>) -> String {
    match result {
        Err(DomainError::Unauthorized(message)) => message,
        other => panic!("expected Unauthorized, got {other:?}"),
    }
}

fn assert_unauthorized<T: std::fmt::Debug>(result: Result<T, DomainError>) {
    assert!(
        matches!(result, Err(DomainError::Unauthorized(_))),
        "{result:?}"
    );
}
