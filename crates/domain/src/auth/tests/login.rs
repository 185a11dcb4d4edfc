//! Logging in: one new session and a pair of tokens, or one message for every failure.

use std::sync::{Arc, Mutex};

use chrono::Duration;

use super::{Ports, assert_unauthorized, credentials_of, issued_of, unauthorized_message};
use crate::DomainError;
use crate::auth::{Session, TokenKind};
use crate::testing::{SequentialIds, UserBuilder};
use crate::tests::fixtures::{member, now};
use crate::user::{LoginIdentifier, PasswordHash};

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
        .expect_start()
        .withf(move |s, _| {
            s.user_id == alice_id
                && s.created_at == now()
                && s.expires_at == now() + Duration::seconds(86_400)
                && s.revoked_at.is_none()
        })
        .times(1)
        .returning(move |s, _| {
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
    let access = issued_of(&issued, TokenKind::Access);
    let refresh = issued_of(&issued, TokenKind::Refresh);
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
async fn login_takes_the_session_id_and_both_jtis_from_the_id_source() {
    let alice = member();
    let mut ports = Ports::default();
    ports.credentials(Some(credentials_of(&alice)));
    ports.password_matches(true);
    let inserted = ports.record_inserted_session();
    let issued = ports.record_issued();

    ports
        .service()
        .login("alice@example.com", "correct horse")
        .await
        .unwrap();

    let session = inserted
        .lock()
        .unwrap()
        .clone()
        .expect("a session was stored");
    let issued = issued.lock().unwrap().clone();
    let access = issued_of(&issued, TokenKind::Access);
    let refresh = issued_of(&issued, TokenKind::Refresh);
    assert_eq!(
        (access.sid, refresh.sid, refresh.jti),
        (session.id, session.id, session.refresh_jti)
    );
    let mut drawn = [session.id, session.refresh_jti, access.jti];
    drawn.sort();
    assert_eq!(
        drawn,
        [1, 2, 3].map(SequentialIds::nth),
        "session id, refresh jti and access jti are three ids of the source"
    );
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
        .expect_start()
        .times(1)
        .returning(|_, _| Ok(()));
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
    ports.sessions.expect_start().never();
    ports.tokens.expect_issue().never();

    let result = ports.service().login("alice@example.com", "wrong").await;
    assert_unauthorized(result);
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
    ports.sessions.expect_start().never();
    ports.tokens.expect_issue().never();

    let result = ports
        .service()
        .login("nobody@example.com", "whatever1")
        .await;
    assert_unauthorized(result);
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
    let alice = UserBuilder::new("alice").inactive().build();
    let mut ports = Ports::default();
    ports.credentials(Some(credentials_of(&alice)));
    ports.password_matches(true);
    ports.sessions.expect_start().never();
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
    let alice = UserBuilder::new("alice").inactive().build();
    let mut ports = Ports::default();
    ports.credentials(Some(credentials_of(&alice)));
    ports.password_matches(false);
    ports.sessions.expect_start().never();

    let result = ports.service().login("alice@example.com", "wrong").await;
    assert_unauthorized(result);
}
