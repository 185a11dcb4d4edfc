//! The per-request check of an access token: its session must be live, its user the
//! token's subject and active.

use uuid::Uuid;

use super::{Ports, assert_unauthorized, claims};
use crate::DomainError;
use crate::auth::TokenKind;
use crate::testing::UserBuilder;
use crate::tests::fixtures::member;

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
    let token = claims(TokenKind::Access, member().id, Uuid::now_v7());
    let sid = token.sid;
    let mut ports = Ports::default();
    ports.token_verifies("a", TokenKind::Access, token);
    // Storage answers nothing for a revoked (or unknown, or deleted user's) session.
    ports
        .sessions
        .expect_find_session_user()
        .withf(move |id| *id == sid)
        .times(1)
        .returning(|_| Ok(None));

    let result = ports.service().authenticate("a").await;
    assert_unauthorized(result);
}

#[tokio::test]
async fn authenticate_when_the_session_user_is_not_the_subject_is_unauthorized() {
    let alice = member();
    let bob = UserBuilder::new("bob").build();
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
        .returning(move |_| Ok(Some(bob.clone())));

    let result = ports.service().authenticate("a").await;
    assert_unauthorized(result);
}

#[tokio::test]
async fn authenticate_an_inactive_user_is_unauthorized() {
    let alice = UserBuilder::new("alice").inactive().build();
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
    assert_unauthorized(result);
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
    assert_unauthorized(result);
}
