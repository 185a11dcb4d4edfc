//! Liveness and readiness.

use serde_json::json;

use taskforge_tests::{assert_problem, json_of, spawn_app};

#[tokio::test]
async fn health_and_live_report_ok_with_the_version() {
    let app = spawn_app().await;
    for path in ["/health", "/health/live", "/health/", "/health/live/"] {
        let (status, body) = json_of(app.get(path).await).await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(
            body,
            json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}),
            "{path}"
        );
    }
}

#[tokio::test]
async fn ready_is_exactly_ok_when_the_database_answers() {
    let app = spawn_app().await;
    let res = app.get("/health/ready").await;
    assert_eq!(res.headers()["content-type"], "application/json");
    let (status, body) = json_of(res).await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"status": "ok", "checks": {"database": "ok"}}));
}

#[tokio::test]
async fn ready_is_503_when_the_database_is_gone() {
    let app = spawn_app().await;
    app.db.clone().close().await.expect("pool closes");
    let res = app.get("/health/ready").await;
    let body = assert_problem(res, 503, "service_unavailable").await;
    assert_eq!(body["checks"], json!({"database": "unavailable"}));
    // Liveness does no I/O and stays up.
    assert_eq!(app.get("/health").await.status().as_u16(), 200);
}
