//! The one-task routes check the caller's session in the same statement that reads the
//! task. These tests hold them to the rules of every other route: a revoked session is
//! 401 whatever else is wrong with the request, and the role is read fresh.

use reqwest::Method;
use serde_json::json;
use taskforge_tests::{assert_problem, json_of, spawn_app};

use crate::{TASKS, create_titled, fetch, id_of, send, task_path};

#[tokio::test]
async fn a_revoked_session_is_401_on_every_one_task_route_whatever_the_request() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let bob = app.user("bob@example.com").await;
    let task = create_titled(&app, &alice.access, "Keep me").await;
    let path = task_path(&id_of(&task));
    let logout = app
        .post_json(
            "/api/v1/auth/logout",
            &json!({"refresh_token": alice.refresh}),
        )
        .await;
    assert_eq!(logout.status().as_u16(), 204);

    let complete = format!("{path}/complete");
    let scoped = format!("/api/v1/users/{}/tasks/{}", bob.id, id_of(&task));
    let bad_id = format!("{TASKS}/not-a-uuid");
    let good = json!({"title": "Changed"});
    let invalid = json!({"title": ""});
    let cases = [
        (Method::GET, path.as_str(), None),
        (Method::GET, bad_id.as_str(), None),
        (Method::GET, scoped.as_str(), None),
        (Method::PUT, path.as_str(), Some(&good)),
        (Method::PUT, path.as_str(), Some(&invalid)),
        (Method::PUT, bad_id.as_str(), Some(&good)),
        (Method::PATCH, path.as_str(), Some(&good)),
        (Method::PATCH, path.as_str(), Some(&invalid)),
        (Method::PATCH, bad_id.as_str(), Some(&good)),
        (Method::PATCH, complete.as_str(), None),
        (Method::DELETE, path.as_str(), None),
        (Method::DELETE, bad_id.as_str(), None),
    ];
    for (method, at, body) in cases {
        let what = format!("{method} {at} {body:?}");
        let res = send(&app, method, at, Some(&alice.access), body, None).await;
        let challenge = res
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert_problem(res, 401, "unauthorized").await;
        assert!(
            challenge.contains(r#"error="invalid_token""#),
            "{what}: WWW-Authenticate {challenge:?}"
        );
    }

    // Nothing was changed or deleted: a new session sees the task as it was.
    let fresh = app
        .login("alice@example.com", taskforge_tests::USER_PASSWORD)
        .await;
    let unchanged = fetch(&app, fresh["access_token"].as_str().unwrap(), &id_of(&task)).await;
    assert_eq!(unchanged, task);
}

#[tokio::test]
async fn a_malformed_id_or_body_is_reported_to_a_live_session() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let task = create_titled(&app, &alice.access, "Mine").await;
    let bad_id = format!("{TASKS}/not-a-uuid");
    let res = send(&app, Method::GET, &bad_id, Some(&alice.access), None, None).await;
    assert_problem(res, 404, "not_found").await;
    let res = send(
        &app,
        Method::PATCH,
        &task_path(&id_of(&task)),
        Some(&alice.access),
        Some(&json!({"title": ""})),
        None,
    )
    .await;
    assert_problem(res, 422, "validation_failed").await;
}

#[tokio::test]
async fn a_promotion_applies_to_tokens_issued_before_it() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let alice = app.user("alice@example.com").await;
    let bob = app.user("bob@example.com").await;
    let theirs = create_titled(&app, &bob.access, "Bob's").await;
    let path = task_path(&id_of(&theirs));

    let res = send(&app, Method::GET, &path, Some(&alice.access), None, None).await;
    assert_problem(res, 404, "not_found").await;

    let promote = send(
        &app,
        Method::PATCH,
        &format!("/api/v1/users/{}", alice.id),
        Some(&admin.access),
        Some(&json!({"role": "admin"})),
        None,
    )
    .await;
    let (status, body) = json_of(promote).await;
    assert_eq!(status, 200, "{body}");

    // Same token: the role is read with the task, not taken from the token.
    assert_eq!(fetch(&app, &alice.access, &id_of(&theirs)).await, theirs);
    let res = send(
        &app,
        Method::PATCH,
        &format!("{path}/complete"),
        Some(&alice.access),
        None,
        None,
    )
    .await;
    let (status, toggled) = json_of(res).await;
    assert_eq!(status, 200, "{toggled}");
    assert_eq!(toggled["status"], "done");
}
