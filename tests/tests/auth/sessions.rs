//! The caller's own sessions: listed newest first with where they came from, and
//! ended one at a time.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use taskforge_tests::{TestApp, USER_PASSWORD, assert_problem, json_of, spawn_app, spawn_app_with};

use crate::support::{
    access, assert_access_revoked, assert_refresh_revoked, assert_token_missing, header, me_status,
    refresh, refresh_of,
};

const SESSION_KEYS: [&str; 7] = [
    "id",
    "created_at",
    "last_used_at",
    "expires_at",
    "user_agent",
    "ip",
    "current",
];

async fn login_from(
    app: &TestApp,
    email: &str,
    user_agent: &str,
    forwarded_for: Option<&str>,
) -> Value {
    let mut req = app
        .request(Method::POST, "/api/v1/auth/login")
        .header("user-agent", user_agent)
        .json(&json!({"email": email, "password": USER_PASSWORD}));
    if let Some(xff) = forwarded_for {
        req = req.header("x-forwarded-for", xff);
    }
    let (status, body) = json_of(req.send().await.unwrap()).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn sessions(app: &TestApp, token: &str) -> Value {
    let res = app.get_auth("/api/v1/auth/sessions", token).await;
    assert_eq!(header(res.headers(), "cache-control"), "no-store");
    let (status, body) = json_of(res).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn end(app: &TestApp, token: &str, id: &str) -> reqwest::Response {
    app.request(Method::DELETE, &format!("/api/v1/auth/sessions/{id}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

fn items(page: &Value) -> Vec<Value> {
    page["items"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn the_list_holds_the_callers_live_sessions_newest_first_with_client_and_current() {
    let app = spawn_app_with(&[("TRUSTED_PROXIES", "127.0.0.1")]).await;
    let alice = app.user("alice@example.com").await;
    app.user("bob@example.com").await;
    let long_agent = "A".repeat(300);
    let second = login_from(&app, "alice@example.com", &long_agent, Some("198.51.100.7")).await;
    let third = login_from(&app, "alice@example.com", "curl/8.5", None).await;

    let page = sessions(&app, &access(&second)).await;
    assert_eq!(page["total"], json!(3), "{page}");
    assert_eq!(page["limit"], json!(20));
    assert_eq!(page["offset"], json!(0));
    let list = items(&page);
    assert_eq!(list.len(), 3, "bob's session is not alice's");
    for session in &list {
        let mut keys: Vec<&str> = session
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        let mut expected = SESSION_KEYS.to_vec();
        expected.sort_unstable();
        assert_eq!(keys, expected);
        assert_eq!(
            session["created_at"], session["last_used_at"],
            "not used since login"
        );
    }
    // Newest first: the third login, the second, then the first (at registration).
    assert_eq!(list[0]["user_agent"], json!("curl/8.5"));
    assert_eq!(list[0]["ip"], json!("127.0.0.1"));
    assert_eq!(
        list[1]["user_agent"].as_str().map(|ua| ua.chars().count()),
        Some(256)
    );
    assert_eq!(
        list[1]["ip"],
        json!("198.51.100.7"),
        "the address behind the trusted proxy"
    );
    assert_eq!(
        list.iter()
            .map(|s| s["current"].as_bool().unwrap())
            .collect::<Vec<_>>(),
        [false, true, false]
    );
    assert!(list[0]["created_at"].as_str() > list[1]["created_at"].as_str());

    let page = sessions(&app, &access(&third)).await;
    assert_eq!(items(&page)[0]["current"], json!(true));
    let page = sessions(&app, &alice.access).await;
    assert_eq!(items(&page)[2]["current"], json!(true));

    let page = app
        .get_auth("/api/v1/auth/sessions?limit=1&offset=1", &alice.access)
        .await;
    let (_, page) = json_of(page).await;
    assert_eq!(items(&page).len(), 1);
    assert_eq!(items(&page)[0]["ip"], json!("198.51.100.7"));
}

#[tokio::test]
async fn x_forwarded_for_from_an_untrusted_peer_is_not_recorded() {
    let app = spawn_app().await;
    app.user("alice@example.com").await;
    let pair = login_from(&app, "alice@example.com", "ua", Some("203.0.113.9")).await;
    let page = sessions(&app, &access(&pair)).await;
    assert_eq!(items(&page)[0]["ip"], json!("127.0.0.1"));
}

#[tokio::test]
async fn a_refresh_moves_last_used_at_and_keeps_the_session() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let before = items(&sessions(&app, &alice.access).await)[0].clone();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let (status, pair) = json_of(refresh(&app, &alice.refresh).await).await;
    assert_eq!(status, 200);
    let after = items(&sessions(&app, &access(&pair)).await);
    assert_eq!(after.len(), 1);
    assert_eq!(after[0]["id"], before["id"]);
    assert_eq!(after[0]["created_at"], before["created_at"]);
    assert_eq!(after[0]["current"], json!(true));
    let parse = |v: &Value| chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap();
    assert!(parse(&after[0]["last_used_at"]) > parse(&before["last_used_at"]));
    assert!(parse(&after[0]["expires_at"]) >= parse(&before["expires_at"]));
}

#[tokio::test]
async fn ending_a_session_revokes_its_tokens_at_once_and_leaves_the_others() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let other = app.login("alice@example.com", USER_PASSWORD).await;
    let page = sessions(&app, &alice.access).await;
    let other_id = items(&page)
        .iter()
        .find(|s| s["current"] == json!(false))
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .unwrap();

    let res = end(&app, &alice.access, &other_id).await;
    assert_eq!(res.status().as_u16(), 204);
    assert_eq!(header(res.headers(), "cache-control"), "no-store");
    assert_access_revoked(&app, &access(&other)).await;
    assert_refresh_revoked(&app, &refresh_of(&other)).await;
    assert_eq!(
        me_status(&app, &alice.access).await,
        200,
        "the caller's own session lives on"
    );
    assert_eq!(items(&sessions(&app, &alice.access).await).len(), 1);

    assert_problem(end(&app, &alice.access, &other_id).await, 404, "not_found").await;
}

#[tokio::test]
async fn the_current_session_can_end_itself() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let id = items(&sessions(&app, &alice.access).await)[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(end(&app, &alice.access, &id).await.status().as_u16(), 204);
    assert_access_revoked(&app, &alice.access).await;
}

#[tokio::test]
async fn someone_elses_unknown_or_malformed_session_is_404_and_changes_nothing() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let bob = app.user("bob@example.com").await;
    let bobs = items(&sessions(&app, &bob.access).await)[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_problem(end(&app, &alice.access, &bobs).await, 404, "not_found").await;
    assert_eq!(me_status(&app, &bob.access).await, 200);
    assert_problem(
        end(&app, &alice.access, &uuid::Uuid::now_v7().to_string()).await,
        404,
        "not_found",
    )
    .await;
    assert_problem(
        end(&app, &alice.access, "not-a-uuid").await,
        404,
        "not_found",
    )
    .await;
    let admin = app.admin().await;
    assert_problem(end(&app, &admin.access, &bobs).await, 404, "not_found").await;
}

#[tokio::test]
async fn sessions_need_a_bearer_token_and_valid_paging() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    assert_token_missing(app.get("/api/v1/auth/sessions").await).await;
    assert_token_missing(
        app.request(
            Method::DELETE,
            &format!("/api/v1/auth/sessions/{}", uuid::Uuid::now_v7()),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_problem(
        app.get_auth("/api/v1/auth/sessions", &alice.refresh).await,
        401,
        "unauthorized",
    )
    .await;
    let body = assert_problem(
        app.get_auth("/api/v1/auth/sessions?limit=0", &alice.access)
            .await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(taskforge_tests::error_fields(&body), ["limit"]);
}

#[tokio::test]
async fn logged_out_sessions_are_not_listed() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let other = app.login("alice@example.com", USER_PASSWORD).await;
    let res = app
        .post_json(
            "/api/v1/auth/logout",
            &json!({"refresh_token": refresh_of(&other)}),
        )
        .await;
    assert_eq!(res.status().as_u16(), 204);
    let list = items(&sessions(&app, &alice.access).await);
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["current"], json!(true));
}
