//! Every error the framework itself can produce is problem+json with the right status.

use reqwest::Method;
use serde_json::json;
use taskforge_tests::{assert_problem, error_fields, spawn_app, spawn_app_with};

#[tokio::test]
async fn unknown_route_is_404_problem_even_without_credentials() {
    let app = spawn_app().await;
    for path in ["/nope", "/api/v1/nope", "/api/v1/tasks/x/y/z"] {
        let body = assert_problem(app.get(path).await, 404, "not_found").await;
        assert_eq!(body["instance"], json!(path));
    }
}

#[tokio::test]
async fn wrong_method_is_405_problem() {
    let app = spawn_app().await;
    let res = app.request(Method::DELETE, "/health").send().await.unwrap();
    assert_problem(res, 405, "method_not_allowed").await;
    let res = app
        .request(Method::GET, "/api/v1/auth/login")
        .send()
        .await
        .unwrap();
    assert_problem(res, 405, "method_not_allowed").await;
}

#[tokio::test]
async fn body_over_the_limit_is_413() {
    let app = spawn_app_with(&[("MAX_BODY_BYTES", "1024")]).await;
    let big = json!({"email": "a@example.com", "password": "x".repeat(2000)});
    let res = app.post_json("/api/v1/auth/register", &big).await;
    assert_problem(res, 413, "payload_too_large").await;
}

#[tokio::test]
async fn default_body_limit_is_64_kib() {
    let app = spawn_app().await;
    let big = json!({"email": "a@example.com", "password": "x".repeat(70 * 1024)});
    assert_problem(
        app.post_json("/api/v1/auth/register", &big).await,
        413,
        "payload_too_large",
    )
    .await;
}

#[tokio::test]
async fn wrong_content_type_is_415() {
    let app = spawn_app().await;
    let res = app
        .request(Method::POST, "/api/v1/auth/register")
        .header("content-type", "text/plain")
        .body(r#"{"email":"a@example.com","password":"password1"}"#)
        .send()
        .await
        .unwrap();
    assert_problem(res, 415, "unsupported_media_type").await;
}

#[tokio::test]
async fn malformed_or_empty_json_is_400() {
    let app = spawn_app().await;
    for body in ["{\"email\":", "", "not json"] {
        let res = app
            .request(Method::POST, "/api/v1/auth/register")
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_problem(res, 400, "bad_request").await;
    }
}

#[tokio::test]
async fn wrong_shape_is_422_naming_the_field() {
    let app = spawn_app().await;
    let cases = [
        (json!({"password": "password1"}), "email"),
        (json!({"email": 5, "password": "password1"}), "email"),
        (
            json!({"email": "a@example.com", "password": "password1", "extra": 1}),
            "extra",
        ),
        (
            json!({"email": "not-an-email", "password": "password1"}),
            "email",
        ),
        (
            json!({"email": "a@example.com", "password": "short"}),
            "password",
        ),
        (json!([1, 2]), "body"),
    ];
    for (body, field) in cases {
        let res = app.post_json("/api/v1/auth/register", &body).await;
        let problem = assert_problem(res, 422, "validation_failed").await;
        assert!(
            error_fields(&problem).contains(&field.to_owned()),
            "{body} → {problem}"
        );
    }
}

#[tokio::test]
async fn invalid_query_parameters_are_422_naming_the_parameter() {
    let app = spawn_app().await;
    let user = app.user("q@example.com").await;
    for (query, field) in [
        ("limit=abc", "limit"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("offset=-1", "offset"),
        ("offset=99999999999999999999", "offset"),
        ("status=nope", "status"),
        ("priority=urgent", "priority"),
        ("sort=colour", "sort"),
        ("completed=maybe", "completed"),
        ("due_before=yesterday", "due_before"),
        ("owner_id=xyz", "owner_id"),
    ] {
        let res = app
            .get_auth(&format!("/api/v1/tasks?{query}"), &user.access)
            .await;
        let problem = assert_problem(res, 422, "validation_failed").await;
        assert_eq!(error_fields(&problem), vec![field.to_owned()], "{query}");
    }
}

#[tokio::test]
async fn non_uuid_path_ids_are_404() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    for path in [
        "/api/v1/tasks/123",
        "/api/v1/users/abc",
        "/api/v1/users/abc/tasks",
        "/api/abc/tasks/1",
    ] {
        assert_problem(app.get_auth(path, &admin.access).await, 404, "not_found").await;
    }
    let res = app
        .request(Method::PATCH, "/api/v1/tasks/zz/complete")
        .bearer_auth(&admin.access)
        .send()
        .await
        .unwrap();
    assert_problem(res, 404, "not_found").await;
}
