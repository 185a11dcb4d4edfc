//! The per-account login throttle: the rule, and how login applies it.

use chrono::Duration;

use super::{Ports, credentials_of};
use crate::DomainError;
use crate::auth::ClientInfo;
use crate::auth::ports::MockLoginThrottleRepository;
use crate::auth::throttle::{MAX_WAIT, ThrottleState, wait_after};
use crate::tests::fixtures::{member, now};

fn after(failures: u32) -> ThrottleState {
    let mut state = None;
    for _ in 0..failures {
        state = Some(ThrottleState::after_failure(state.as_ref(), now()));
    }
    state.expect("at least one failure")
}

#[test]
fn four_failures_cost_nothing_and_the_fifth_starts_a_one_second_wait() {
    assert_eq!(after(4).blocked_until, None);
    assert_eq!(after(4).retry_after_secs(now()), None);
    assert_eq!(after(5).blocked_until, Some(now() + Duration::seconds(1)));
    assert_eq!(after(5).retry_after_secs(now()), Some(1));
}

#[test]
fn each_further_failure_doubles_the_wait_up_to_fifteen_minutes() {
    assert_eq!(wait_after(6), Some(Duration::seconds(2)));
    assert_eq!(wait_after(7), Some(Duration::seconds(4)));
    assert_eq!(wait_after(14), Some(Duration::seconds(512)));
    assert_eq!(wait_after(15), Some(MAX_WAIT));
    assert_eq!(wait_after(u32::MAX), Some(MAX_WAIT));
    assert_eq!(after(15).retry_after_secs(now()), Some(900));
}

#[test]
fn failures_lapse_fifteen_minutes_after_the_first_and_waits_after_the_last() {
    let four = after(4);
    let later = now() + Duration::minutes(15);
    assert_eq!(ThrottleState::after_failure(Some(&four), later).failures, 1);
    assert!(four.is_stale(later));

    let waiting = after(6);
    let during = now() + Duration::minutes(14);
    assert_eq!(
        ThrottleState::after_failure(Some(&waiting), during).failures,
        7
    );
    assert!(!waiting.is_stale(during));
}

#[test]
fn retry_after_rounds_up_to_whole_seconds() {
    let state = after(6);
    assert_eq!(
        state.retry_after_secs(now() + Duration::milliseconds(500)),
        Some(2)
    );
    assert_eq!(state.retry_after_secs(now() + Duration::seconds(2)), None);
}

#[tokio::test]
async fn a_login_during_the_wait_is_refused_before_its_password_is_checked() {
    let mut ports = Ports::default();
    let mut throttle = MockLoginThrottleRepository::new();
    throttle
        .expect_find()
        .withf(|id| id == "alice@example.com")
        .times(1)
        .returning(|_| Ok(Some(after(6))));
    throttle.expect_record_failure().never();
    throttle.expect_clear().never();
    ports.throttle = Some(throttle);
    ports.users.expect_find_credentials().never();
    ports.hasher.expect_verify().never();

    let result = ports
        .service()
        .login(" Alice@Example.com", "correct horse")
        .await;

    assert!(
        matches!(
            result,
            Err(DomainError::Throttled {
                retry_after_secs: 2
            })
        ),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_failed_login_is_counted_under_the_identifier_as_sent_even_without_an_account() {
    let mut ports = Ports::default();
    let mut throttle = MockLoginThrottleRepository::new();
    throttle.expect_find().times(1).returning(|_| Ok(None));
    throttle
        .expect_record_failure()
        .withf(|id, at| id == "nobody" && *at == now())
        .times(1)
        .returning(|_, _| Ok(after(1)));
    ports.throttle = Some(throttle);
    ports.credentials(None);
    ports.password_matches(false);

    let result = ports.service().login("NoBody", "guess").await;

    assert!(matches!(result, Err(DomainError::Unauthorized(_))));
}

#[tokio::test]
async fn a_successful_login_clears_the_count_and_records_its_client() {
    let alice = member();
    let mut ports = Ports::default();
    let mut throttle = MockLoginThrottleRepository::new();
    throttle
        .expect_find()
        .times(1)
        .returning(|_| Ok(Some(after(3))));
    throttle
        .expect_clear()
        .withf(|id| id == "alice@example.com")
        .times(1)
        .returning(|_| Ok(()));
    throttle.expect_record_failure().never();
    ports.throttle = Some(throttle);
    ports.credentials(Some(credentials_of(&alice)));
    ports.password_matches(true);
    ports
        .sessions
        .expect_start()
        .withf(|_, client| {
            client.user_agent.as_deref() == Some("curl/8")
                && client.ip.as_deref() == Some("10.0.0.9")
        })
        .times(1)
        .returning(|_, _| Ok(()));
    ports.record_issued();

    let client = ClientInfo::new(Some("curl/8"), Some("10.0.0.9".into()));
    let result = ports
        .service()
        .login_from("alice@example.com", "correct horse", &client)
        .await;

    assert!(result.is_ok(), "{result:?}");
}

#[test]
fn a_user_agent_is_kept_to_256_characters_without_control_characters() {
    let long = "é".repeat(300);
    let client = ClientInfo::new(Some(&long), None);
    assert_eq!(client.user_agent.map(|ua| ua.chars().count()), Some(256));
    let client = ClientInfo::new(Some("a\0b\r\nc"), None);
    assert_eq!(client.user_agent.as_deref(), Some("abc"));
    assert_eq!(ClientInfo::new(Some("  "), None).user_agent, None);
}
