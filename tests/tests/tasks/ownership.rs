//! Who sees and changes which task; `owner_id` rules; authentication.

use reqwest::Method;
use serde_json::{Value, json};
use taskforge_tests::{assert_problem, error_fields, spawn_app};

use crate::{TASKS, create, create_titled, expect_task, fetch, id_of, ids, list, send, task_path};

/// Every write route on one task: method, path, body.
fn writes(id: &str) -> Vec<(Method, String, Option<Value>)> {
    vec![
        (Method::PUT, task_path(id), Some(json!({"title": "stolen"}))),
        (
            Method::PATCH,
            task_path(id),
            Some(json!({"title": "stolen"})),
        ),
        (Method::PATCH, format!("{}/complete", task_path(id)), None),
        (Method::DELETE, task_path(id), None),
    ]
}

#[tokio::test]
async fn another_users_task_is_404_on_every_route() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let bob = app.user("bob@example.com").await;
    let task = create(
        &app,
        &alice.access,
        json!({"title": "Alice's", "description": "private"}),
    )
    .await;
    let id = id_of(&task);
    let body = assert_problem(
        app.get_auth(&task_path(&id), &bob.access).await,
        404,
        "not_found",
    )
    .await;
    assert_eq!(body["instance"], json!(task_path(&id)));
    for (method, path, body) in writes(&id) {
        let res = send(
            &app,
            method.clone(),
            &path,
            Some(&bob.access),
            body.as_ref(),
            None,
        )
        .await;
        assert_problem(res, 404, "not_found").await;
    }
    assert_eq!(
        fetch(&app, &alice.access, &id).await,
        task,
        "nothing changed"
    );
}

#[tokio::test]
async fn another_users_task_is_404_even_with_a_stale_if_match() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let bob = app.user("bob@example.com").await;
    let task = create_titled(&app, &alice.access, "Alice's").await;
    let id = id_of(&task);
    for tag in ["\"99\"", "\"1\"", "*"] {
        for (method, path, body) in writes(&id) {
            let res = send(
                &app,
                method.clone(),
                &path,
                Some(&bob.access),
                body.as_ref(),
                Some(tag),
            )
            .await;
            assert_problem(res, 404, "not_found").await;
        }
    }
    assert_eq!(
        fetch(&app, &alice.access, &id).await,
        task,
        "nothing changed"
    );
}

#[tokio::test]
async fn an_admin_sees_and_changes_any_task() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let alice = app.user("alice@example.com").await;
    let task = create_titled(&app, &alice.access, "Alice's").await;
    let id = id_of(&task);
    assert_eq!(fetch(&app, &admin.access, &id).await, task);
    let res = send(
        &app,
        Method::PATCH,
        &task_path(&id),
        Some(&admin.access),
        Some(&json!({"priority": "high"})),
        None,
    )
    .await;
    let patched = expect_task(res, "admin PATCH").await;
    assert_eq!(patched["priority"], "high");
    assert_eq!(patched["owner_id"], json!(alice.id), "the owner stays");
    let res = send(
        &app,
        Method::DELETE,
        &task_path(&id),
        Some(&admin.access),
        None,
        None,
    )
    .await;
    assert_eq!(res.status().as_u16(), 204);
    assert_problem(
        app.get_auth(&task_path(&id), &alice.access).await,
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn a_user_may_name_themself_as_owner() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let task = create(
        &app,
        &alice.access,
        json!({"title": "t", "owner_id": alice.id}),
    )
    .await;
    assert_eq!(task["owner_id"], json!(alice.id));
    let res = send(
        &app,
        Method::PATCH,
        &task_path(&id_of(&task)),
        Some(&alice.access),
        Some(&json!({"owner_id": alice.id})),
        None,
    )
    .await;
    assert_eq!(
        expect_task(res, "PATCH own owner_id").await["owner_id"],
        json!(alice.id)
    );
}

#[tokio::test]
async fn a_non_admin_creating_for_someone_else_is_403() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let bob = app.user("bob@example.com").await;
    let body = json!({"title": "gift", "owner_id": bob.id});
    let res = send(
        &app,
        Method::POST,
        TASKS,
        Some(&alice.access),
        Some(&body),
        None,
    )
    .await;
    assert_problem(res, 403, "forbidden").await;
    assert_eq!(list(&app, &bob.access, &[]).await["total"], 0);
    assert_eq!(list(&app, &alice.access, &[]).await["total"], 0);
}

#[tokio::test]
async fn a_non_admin_reassigning_a_task_is_403_and_nothing_changes() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let bob = app.user("bob@example.com").await;
    let task = create_titled(&app, &alice.access, "mine").await;
    let id = id_of(&task);
    for (method, body) in [
        (Method::PUT, json!({"title": "yours", "owner_id": bob.id})),
        (Method::PATCH, json!({"owner_id": bob.id})),
        (Method::PATCH, json!({"title": "yours", "owner_id": bob.id})),
    ] {
        let res = send(
            &app,
            method,
            &task_path(&id),
            Some(&alice.access),
            Some(&body),
            None,
        )
        .await;
        assert_problem(res, 403, "forbidden").await;
    }
    assert_eq!(fetch(&app, &alice.access, &id).await, task);
    assert_eq!(list(&app, &bob.access, &[]).await["total"], 0);
}

#[tokio::test]
async fn an_admin_creates_a_task_for_another_user() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let alice = app.user("alice@example.com").await;
    let task = create(
        &app,
        &admin.access,
        json!({"title": "for alice", "owner_id": alice.id}),
    )
    .await;
    assert_eq!(task["owner_id"], json!(alice.id));
    assert_eq!(fetch(&app, &alice.access, &id_of(&task)).await, task);
    assert_eq!(
        ids(&list(&app, &alice.access, &[]).await),
        vec![id_of(&task)]
    );
    let own = create_titled(&app, &admin.access, "admin's own").await;
    assert_eq!(
        own["owner_id"],
        json!(admin.id),
        "without owner_id the admin owns it"
    );
}

#[tokio::test]
async fn an_admin_reassigns_a_task_with_patch_or_put() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let alice = app.user("alice@example.com").await;
    let bob = app.user("bob@example.com").await;
    let task = create_titled(&app, &alice.access, "hand over").await;
    let id = id_of(&task);
    let res = send(
        &app,
        Method::PATCH,
        &task_path(&id),
        Some(&admin.access),
        Some(&json!({"owner_id": bob.id})),
        None,
    )
    .await;
    let moved = expect_task(res, "reassign").await;
    assert_eq!(moved["owner_id"], json!(bob.id));
    assert_eq!(moved["title"], "hand over");
    assert_eq!(moved["version"], 2);
    assert_eq!(fetch(&app, &bob.access, &id).await, moved);
    assert_problem(
        app.get_auth(&task_path(&id), &alice.access).await,
        404,
        "not_found",
    )
    .await;
    assert_eq!(list(&app, &alice.access, &[]).await["total"], 0);
    let res = send(
        &app,
        Method::PUT,
        &task_path(&id),
        Some(&admin.access),
        Some(&json!({"title": "back", "owner_id": alice.id})),
        None,
    )
    .await;
    let back = expect_task(res, "reassign by PUT").await;
    assert_eq!(back["owner_id"], json!(alice.id));
    assert_eq!(fetch(&app, &alice.access, &id).await, back);
}

#[tokio::test]
async fn put_without_owner_id_keeps_the_owner() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let alice = app.user("alice@example.com").await;
    let id = id_of(&create_titled(&app, &alice.access, "t").await);
    let res = send(
        &app,
        Method::PUT,
        &task_path(&id),
        Some(&admin.access),
        Some(&json!({"title": "u"})),
        None,
    )
    .await;
    assert_eq!(
        expect_task(res, "admin PUT").await["owner_id"],
        json!(alice.id)
    );
}

#[tokio::test]
async fn an_admin_naming_a_nonexistent_owner_gets_422_on_owner_id() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let ghost = uuid::Uuid::now_v7().to_string();
    let res = send(
        &app,
        Method::POST,
        TASKS,
        Some(&admin.access),
        Some(&json!({"title": "t", "owner_id": ghost})),
        None,
    )
    .await;
    let problem = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(error_fields(&problem), vec!["owner_id".to_owned()]);
    assert_eq!(list(&app, &admin.access, &[]).await["total"], 0);

    let task = create_titled(&app, &admin.access, "mine").await;
    let id = id_of(&task);
    for (method, body) in [
        (Method::PATCH, json!({"owner_id": ghost})),
        (Method::PUT, json!({"title": "t", "owner_id": ghost})),
    ] {
        let res = send(
            &app,
            method.clone(),
            &task_path(&id),
            Some(&admin.access),
            Some(&body),
            None,
        )
        .await;
        let problem = assert_problem(res, 422, "validation_failed").await;
        assert_eq!(
            error_fields(&problem),
            vec!["owner_id".to_owned()],
            "{method}"
        );
    }
    assert_eq!(fetch(&app, &admin.access, &id).await, task);
}

#[tokio::test]
async fn every_task_route_without_a_token_is_401_with_a_bearer_challenge() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let id = id_of(&create_titled(&app, &alice.access, "t").await);
    let body = json!({"title": "t"});
    let scoped = format!("/api/v1/users/{}/tasks", alice.id);
    let compat = format!("/api/{}/tasks", alice.id);
    let routes = [
        (Method::GET, TASKS.to_owned(), None),
        (Method::POST, TASKS.to_owned(), Some(&body)),
        (Method::GET, task_path(&id), None),
        (Method::PUT, task_path(&id), Some(&body)),
        (Method::PATCH, task_path(&id), Some(&body)),
        (Method::DELETE, task_path(&id), None),
        (Method::PATCH, format!("{}/complete", task_path(&id)), None),
        (Method::GET, scoped.clone(), None),
        (Method::POST, scoped.clone(), Some(&body)),
        (Method::GET, format!("{scoped}/{id}"), None),
        (Method::PATCH, format!("{scoped}/{id}/complete"), None),
        (Method::GET, compat.clone(), None),
        (Method::DELETE, format!("{compat}/{id}"), None),
    ];
    for (method, path, body) in routes {
        let res = send(&app, method.clone(), &path, None, body, None).await;
        let challenge = res
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(
            challenge.starts_with("Bearer"),
            "{method} {path}: WWW-Authenticate {challenge:?}"
        );
        assert!(
            !challenge.contains("invalid_token"),
            "no token was sent: {challenge}"
        );
        assert_problem(res, 401, "unauthorized").await;
    }
    for (method, path) in [
        (Method::GET, TASKS.to_owned()),
        (Method::GET, task_path(&id)),
    ] {
        let res = send(&app, method, &path, Some("not-a-token"), None, None).await;
        let challenge = res.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            challenge.starts_with("Bearer") && challenge.contains("error=\"invalid_token\""),
            "{challenge}"
        );
        assert_problem(res, 401, "unauthorized").await;
    }
    let res = send(&app, Method::GET, TASKS, Some(&alice.refresh), None, None).await;
    assert_problem(res, 401, "unauthorized").await;
    assert_eq!(
        fetch(&app, &alice.access, &id).await["version"],
        1,
        "nothing changed"
    );
}
