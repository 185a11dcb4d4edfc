//! Logging out of one session, or of every session.

use uuid::Uuid;

use super::{Ports, claims};
use crate::DomainError;
use crate::auth::TokenKind;
use crate::tests::fixtures::now;

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
