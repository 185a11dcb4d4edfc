//! Per-client-IP rate limits of the auth route groups.

use reqwest::Response;
use serde_json::json;
use taskforge_tests::{TestApp, USER_PASSWORD, spawn_app_with};

use crate::support::{assert_no_store, header, login_form_at, problem, register_user};

/// A JSON login at `path` with the wrong password (it counts all the same), optionally
/// with an `X-Forwarded-For` header.
async fn login_attempt(app: &TestApp, path: &str, forwarded_for: Option<&str>) -> Response {
    let mut req = app
        .request(reqwest::Method::POST, path)
        .json(&json!({"email": "limited@example.com", "password": "wrong-password"}));
    if let Some(xff) = forwarded_for {
        req = req.header("x-forwarded-for", xff);
    }
    req.send().await.expect("request sent")
}

/// Asserts a 429 problem with `Retry-After` in whole seconds, 1 to 60, and no-store on
/// the auth routes.
async fn assert_rate_limited(res: Response) {
    let (headers, _) = problem(res, 429, "rate_limited").await;
    let retry_after = header(&headers, "retry-after");
    let seconds: u64 = retry_after
        .parse()
        .unwrap_or_else(|_| panic!("Retry-After is whole seconds: {retry_after:?}"));
    assert!((1..=60).contains(&seconds), "Retry-After {seconds}");
    assert_no_store(&headers, "429");
}

/// Limits on, login 3 per minute. The per-account throttle is off: these tests fail
/// logins of one identifier more often than it allows (see `throttle.rs` for it).
async fn limited_app(extra: &[(&str, &str)]) -> TestApp {
    let mut vars = vec![
        ("RATE_LIMIT_ENABLED", "true"),
        ("RATE_LIMIT_LOGIN_PER_MIN", "3"),
        ("LOGIN_THROTTLE_ENABLED", "false"),
    ];
    vars.extend_from_slice(extra);
    spawn_app_with(&vars).await
}

#[tokio::test]
async fn the_fourth_login_within_a_minute_is_429_with_retry_after() {
    let app = limited_app(&[]).await;
    register_user(&app, "limited@example.com", None).await;
    for n in 1..=3 {
        let res = login_attempt(&app, "/api/v1/auth/login", None).await;
        assert_eq!(
            res.status().as_u16(),
            401,
            "attempt {n} is within the limit"
        );
    }
    assert_rate_limited(login_attempt(&app, "/api/v1/auth/login", None).await).await;
    let res = app
        .post_json(
            "/api/v1/auth/login",
            &json!({"email": "limited@example.com", "password": USER_PASSWORD}),
        )
        .await;
    assert_rate_limited(res).await;
}

#[tokio::test]
async fn json_form_and_compatibility_logins_share_one_budget() {
    let app = limited_app(&[]).await;
    register_user(&app, "limited@example.com", None).await;
    assert_eq!(
        login_attempt(&app, "/api/v1/auth/login", None)
            .await
            .status()
            .as_u16(),
        401
    );
    let form = [
        ("username", "limited@example.com"),
        ("password", "wrong-password"),
    ];
    assert_eq!(
        login_form_at(&app, "/api/v1/auth/login", &form)
            .await
            .status()
            .as_u16(),
        401
    );
    assert_eq!(
        login_attempt(&app, "/auth/login", None)
            .await
            .status()
            .as_u16(),
        401
    );
    assert_rate_limited(login_attempt(&app, "/api/auth/login", None).await).await;
    assert_rate_limited(login_form_at(&app, "/auth/login", &form).await).await;
    assert_rate_limited(login_attempt(&app, "/api/v1/auth/login", None).await).await;
}

#[tokio::test]
async fn register_is_limited_separately_from_login() {
    let app = limited_app(&[("RATE_LIMIT_REGISTER_PER_MIN", "3")]).await;
    for _ in 0..3 {
        login_attempt(&app, "/api/v1/auth/login", None).await;
    }
    assert_rate_limited(login_attempt(&app, "/api/v1/auth/login", None).await).await;
    for (n, path) in [
        "/api/v1/auth/register",
        "/api/v1/auth/signup",
        "/auth/register",
    ]
    .into_iter()
    .enumerate()
    {
        let res = app
            .post_json(
                path,
                &json!({"email": format!("r{n}@example.com"), "password": USER_PASSWORD}),
            )
            .await;
        assert_eq!(
            res.status().as_u16(),
            201,
            "{path}: register has a budget of its own"
        );
    }
    let res = app
        .post_json(
            "/api/auth/signup",
            &json!({"email": "r9@example.com", "password": USER_PASSWORD}),
        )
        .await;
    assert_rate_limited(res).await;
}

#[tokio::test]
async fn refresh_and_logout_have_budgets_of_their_own() {
    let app = limited_app(&[
        ("RATE_LIMIT_REFRESH_PER_MIN", "2"),
        ("RATE_LIMIT_LOGOUT_PER_MIN", "2"),
    ])
    .await;
    for _ in 0..2 {
        let res = app
            .post_json("/api/v1/auth/refresh", &json!({"refresh_token": "garbage"}))
            .await;
        assert_eq!(res.status().as_u16(), 401);
    }
    assert_rate_limited(
        app.post_json("/api/v1/auth/refresh", &json!({"refresh_token": "garbage"}))
            .await,
    )
    .await;
    for _ in 0..2 {
        let res = app
            .post_json("/api/v1/auth/logout", &json!({"refresh_token": "garbage"}))
            .await;
        assert_eq!(res.status().as_u16(), 204);
    }
    assert_rate_limited(
        app.post_json("/api/v1/auth/logout", &json!({"refresh_token": "garbage"}))
            .await,
    )
    .await;
    assert_eq!(
        login_attempt(&app, "/api/v1/auth/login", None)
            .await
            .status()
            .as_u16(),
        401,
        "login is untouched"
    );
}

#[tokio::test]
async fn with_rate_limits_disabled_there_is_never_a_429() {
    let app = spawn_app_with(&[
        ("RATE_LIMIT_ENABLED", "false"),
        ("RATE_LIMIT_LOGIN_PER_MIN", "1"),
        ("RATE_LIMIT_REGISTER_PER_MIN", "1"),
        // The per-account throttle is a switch of its own.
        ("LOGIN_THROTTLE_ENABLED", "false"),
    ])
    .await;
    for _ in 0..12 {
        assert_eq!(
            login_attempt(&app, "/api/v1/auth/login", None)
                .await
                .status()
                .as_u16(),
            401
        );
    }
    for n in 0..4 {
        let res = app
            .post_json(
                "/api/v1/auth/register",
                &json!({"email": format!("n{n}@example.com"), "password": USER_PASSWORD}),
            )
            .await;
        assert_eq!(res.status().as_u16(), 201);
    }
}

#[tokio::test]
async fn x_forwarded_for_is_ignored_without_trusted_proxies() {
    let app = limited_app(&[]).await;
    for n in 1..=3 {
        let xff = format!("203.0.113.{n}");
        assert_eq!(
            login_attempt(&app, "/api/v1/auth/login", Some(&xff))
                .await
                .status()
                .as_u16(),
            401
        );
    }
    assert_rate_limited(login_attempt(&app, "/api/v1/auth/login", Some("203.0.113.99")).await)
        .await;
    assert_rate_limited(login_attempt(&app, "/api/v1/auth/login", None).await).await;
}

#[tokio::test]
async fn x_forwarded_for_is_honoured_from_a_trusted_proxy() {
    let app = limited_app(&[("TRUSTED_PROXIES", "127.0.0.1")]).await;
    for _ in 0..3 {
        assert_eq!(
            login_attempt(&app, "/api/v1/auth/login", Some("198.51.100.1"))
                .await
                .status()
                .as_u16(),
            401
        );
    }
    assert_rate_limited(login_attempt(&app, "/api/v1/auth/login", Some("198.51.100.1")).await)
        .await;
    for _ in 0..3 {
        let res = login_attempt(&app, "/api/v1/auth/login", Some("198.51.100.2")).await;
        assert_eq!(
            res.status().as_u16(),
            401,
            "another client has a budget of its own"
        );
    }
    assert_rate_limited(login_attempt(&app, "/api/v1/auth/login", Some("198.51.100.2")).await)
        .await;
}

#[tokio::test]
async fn limited_routes_carry_the_rate_limit_headers_and_others_do_not() {
    let app = limited_app(&[("RATE_LIMIT_REFRESH_PER_MIN", "4")]).await;
    for remaining in (0..3).rev() {
        let res = login_attempt(&app, "/api/v1/auth/login", None).await;
        let headers = res.headers();
        assert_eq!(header(headers, "ratelimit-policy"), "\"login\";q=3;w=60");
        // Each attempt adds 20 s (60 s / 3) to the time until the quota is whole.
        let t = 20 * (3 - remaining);
        assert_eq!(
            header(headers, "ratelimit"),
            format!("\"login\";r={remaining};t={t}")
        );
    }
    let refused = login_attempt(&app, "/api/v1/auth/login", None).await;
    assert_eq!(refused.status().as_u16(), 429);
    assert_eq!(header(refused.headers(), "ratelimit"), "\"login\";r=0;t=60");
    let refresh = app
        .post_json("/api/v1/auth/refresh", &json!({"refresh_token": "nope"}))
        .await;
    assert_eq!(
        header(refresh.headers(), "ratelimit-policy"),
        "\"refresh\";q=4;w=60"
    );
    let health = app.get("/health").await;
    assert!(health.headers().get("ratelimit").is_none());
}
