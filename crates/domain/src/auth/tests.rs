//! Unit tests of the auth rules, against mockall mocks of the ports.

use std::sync::{Arc, Mutex};

use chrono::Duration;
use uuid::Uuid;

use super::model::{Claims, Rotation, Session, TokenKind, TokenLifetimes, TokenPair};
use super::ports::{MockPasswordHasher, MockSessionRepository, MockTokenService};
use super::service::AuthService;
use crate::DomainError;
use crate::tests::fixtures::{clock, member, now};
use crate::user::{LoginIdentifier, MockUserRepository, PasswordHash, User, UserCredentials};

/// Deliberately not the defaults, so the service is seen to use the configured values.
const LIFETIMES: TokenLifetimes = TokenLifetimes {
    access_secs: 900,
    refresh_secs: 86_400,
};

/// The mocked ports of one [`AuthService`].
#[derive(Default)]
struct Ports {
    users: MockUserRepository,
    sessions: MockSessionRepository,
    hasher: MockPasswordHasher,
    tokens: MockTokenService,
}

impl Ports {
    fn service(self) -> AuthService {
        AuthService::new(
            Arc::new(self.users),
            Arc::new(self.sessions),
            Arc::new(self.hasher),
            Arc::new(self.tokens),
            clock(),
            LIFETIMES,
        )
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

fn unauthorized_message(result: Result<TokenPair, DomainError>) -> String {
    match result {
        Err(DomainError::Unauthorized(message)) => message,
        other => panic!("expected Unauthorized, got {other:?}"),
    }
}

// ---------------------------------------------------------------- model

#[test]
fn token_kind_round_trips_its_type_claim() {
    for kind in [TokenKind::Access, TokenKind::Refresh] {
        assert_eq!(TokenKind::parse(kind.as_str()).unwrap(), kind);
    }
    assert_eq!(TokenKind::Access.as_str(), "access");
    assert_eq!(TokenKind::Refresh.as_str(), "refresh");
}

#[test]
fn token_kind_refuses_any_other_type_claim_as_unauthorized() {
    for raw in ["", "Access", "id", "bearer"] {
        assert!(
            matches!(TokenKind::parse(raw), Err(DomainError::Unauthorized(_))),
            "{raw}"
        );
    }
}

#[test]
fn token_pair_debug_never_prints_the_tokens() {
    let pair = TokenPair {
        access_token: "eyJ.secret-access.sig".into(),
        refresh_token: "eyJ.secret-refresh.sig".into(),
        expires_in: 1800,
        refresh_expires_in: 604_800,
    };
    let printed = format!("{pair:?}");
    assert!(!printed.contains("secret-access"), "{printed}");
    assert!(!printed.contains("secret-refresh"), "{printed}");
    assert!(
        printed.contains("1800") && printed.contains("604800"),
        "{printed}"
    );
}

#[test]
fn token_lifetimes_default_to_thirty_minutes_and_seven_days() {
    assert_eq!(
        TokenLifetimes::default(),
        TokenLifetimes {
            access_secs: 1800,
            refresh_secs: 604_800
        }
    );
}

// ---------------------------------------------------------------- login

#[tokio::test]
async fn login_issues_an_access_and_a_refresh_token_of_one_new_session() {
    let alice = member();
    let mut ports = Ports::default();
    let creds = credentials_of(&alice);
    ports
        .users
        .expect_find_credentials()
        .withf(|id| *id == LoginIdentifier::Email("alice@example.com".into()))
        .times(1)
        .returning(move |_| Ok(Some(creds.clone())));
    ports
        .hasher
        .expect_verify()
        .withf(|password, hash| {
            password == "correct horse"
                && hash.map(PasswordHash::as_str) == Some("$2b$12$stored-hash")
        })
        .times(1)
        .returning(|_, _| Ok(true));
    let inserted = Arc::new(Mutex::new(None::<Session>));
    let slot = Arc::clone(&inserted);
    let alice_id = alice.id;
    ports
        .sessions
        .expect_insert()
        .withf(move |s| {
            s.user_id == alice_id
                && s.created_at == now()
                && s.expires_at == now() + Duration::seconds(86_400)
                && s.revoked_at.is_none()
        })
        .times(1)
        .returning(move |s| {
            *slot.lock().unwrap() = Some(s.clone());
            Ok(())
        });
    let issued = ports.record_issued();

    let pair = ports
        .service()
        .login(" Alice@Example.com ", "correct horse")
        .await
        .unwrap();

    let session = inserted
        .lock()
        .unwrap()
        .clone()
        .expect("a session was stored");
    let issued = issued.lock().unwrap().clone();
    assert_eq!(issued.len(), 2);
    let access = issued.iter().find(|c| c.kind == TokenKind::Access).unwrap();
    let refresh = issued
        .iter()
        .find(|c| c.kind == TokenKind::Refresh)
        .unwrap();
    let iat = now().timestamp();
    assert_eq!(
        (access.sub, access.sid, access.iat, access.exp),
        (alice.id, session.id, iat, iat + 900)
    );
    assert_eq!(
        (
            refresh.sub,
            refresh.sid,
            refresh.jti,
            refresh.iat,
            refresh.exp
        ),
        (alice.id, session.id, session.refresh_jti, iat, iat + 86_400)
    );
    assert_ne!(access.jti, refresh.jti);
    assert_eq!(pair.access_token, format!("access-{}", access.jti));
    assert_eq!(pair.refresh_token, format!("refresh-{}", refresh.jti));
    assert_eq!((pair.expires_in, pair.refresh_expires_in), (900, 86_400));
}

#[tokio::test]
async fn login_by_username_looks_the_account_up_by_username() {
    let alice = member();
    let mut ports = Ports::default();
    let creds = credentials_of(&alice);
    ports
        .users
        .expect_find_credentials()
        .withf(|id| matches!(id, LoginIdentifier::Username(u) if u.eq_ignore_ascii_case("Alice")))
        .times(1)
        .returning(move |_| Ok(Some(creds.clone())));
    ports.password_matches(true);
    ports
        .sessions
        .expect_insert()
        .times(1)
        .returning(|_| Ok(()));
    ports.record_issued();

    assert!(
        ports
            .service()
            .login("Alice", "correct horse")
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn login_with_a_wrong_password_is_unauthorized_and_starts_no_session() {
    let mut ports = Ports::default();
    ports.credentials(Some(credentials_of(&member())));
    ports.password_matches(false);
    ports.sessions.expect_insert().never();
    ports.tokens.expect_issue().never();

    let result = ports.service().login("alice@example.com", "wrong").await;
    assert!(
        matches!(result, Err(DomainError::Unauthorized(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn login_of_an_unknown_user_still_verifies_against_no_hash() {
    let mut ports = Ports::default();
    ports.credentials(None);
    ports
        .hasher
        .expect_verify()
        .withf(|password, hash| password == "whatever1" && hash.is_none())
        .times(1)
        .returning(|_, _| Ok(false));
    ports.sessions.expect_insert().never();
    ports.tokens.expect_issue().never();

    let result = ports
        .service()
        .login("nobody@example.com", "whatever1")
        .await;
    assert!(
        matches!(result, Err(DomainError::Unauthorized(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn unknown_user_and_wrong_password_get_the_same_message() {
    let mut unknown = Ports::default();
    unknown.credentials(None);
    unknown.password_matches(false);
    let unknown = unauthorized_message(unknown.service().login("nobody@example.com", "pw").await);

    let mut wrong = Ports::default();
    wrong.credentials(Some(credentials_of(&member())));
    wrong.password_matches(false);
    let wrong = unauthorized_message(wrong.service().login("alice@example.com", "pw").await);

    assert_eq!(unknown, wrong);
}

#[tokio::test]
async fn login_of_an_inactive_user_with_the_right_password_is_forbidden() {
    let mut alice = member();
    alice.is_active = false;
    let mut ports = Ports::default();
    ports.credentials(Some(credentials_of(&alice)));
    ports.password_matches(true);
    ports.sessions.expect_insert().never();
    ports.tokens.expect_issue().never();

    let result = ports
        .service()
        .login("alice@example.com", "correct horse")
        .await;
    assert!(
        matches!(result, Err(DomainError::Forbidden(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn login_of_an_inactive_user_with_a_wrong_password_is_unauthorized() {
    let mut alice = member();
    alice.is_active = false;
    let mut ports = Ports::default();
    ports.credentials(Some(credentials_of(&alice)));
    ports.password_matches(false);
    ports.sessions.expect_insert().never();

    let result = ports.service().login("alice@example.com", "wrong").await;
    assert!(
        matches!(result, Err(DomainError::Unauthorized(_))),
        "{result:?}"
    );
}

// ---------------------------------------------------------------- refresh

#[tokio::test]
async fn refresh_rotates_the_session_and_issues_a_pair_with_the_new_refresh_jti() {
    let alice = member();
    let old = claims(TokenKind::Refresh, alice.id, Uuid::now_v7());
    let (sid, old_jti, user_id) = (old.sid, old.jti, alice.id);
    let mut ports = Ports::default();
    ports.token_verifies("refresh-token", TokenKind::Refresh, old);
    let rotated_to = Arc::new(Mutex::new(None::<Uuid>));
    let slot = Arc::clone(&rotated_to);
    ports
        .sessions
        .expect_rotate()
        .withf(move |session_id, presented, new_jti, expires_at, at| {
            *session_id == sid
                && *presented == old_jti
                && *new_jti != old_jti
                && *expires_at == now() + Duration::seconds(86_400)
                && *at == now()
        })
        .times(1)
        .returning(move |session_id, _, new_jti, expires_at, _| {
            *slot.lock().unwrap() = Some(new_jti);
            Ok(Rotation::Rotated(Session {
                id: session_id,
                user_id,
                refresh_jti: new_jti,
                created_at: now() - Duration::hours(1),
                expires_at,
                revoked_at: None,
            }))
        });
    let issued = ports.record_issued();

    let pair = ports.service().refresh("refresh-token").await.unwrap();

    let new_jti = rotated_to.lock().unwrap().expect("rotate was called");
    let issued = issued.lock().unwrap().clone();
    let refresh = issued
        .iter()
        .find(|c| c.kind == TokenKind::Refresh)
        .unwrap();
    let access = issued.iter().find(|c| c.kind == TokenKind::Access).unwrap();
    assert_eq!(
        (refresh.jti, refresh.sid, refresh.sub),
        (new_jti, sid, user_id)
    );
    assert_eq!((access.sid, access.sub), (sid, user_id));
    assert_eq!(refresh.exp, now().timestamp() + 86_400);
    assert_eq!(access.exp, now().timestamp() + 900);
    assert_eq!(pair.refresh_token, format!("refresh-{new_jti}"));
    assert_eq!((pair.expires_in, pair.refresh_expires_in), (900, 86_400));
}

#[tokio::test]
async fn refresh_with_a_spent_token_is_unauthorized_and_issues_nothing() {
    let mut ports = Ports::default();
    ports.token_verifies(
        "spent",
        TokenKind::Refresh,
        claims(TokenKind::Refresh, Uuid::now_v7(), Uuid::now_v7()),
    );
    ports
        .sessions
        .expect_rotate()
        .times(1)
        .returning(|_, _, _, _, _| Ok(Rotation::ReuseDetected));
    ports.tokens.expect_issue().never();

    let result = ports.service().refresh("spent").await;
    assert!(
        matches!(result, Err(DomainError::Unauthorized(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn refresh_of_a_dead_session_is_unauthorized() {
    let mut ports = Ports::default();
    ports.token_verifies(
        "old",
        TokenKind::Refresh,
        claims(TokenKind::Refresh, Uuid::now_v7(), Uuid::now_v7()),
    );
    ports
        .sessions
        .expect_rotate()
        .times(1)
        .returning(|_, _, _, _, _| Ok(Rotation::Rejected));
    ports.tokens.expect_issue().never();

    let result = ports.service().refresh("old").await;
    assert!(
        matches!(result, Err(DomainError::Unauthorized(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn refresh_of_a_session_belonging_to_another_user_is_unauthorized() {
    let token = claims(TokenKind::Refresh, Uuid::now_v7(), Uuid::now_v7());
    let someone_else = Uuid::now_v7();
    let mut ports = Ports::default();
    ports.token_verifies("t", TokenKind::Refresh, token);
    ports
        .sessions
        .expect_rotate()
        .times(1)
        .returning(move |sid, _, new_jti, expires_at, _| {
            Ok(Rotation::Rotated(Session {
                id: sid,
                user_id: someone_else,
                refresh_jti: new_jti,
                created_at: now(),
                expires_at,
                revoked_at: None,
            }))
        });
    ports.tokens.expect_issue().never();

    let result = ports.service().refresh("t").await;
    assert!(
        matches!(result, Err(DomainError::Unauthorized(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn refresh_with_an_access_token_is_unauthorized_and_never_rotates() {
    let mut ports = Ports::default();
    ports
        .tokens
        .expect_verify()
        .withf(|t, kind| t == "access-token" && *kind == TokenKind::Refresh)
        .times(1)
        .returning(|_, _| Err(DomainError::Unauthorized("wrong token type".into())));
    ports.sessions.expect_rotate().never();
    ports.tokens.expect_issue().never();

    let result = ports.service().refresh("access-token").await;
    assert!(
        matches!(result, Err(DomainError::Unauthorized(_))),
        "{result:?}"
    );
}

// ---------------------------------------------------------------- logout

#[tokio::test]
async fn logout_with_garbage_succeeds_and_revokes_nothing() {
    let mut ports = Ports::default();
    ports.token_refused();
    ports.sessions.expect_revoke().never();
    ports.sessions.expect_revoke_all().never();

    assert!(ports.service().logout("not a jwt").await.is_ok());
}

#[tokio::test]
async fn logout_with_a_valid_refresh_token_revokes_its_session() {
    let token = claims(TokenKind::Refresh, Uuid::now_v7(), Uuid::now_v7());
    let sid = token.sid;
    let mut ports = Ports::default();
    ports.token_verifies("refresh-token", TokenKind::Refresh, token);
    ports
        .sessions
        .expect_revoke()
        .withf(move |session_id, at| *session_id == sid && *at == now())
        .times(1)
        .returning(|_, _| Ok(()));

    assert!(ports.service().logout("refresh-token").await.is_ok());
}

#[tokio::test]
async fn logout_reports_a_storage_failure() {
    let mut ports = Ports::default();
    ports.token_verifies(
        "t",
        TokenKind::Refresh,
        claims(TokenKind::Refresh, Uuid::now_v7(), Uuid::now_v7()),
    );
    ports
        .sessions
        .expect_revoke()
        .times(1)
        .returning(|_, _| Err(DomainError::unexpected("db down")));

    let result = ports.service().logout("t").await;
    assert!(
        matches!(result, Err(DomainError::Unexpected(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn logout_everywhere_revokes_every_session_of_the_user() {
    let user_id = Uuid::now_v7();
    let mut ports = Ports::default();
    ports
        .sessions
        .expect_revoke_all()
        .withf(move |id, at| *id == user_id && *at == now())
        .times(1)
        .returning(|_, _| Ok(()));
    ports.sessions.expect_revoke().never();

    assert!(ports.service().logout_everywhere(user_id).await.is_ok());
}

// ---------------------------------------------------------------- authenticate

#[tokio::test]
async fn authenticate_returns_the_user_of_a_live_session() {
    let alice = member();
    let token = claims(TokenKind::Access, alice.id, Uuid::now_v7());
    let sid = token.sid;
    let mut ports = Ports::default();
    ports.token_verifies("access-token", TokenKind::Access, token);
    let found = alice.clone();
    ports
        .sessions
        .expect_find_session_user()
        .withf(move |id| *id == sid)
        .times(1)
        .returning(move |_| Ok(Some(found.clone())));

    assert_eq!(
        ports.service().authenticate("access-token").await.unwrap(),
        alice
    );
}

#[tokio::test]
async fn authenticate_with_a_revoked_session_is_unauthorized() {
    let mut ports = Ports::default();
    ports.token_verifies(
        "a",
        TokenKind::Access,
        claims(TokenKind::Access, Uuid::now_v7(), Uuid::now_v7()),
    );
    ports
        .sessions
        .expect_find_session_user()
        .times(1)
        .returning(|_| Ok(None));

    let result = ports.service().authenticate("a").await;
    assert!(
        matches!(result, Err(DomainError::Unauthorized(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn authenticate_when_the_session_user_is_not_the_subject_is_unauthorized() {
    let alice = member();
    let mut ports = Ports::default();
    ports.token_verifies(
        "a",
        TokenKind::Access,
        claims(TokenKind::Access, Uuid::now_v7(), Uuid::now_v7()),
    );
    ports
        .sessions
        .expect_find_session_user()
        .times(1)
        .returning(move |_| Ok(Some(alice.clone())));

    let result = ports.service().authenticate("a").await;
    assert!(
        matches!(result, Err(DomainError::Unauthorized(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn authenticate_an_inactive_user_is_unauthorized() {
    let mut alice = member();
    alice.is_active = false;
    let mut ports = Ports::default();
    ports.token_verifies(
        "a",
        TokenKind::Access,
        claims(TokenKind::Access, alice.id, Uuid::now_v7()),
    );
    ports
        .sessions
        .expect_find_session_user()
        .times(1)
        .returning(move |_| Ok(Some(alice.clone())));

    let result = ports.service().authenticate("a").await;
    assert!(
        matches!(result, Err(DomainError::Unauthorized(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn authenticate_with_a_refresh_token_is_unauthorized_and_reads_no_session() {
    let mut ports = Ports::default();
    ports
        .tokens
        .expect_verify()
        .withf(|_, kind| *kind == TokenKind::Access)
        .times(1)
        .returning(|_, _| Err(DomainError::Unauthorized("wrong token type".into())));
    ports.sessions.expect_find_session_user().never();

    let result = ports.service().authenticate("refresh-token").await;
    assert!(
        matches!(result, Err(DomainError::Unauthorized(_))),
        "{result:?}"
    );
}

// ---------------------------------------------------------------- purge

#[tokio::test]
async fn purge_sessions_purges_as_of_the_clock_and_returns_the_count() {
    let mut ports = Ports::default();
    ports
        .sessions
        .expect_purge()
        .withf(|at| *at == now())
        .times(1)
        .returning(|_| Ok(7));

    assert_eq!(ports.service().purge_sessions().await.unwrap(), 7);
}
