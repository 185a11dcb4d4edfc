//! The per-account login throttle: failed logins of one identifier, from any address
//! and through any login route, start a wait in which even the right password gets 429.

use std::time::Duration;

use reqwest::{Method, Response};
use serde_json::json;
use taskforge_tests::{TestApp, USER_PASSWORD, spawn_app_with};

use crate::support::{assert_no_store, header, problem};

/// One login through one of the login routes, JSON or form, from `ip` behind the
/// trusted proxy (the test client's own address).
async fn attempt(app: &TestApp, n: usize, identifier: &str, password: &str, ip: &str) -> Response {
    let path = [
        "/api/v1/auth/login",
        "/auth/login",
        "/api/auth/login",
        "/api/v1/auth/login",
    ][n % 4];
    let req = app
        .request(Method::POST, path)
        .header("x-forwarded-for", ip);
    let req = if n.is_multiple_of(2) {
        req.json(&json!({"email": identifier, "password": password}))
    } else {
        req.form(&[("username", identifier), ("password", password)])
    };
    req.send().await.expect("request sent")
}

/// Asserts 429 with `Retry-After` of 1 to 900 whole seconds, and returns them.
async fn assert_throttled(res: Response) -> u64 {
    let (headers, body) = problem(res, 429, "rate_limited").await;
    let retry_after: u64 = header(&headers, "retry-after")
        .parse()
        .expect("Retry-After in whole seconds");
    assert!((1..=900).contains(&retry_after), "{retry_after}: {body}");
    assert_no_store(&headers, "throttled login");
    retry_after
}

/// Per-IP limits on (5 a minute, as by default) behind a trusted proxy: each attempt
/// comes from a fresh address, so only the per-account throttle can stop it.
async fn proxied_app() -> TestApp {
    spawn_app_with(&[
        ("RATE_LIMIT_ENABLED", "true"),
        ("TRUSTED_PROXIES", "127.0.0.1"),
    ])
    .await
}

#[tokio::test]
async fn an_attacker_rotating_addresses_is_throttled_and_the_right_password_gets_429_too() {
    let app = proxied_app().await;
    app.user("victim@example.com").await;
    for n in 0..5 {
        let res = attempt(
            &app,
            n,
            "victim@example.com",
            "guess",
            &format!("198.51.100.{n}"),
        )
        .await;
        assert_eq!(res.status().as_u16(), 401, "failure {n} is an ordinary 401");
    }
    // The wait has begun: every route, any address, the right password — all 429.
    for n in 5..9 {
        let ip = format!("203.0.113.{n}");
        assert_throttled(attempt(&app, n, "Victim@Example.com", USER_PASSWORD, &ip).await).await;
    }
}

#[tokio::test]
async fn an_identifier_without_an_account_is_throttled_the_same_way() {
    let app = proxied_app().await;
    for n in 0..5 {
        let res = attempt(
            &app,
            n,
            "nobody@example.com",
            "guess",
            &format!("198.51.100.{n}"),
        )
        .await;
        assert_eq!(res.status().as_u16(), 401);
    }
    assert_throttled(attempt(&app, 5, "nobody@example.com", "guess", "203.0.113.1").await).await;
    // A username is an identifier of its own, with a count of its own.
    let res = attempt(&app, 6, "nobody_user", "guess", "203.0.113.2").await;
    assert_eq!(res.status().as_u16(), 401);
}

#[tokio::test]
async fn the_wait_doubles_and_a_successful_login_after_it_clears_the_count() {
    let app = proxied_app().await;
    app.user("victim@example.com").await;
    for n in 0..5 {
        attempt(
            &app,
            n,
            "victim@example.com",
            "guess",
            &format!("198.51.100.{n}"),
        )
        .await;
    }
    assert_eq!(
        assert_throttled(attempt(&app, 0, "victim@example.com", "guess", "203.0.113.1").await)
            .await,
        1
    );
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    // The 6th failure waits 2 s.
    assert_eq!(
        attempt(&app, 1, "victim@example.com", "guess", "203.0.113.2")
            .await
            .status()
            .as_u16(),
        401
    );
    assert_eq!(
        assert_throttled(attempt(&app, 2, "victim@example.com", "guess", "203.0.113.3").await)
            .await,
        2
    );
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let res = attempt(&app, 0, "victim@example.com", USER_PASSWORD, "203.0.113.4").await;
    assert_eq!(
        res.status().as_u16(),
        200,
        "after the wait the right password works"
    );
    // The count starts again: four failures cost nothing.
    for n in 0..4 {
        let res = attempt(
            &app,
            n,
            "victim@example.com",
            "guess",
            &format!("192.0.2.{n}"),
        )
        .await;
        assert_eq!(res.status().as_u16(), 401);
    }
    let res = attempt(&app, 0, "victim@example.com", USER_PASSWORD, "192.0.2.200").await;
    assert_eq!(res.status().as_u16(), 200);
}

#[tokio::test]
async fn another_identifier_is_not_held_up_by_anothers_wait() {
    let app = proxied_app().await;
    app.user("victim@example.com").await;
    app.user("bystander@example.com").await;
    for n in 0..5 {
        attempt(
            &app,
            n,
            "victim@example.com",
            "guess",
            &format!("198.51.100.{n}"),
        )
        .await;
    }
    let res = attempt(
        &app,
        0,
        "bystander@example.com",
        USER_PASSWORD,
        "203.0.113.1",
    )
    .await;
    assert_eq!(res.status().as_u16(), 200);
}

#[tokio::test]
async fn with_the_throttle_off_failures_never_get_429() {
    let app = spawn_app_with(&[("LOGIN_THROTTLE_ENABLED", "false")]).await;
    app.user("victim@example.com").await;
    for n in 0..8 {
        let res = attempt(&app, n, "victim@example.com", "guess", "198.51.100.1").await;
        assert_eq!(res.status().as_u16(), 401);
    }
    let res = attempt(&app, 0, "victim@example.com", USER_PASSWORD, "198.51.100.1").await;
    assert_eq!(res.status().as_u16(), 200);
}
