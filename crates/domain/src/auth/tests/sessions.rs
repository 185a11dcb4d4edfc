//! A user's own sessions: the list, and ending one.

use chrono::Duration;
use uuid::Uuid;

use super::Ports;
use crate::DomainError;
use crate::auth::SessionSummary;
use crate::page::{Page, PageRequest};
use crate::tests::fixtures::{member, now};

#[tokio::test]
async fn the_list_is_the_users_live_sessions_at_the_clocks_now() {
    let alice = member();
    let alice_id = alice.id;
    let summary = SessionSummary {
        id: Uuid::now_v7(),
        created_at: now(),
        last_used_at: now(),
        expires_at: now() + Duration::days(1),
        user_agent: None,
        ip: None,
    };
    let page = Page {
        items: vec![summary.clone()],
        total: 1,
        limit: 20,
        offset: 0,
    };
    let mut ports = Ports::default();
    let answer = page.clone();
    ports
        .sessions
        .expect_list_live()
        .withf(move |user, at, _| *user == alice_id && *at == now())
        .times(1)
        .returning(move |_, _, _| Ok(answer.clone()));

    let listed = ports
        .service()
        .sessions(&alice, PageRequest::default())
        .await
        .unwrap();

    assert_eq!(listed, page);
}

#[tokio::test]
async fn ending_a_session_that_is_not_ones_own_live_session_is_not_found() {
    let alice = member();
    let mut ports = Ports::default();
    ports
        .sessions
        .expect_revoke_own()
        .times(1)
        .returning(|_, _, _| Ok(false));

    let result = ports.service().end_session(&alice, Uuid::now_v7()).await;

    assert!(
        matches!(result, Err(DomainError::NotFound(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn ending_ones_own_session_revokes_it_now() {
    let alice = member();
    let alice_id = alice.id;
    let sid = Uuid::now_v7();
    let mut ports = Ports::default();
    ports
        .sessions
        .expect_revoke_own()
        .withf(move |user, session, at| *user == alice_id && *session == sid && *at == now())
        .times(1)
        .returning(|_, _, _| Ok(true));

    assert!(ports.service().end_session(&alice, sid).await.is_ok());
}
