//! Refreshing: rotation of the session's refresh token and reuse detection.

use std::sync::{Arc, Mutex};

use chrono::Duration;
use uuid::Uuid;

use super::{Ports, assert_unauthorized, claims, issued_of};
use crate::DomainError;
use crate::auth::{Rotation, Session, TokenKind};
use crate::testing::SequentialIds;
use crate::tests::fixtures::{member, now};

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
    let refresh = issued_of(&issued, TokenKind::Refresh);
    let access = issued_of(&issued, TokenKind::Access);
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
async fn refresh_takes_the_new_refresh_jti_and_the_access_jti_from_the_id_source() {
    let alice = member();
    let user_id = alice.id;
    let mut ports = Ports::default();
    ports.token_verifies(
        "refresh-token",
        TokenKind::Refresh,
        claims(TokenKind::Refresh, user_id, Uuid::now_v7()),
    );
    let rotated_to = Arc::new(Mutex::new(None::<Uuid>));
    let slot = Arc::clone(&rotated_to);
    ports.sessions.expect_rotate().times(1).returning(
        move |session_id, _, new_jti, expires_at, _| {
            *slot.lock().unwrap() = Some(new_jti);
            Ok(Rotation::Rotated(Session {
                id: session_id,
                user_id,
                refresh_jti: new_jti,
                created_at: now() - Duration::hours(1),
                expires_at,
                revoked_at: None,
            }))
        },
    );
    let issued = ports.record_issued();

    ports.service().refresh("refresh-token").await.unwrap();

    let new_jti = rotated_to.lock().unwrap().expect("rotate was called");
    let issued = issued.lock().unwrap().clone();
    let refresh = issued_of(&issued, TokenKind::Refresh);
    let access = issued_of(&issued, TokenKind::Access);
    assert_eq!(refresh.jti, new_jti);
    let mut drawn = [new_jti, access.jti];
    drawn.sort();
    assert_eq!(
        drawn,
        [1, 2].map(SequentialIds::nth),
        "the new refresh jti and the access jti are two ids of the source"
    );
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
    assert_unauthorized(result);
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
    assert_unauthorized(result);
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
    assert_unauthorized(result);
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
    assert_unauthorized(result);
}
