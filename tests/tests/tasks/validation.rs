//! Bodies the task routes refuse: 422 naming the field, and nothing is written.

use reqwest::Method;
use serde_json::{Value, json};
use taskforge_tests::{Account, TestApp, assert_problem, error_fields, json_of, spawn_app};

use crate::{TASKS, create_titled, fetch, id_of, send, task_path};

/// Asserts `POST /api/v1/tasks` with `body` is 422 naming `field`.
async fn refused_create(app: &TestApp, user: &Account, body: Value, field: &str) {
    let res = send(
        app,
        Method::POST,
        TASKS,
        Some(&user.access),
        Some(&body),
        None,
    )
    .await;
    let problem = assert_problem(res, 422, "validation_failed").await;
    assert!(
        error_fields(&problem).contains(&field.to_owned()),
        "{body} → {problem}"
    );
    assert_eq!(problem["instance"], TASKS);
}

/// The number of tasks `user` sees.
async fn count(app: &TestApp, user: &Account) -> u64 {
    let (_, page) = json_of(app.get_auth(TASKS, &user.access).await).await;
    page["total"].as_u64().expect("a total")
}

#[tokio::test]
async fn a_title_of_201_characters_is_422_on_title() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    refused_create(&app, &alice, json!({"title": "😀".repeat(201)}), "title").await;
    refused_create(&app, &alice, json!({"title": "a".repeat(201)}), "title").await;
    assert_eq!(count(&app, &alice).await, 0);
}

#[tokio::test]
async fn a_blank_or_empty_title_is_422_on_title() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    for title in ["   ", "", "\t\n"] {
        refused_create(&app, &alice, json!({ "title": title }), "title").await;
    }
    assert_eq!(count(&app, &alice).await, 0);
}

#[tokio::test]
async fn a_missing_title_is_422_on_title() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    refused_create(&app, &alice, json!({"description": "no title"}), "title").await;
    refused_create(&app, &alice, json!({}), "title").await;
    refused_create(&app, &alice, json!({"title": null}), "title").await;
}

#[tokio::test]
async fn a_description_of_10001_characters_is_422_on_description() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    refused_create(
        &app,
        &alice,
        json!({"title": "t", "description": "é".repeat(10_001)}),
        "description",
    )
    .await;
    refused_create(
        &app,
        &alice,
        json!({"title": "t", "description": "a".repeat(10_001)}),
        "description",
    )
    .await;
    assert_eq!(count(&app, &alice).await, 0);
}

#[tokio::test]
async fn an_unknown_status_or_priority_is_422_naming_it() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    refused_create(
        &app,
        &alice,
        json!({"title": "t", "status": "finished"}),
        "status",
    )
    .await;
    refused_create(
        &app,
        &alice,
        json!({"title": "t", "status": "DONE"}),
        "status",
    )
    .await;
    refused_create(
        &app,
        &alice,
        json!({"title": "t", "priority": "urgent"}),
        "priority",
    )
    .await;
    refused_create(
        &app,
        &alice,
        json!({"title": "t", "priority": "High"}),
        "priority",
    )
    .await;
    assert_eq!(count(&app, &alice).await, 0);
}

#[tokio::test]
async fn a_wrong_json_type_is_422_naming_the_key() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    for (body, field) in [
        (json!({"title": 5}), "title"),
        (json!({"title": ["a"]}), "title"),
        (json!({"title": "t", "description": 7}), "description"),
        (json!({"title": "t", "status": 1}), "status"),
        (json!({"title": "t", "completed": "yes"}), "completed"),
        (json!({"title": "t", "priority": 2}), "priority"),
        (json!({"title": "t", "due_date": "tomorrow"}), "due_date"),
        (
            json!({"title": "t", "due_date": "2030-01-01T00:00:00"}),
            "due_date",
        ),
        (json!({"title": "t", "due_date": 1_700_000_000}), "due_date"),
        (json!({"title": "t", "owner_id": "not-a-uuid"}), "owner_id"),
    ] {
        refused_create(&app, &alice, body, field).await;
    }
    assert_eq!(count(&app, &alice).await, 0);
}

#[tokio::test]
async fn an_unknown_field_is_422_naming_it() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    refused_create(
        &app,
        &alice,
        json!({"title": "t", "colour": "red"}),
        "colour",
    )
    .await;
    assert_eq!(count(&app, &alice).await, 0);
}

#[tokio::test]
async fn server_managed_fields_cannot_be_sent() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    for field in ["completed_at", "id", "version", "created_at", "updated_at"] {
        let mut body = json!({"title": "t"});
        body[field] = json!("2030-01-01T00:00:00Z");
        refused_create(&app, &alice, body, field).await;
    }
    assert_eq!(count(&app, &alice).await, 0);
}

#[tokio::test]
async fn status_and_completed_that_disagree_are_422() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    for body in [
        json!({"title": "t", "status": "todo", "completed": true}),
        json!({"title": "t", "status": "in_progress", "completed": true}),
        json!({"title": "t", "status": "done", "completed": false}),
    ] {
        let res = send(
            &app,
            Method::POST,
            TASKS,
            Some(&alice.access),
            Some(&body),
            None,
        )
        .await;
        let problem = assert_problem(res, 422, "validation_failed").await;
        let fields = error_fields(&problem);
        assert!(
            fields.iter().any(|f| f == "completed" || f == "status"),
            "{body} → {problem}"
        );
    }
    assert_eq!(count(&app, &alice).await, 0);
}

#[tokio::test]
async fn a_body_that_is_not_a_json_object_is_refused() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    for (body, status, code) in [
        ("", 400, "bad_request"),
        ("{\"title\":", 400, "bad_request"),
        ("[1]", 422, "validation_failed"),
    ] {
        let res = app
            .request(Method::POST, TASKS)
            .bearer_auth(&alice.access)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_problem(res, status, code).await;
    }
    let res = app
        .request(Method::POST, TASKS)
        .bearer_auth(&alice.access)
        .header("content-type", "text/plain")
        .body(r#"{"title":"t"}"#)
        .send()
        .await
        .unwrap();
    assert_problem(res, 415, "unsupported_media_type").await;
    assert_eq!(count(&app, &alice).await, 0);
}

#[tokio::test]
async fn put_and_patch_validate_like_create() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let task = create_titled(&app, &alice.access, "Keep").await;
    let id = id_of(&task);
    let cases = [
        (json!({"title": "a".repeat(201)}), "title"),
        (json!({"title": "  "}), "title"),
        (
            json!({"title": "t", "description": "d".repeat(10_001)}),
            "description",
        ),
        (json!({"title": "t", "status": "finished"}), "status"),
        (json!({"title": "t", "priority": "urgent"}), "priority"),
        (json!({"title": "t", "completed": 1}), "completed"),
        (json!({"title": "t", "due_date": "soon"}), "due_date"),
        (json!({"title": "t", "colour": "red"}), "colour"),
        (
            json!({"title": "t", "completed_at": "2030-01-01T00:00:00Z"}),
            "completed_at",
        ),
        (json!({"title": "t", "version": 9}), "version"),
    ];
    for method in [Method::PUT, Method::PATCH] {
        for (body, field) in &cases {
            let res = send(
                &app,
                method.clone(),
                &task_path(&id),
                Some(&alice.access),
                Some(body),
                None,
            )
            .await;
            let problem = assert_problem(res, 422, "validation_failed").await;
            assert!(
                error_fields(&problem).contains(&(*field).to_owned()),
                "{method} {body} → {problem}"
            );
        }
    }
    assert_eq!(
        fetch(&app, &alice.access, &id).await,
        task,
        "nothing changed"
    );
}
