//! `GET /metrics`: Prometheus text format, request metrics labelled by route template
//! (never a concrete path), and the database pool gauges read at scrape time.

use reqwest::Method;
use sea_orm::DbBackend;
use serde_json::json;
use taskforge_tests::{TestApp, assert_problem, json_of, spawn_app};
use uuid::Uuid;

/// The pool size the harness configures (`DB_MAX_CONNECTIONS`).
const TEST_POOL_SIZE: f64 = 5.0;

/// Scrapes `/metrics`, checks status and content type, and returns the text.
async fn scrape(app: &TestApp) -> String {
    let res = app.get("/metrics").await;
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(
        res.headers()["content-type"],
        "text/plain; version=0.0.4",
        "Prometheus text format"
    );
    res.text().await.expect("a text body")
}

/// The value of the sample `name{labels}`, if the text has it.
fn sample(text: &str, name: &str, labels: &str) -> Option<f64> {
    let prefix = format!("{name}{{{labels}}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .map(|value| value.parse().expect("a numeric sample"))
}

#[tokio::test]
async fn requests_are_counted_by_method_route_template_and_status() {
    let app = spawn_app().await;
    let user = app.user("metrics@example.com").await;
    let id = Uuid::new_v4().to_string();

    assert_eq!(app.get("/health").await.status().as_u16(), 200);
    let (status, _) = json_of(
        app.get_auth(&format!("/api/v1/tasks/{id}"), &user.access)
            .await,
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(app.get("/nope").await.status().as_u16(), 404);
    assert_eq!(app.get("/wp-admin/setup.php").await.status().as_u16(), 404);
    let brew = Method::from_bytes(b"BREW").expect("a valid method token");
    let res = app
        .request(brew, "/nope")
        .send()
        .await
        .expect("request sent");
    assert_eq!(res.status().as_u16(), 404);

    let text = scrape(&app).await;
    for (labels, count) in [
        (r#"method="GET",route="/health",status="200""#, 1.0),
        (
            r#"method="GET",route="/api/v1/tasks/{id}",status="404""#,
            1.0,
        ),
        (
            r#"method="POST",route="/api/v1/auth/register",status="201""#,
            1.0,
        ),
        // Unmatched paths share one label value, whatever the path.
        (r#"method="GET",route="unmatched",status="404""#, 2.0),
        // So do methods outside the standard set.
        (r#"method="other",route="unmatched",status="404""#, 1.0),
    ] {
        assert_eq!(
            sample(&text, "http_requests_total", labels),
            Some(count),
            "http_requests_total{{{labels}}} in\n{text}"
        );
        assert_eq!(
            sample(&text, "http_request_duration_seconds_count", labels),
            Some(count),
            "http_request_duration_seconds_count{{{labels}}}"
        );
        let sum = sample(&text, "http_request_duration_seconds_sum", labels)
            .unwrap_or_else(|| panic!("http_request_duration_seconds_sum{{{labels}}}"));
        assert!(sum > 0.0 && sum < 60.0, "duration sum {sum}");
        assert_eq!(
            sample(
                &text,
                "http_request_duration_seconds_bucket",
                &format!(r#"{labels},le="+Inf""#)
            ),
            Some(count),
            "+Inf bucket of {labels}"
        );
        assert!(
            text.contains(&format!(
                r#"http_request_duration_seconds_bucket{{{labels},le="0.0005"}}"#
            )),
            "smallest bucket of {labels}"
        );
    }
    assert!(!text.contains(&id), "a concrete id leaked into a label");
    assert!(
        !text.contains("/nope"),
        "a raw unmatched path leaked into a label"
    );
    assert!(
        !text.contains("wp-admin"),
        "a raw unmatched path leaked into a label"
    );
    for family in [
        "# TYPE http_requests_total counter",
        "# TYPE http_request_duration_seconds histogram",
        "# TYPE db_pool_connections gauge",
    ] {
        assert!(text.contains(family), "{family}");
    }
}

#[tokio::test]
async fn the_scrape_itself_is_counted_and_needs_no_token() {
    let app = spawn_app().await;
    let first = scrape(&app).await;
    assert_eq!(
        sample(
            &first,
            "http_requests_total",
            r#"method="GET",route="/metrics",status="200""#
        ),
        None,
        "a request is counted once it is answered"
    );
    let second = scrape(&app).await;
    assert_eq!(
        sample(
            &second,
            "http_requests_total",
            r#"method="GET",route="/metrics",status="200""#
        ),
        Some(1.0)
    );
}

#[tokio::test]
async fn pool_gauges_report_idle_in_use_and_the_configured_max() {
    let app = spawn_app().await;
    // Some traffic through the request pools first (readiness has a pool of its own
    // on PostgreSQL, which the gauges leave out).
    app.user("gauges@example.com").await;

    let text = scrape(&app).await;
    let gauge = |state: &str| {
        sample(&text, "db_pool_connections", &format!(r#"state="{state}""#))
            .unwrap_or_else(|| panic!("db_pool_connections{{state=\"{state}\"}} in\n{text}"))
    };
    let (idle, in_use, max) = (gauge("idle"), gauge("in_use"), gauge("max"));
    let expected_max = match app.db.get_database_backend() {
        DbBackend::Postgres => TEST_POOL_SIZE,
        // SQLite always runs on one connection, whatever DB_MAX_CONNECTIONS says.
        _ => 1.0,
    };
    assert_eq!(max, expected_max);
    assert!(idle >= 0.0 && in_use >= 0.0, "idle {idle}, in use {in_use}");
    assert!(
        idle + in_use <= max,
        "idle {idle} + in use {in_use} > max {max}"
    );
    // The pools keep at least the connection the requests just used.
    assert!(idle + in_use >= 1.0, "idle {idle}, in use {in_use}");
}

#[tokio::test]
async fn another_method_on_metrics_is_405() {
    let app = spawn_app().await;
    let res = app.post_json("/metrics", &json!({})).await;
    assert_problem(res, 405, "method_not_allowed").await;
}
