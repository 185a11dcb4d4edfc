//! Trailing slashes, request ids, security headers, CORS.

use reqwest::Method;
use taskforge_tests::{json_of, spawn_app, spawn_app_with};

#[tokio::test]
async fn trailing_slash_is_served_directly_never_redirected() {
    let app = spawn_app().await;
    let user = app.user("slash@example.com").await;
    for path in [
        "/api/v1/tasks",
        "/api/v1/tasks/",
        "/api/v1/users/me",
        "/api/v1/users/me/",
    ] {
        let res = app.get_auth(path, &user.access).await;
        assert_eq!(res.status().as_u16(), 200, "{path}");
    }
    let (status, _) = json_of(app.get("/health/ready/").await).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_valid_request_id_is_echoed_and_a_bad_one_replaced() {
    let app = spawn_app().await;
    let res = app
        .request(Method::GET, "/health")
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "abc-123");
    let long = "x".repeat(129);
    for bad in [long.as_str(), "has space"] {
        let res = app
            .request(Method::GET, "/health")
            .header("x-request-id", bad)
            .send()
            .await
            .unwrap();
        let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
        assert_ne!(id, bad);
        assert!(!id.is_empty());
    }
    let res = app.get("/health").await;
    assert!(!res.headers()["x-request-id"].is_empty());
}

#[tokio::test]
async fn error_bodies_carry_the_request_id() {
    let app = spawn_app().await;
    let res = app
        .request(Method::GET, "/missing")
        .header("x-request-id", "trace-me")
        .send()
        .await
        .unwrap();
    let (_, body) = json_of(res).await;
    assert_eq!(body["request_id"], "trace-me");
}

#[tokio::test]
async fn security_headers_are_on_every_response() {
    let app = spawn_app().await;
    for res in [app.get("/health").await, app.get("/missing").await] {
        let h = res.headers();
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["referrer-policy"], "no-referrer");
        assert_eq!(
            h["content-security-policy"],
            "default-src 'none'; frame-ancestors 'none'"
        );
    }
}

#[tokio::test]
async fn cors_allows_only_configured_origins() {
    let app = spawn_app_with(&[("ALLOWED_ORIGINS", "https://app.example.com")]).await;
    let preflight = |origin: &'static str| {
        app.request(Method::OPTIONS, "/api/v1/tasks")
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .send()
    };
    let ok = preflight("https://app.example.com").await.unwrap();
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    let refused = preflight("https://evil.example.com").await.unwrap();
    assert!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

#[tokio::test]
async fn no_origin_is_allowed_by_default() {
    let app = spawn_app().await;
    let res = app
        .request(Method::GET, "/health")
        .header("origin", "https://app.example.com")
        .send()
        .await
        .unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());
}
