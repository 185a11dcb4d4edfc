//! `Cache-Control: no-store` on every response of every auth route, whatever its status.

use reqwest::{Method, Response};
use serde_json::json;
use taskforge_tests::{TestApp, USER_PASSWORD, spawn_app, spawn_app_with};

use crate::support::{access, assert_no_store, refresh_of, register_user};

/// Sends `body` (raw, with `content_type`) to `path`.
async fn raw(
    app: &TestApp,
    method: Method,
    path: &str,
    content_type: &str,
    body: &str,
) -> Response {
    app.request(method, path)
        .header("content-type", content_type)
        .body(body.to_owned())
        .send()
        .await
        .expect("request sent")
}

#[tokio::test]
async fn every_auth_route_answers_no_store_whatever_the_status() {
    let app = spawn_app().await;
    register_user(&app, "cache@example.com", Some("cache_user")).await;
    let pair = app.login("cache@example.com", USER_PASSWORD).await;
    let good_login = json!({"email": "cache@example.com", "password": USER_PASSWORD}).to_string();
    let bad_login = json!({"email": "cache@example.com", "password": "wrong-password"}).to_string();

    let mut checked = Vec::new();
    for path in [
        "/api/v1/auth/register",
        "/api/v1/auth/signup",
        "/auth/register",
        "/api/auth/signup",
    ] {
        let fresh =
            json!({"email": format!("c{}@example.com", checked.len()), "password": USER_PASSWORD})
                .to_string();
        let dup = json!({"email": "cache@example.com", "password": USER_PASSWORD}).to_string();
        checked.push((
            path,
            201,
            raw(&app, Method::POST, path, "application/json", &fresh).await,
        ));
        checked.push((
            path,
            409,
            raw(&app, Method::POST, path, "application/json", &dup).await,
        ));
        checked.push((
            path,
            422,
            raw(
                &app,
                Method::POST,
                path,
                "application/json",
                r#"{"email":"x"}"#,
            )
            .await,
        ));
        checked.push((
            path,
            400,
            raw(&app, Method::POST, path, "application/json", "{").await,
        ));
        checked.push((
            path,
            415,
            raw(&app, Method::POST, path, "text/plain", "hello").await,
        ));
        checked.push((
            path,
            405,
            app.request(Method::GET, path).send().await.unwrap(),
        ));
    }
    for path in ["/api/v1/auth/login", "/auth/login", "/api/auth/login"] {
        checked.push((
            path,
            200,
            raw(&app, Method::POST, path, "application/json", &good_login).await,
        ));
        checked.push((
            path,
            401,
            raw(&app, Method::POST, path, "application/json", &bad_login).await,
        ));
        checked.push((
            path,
            422,
            raw(
                &app,
                Method::POST,
                path,
                "application/json",
                r#"{"nope":1}"#,
            )
            .await,
        ));
        checked.push((
            path,
            400,
            raw(&app, Method::POST, path, "application/json", "").await,
        ));
        checked.push((
            path,
            415,
            raw(&app, Method::POST, path, "text/plain", "x").await,
        ));
        checked.push((
            path,
            405,
            app.request(Method::GET, path).send().await.unwrap(),
        ));
    }
    let path = "/api/v1/auth/refresh";
    let body = json!({"refresh_token": refresh_of(&pair)}).to_string();
    checked.push((
        path,
        200,
        raw(&app, Method::POST, path, "application/json", &body).await,
    ));
    checked.push((
        path,
        401,
        raw(&app, Method::POST, path, "application/json", &body).await,
    ));
    checked.push((
        path,
        422,
        raw(&app, Method::POST, path, "application/json", "{}").await,
    ));
    checked.push((
        path,
        415,
        raw(&app, Method::POST, path, "text/plain", "x").await,
    ));
    let path = "/api/v1/auth/logout";
    checked.push((
        path,
        204,
        raw(
            &app,
            Method::POST,
            path,
            "application/json",
            r#"{"refresh_token":"x"}"#,
        )
        .await,
    ));
    checked.push((
        path,
        422,
        raw(&app, Method::POST, path, "application/json", "{}").await,
    ));
    checked.push((
        path,
        400,
        raw(&app, Method::POST, path, "application/json", "[").await,
    ));
    let unauthorized = app
        .request(Method::POST, "/api/v1/auth/logout?all=true")
        .json(&json!({"refresh_token": "x"}))
        .send()
        .await
        .unwrap();
    checked.push((path, 401, unauthorized));
    let fresh = app.login("cache@example.com", USER_PASSWORD).await;
    let all = app
        .request(Method::POST, "/api/v1/auth/logout?all=true")
        .bearer_auth(access(&fresh))
        .json(&json!({"refresh_token": refresh_of(&fresh)}))
        .send()
        .await
        .unwrap();
    checked.push((path, 204, all));

    for (path, status, res) in checked {
        assert_eq!(res.status().as_u16(), status, "{path}");
        assert_no_store(res.headers(), &format!("{path} {status}"));
    }
}

#[tokio::test]
async fn a_request_body_over_the_limit_on_an_auth_route_is_413_with_no_store() {
    let app = spawn_app_with(&[("MAX_BODY_BYTES", "1024")]).await;
    let big = json!({"email": "a@example.com", "password": "x".repeat(2000)});
    for path in [
        "/api/v1/auth/register",
        "/api/v1/auth/login",
        "/api/v1/auth/refresh",
        "/auth/login",
    ] {
        let res = app.post_json(path, &big).await;
        assert_eq!(res.status().as_u16(), 413, "{path}");
        assert_no_store(res.headers(), path);
    }
}
