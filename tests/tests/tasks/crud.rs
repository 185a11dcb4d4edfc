//! Create, read, replace, patch, toggle and delete one task.

use reqwest::Method;
use serde_json::{Value, json};
use taskforge_tests::{TestApp, assert_problem, json_of, spawn_app};

use crate::{
    TASKS, assert_task_shape, create, create_titled, etag, expect_task, fetch, id_of, instant,
    send, task_path,
};

/// `method` (`PUT` or `PATCH`) on task `id` as `token` with `body`, unconditionally.
async fn write_task(
    app: &TestApp,
    method: Method,
    token: &str,
    id: &str,
    body: &Value,
) -> reqwest::Response {
    send(app, method, &task_path(id), Some(token), Some(body), None).await
}

#[tokio::test]
async fn creating_a_task_answers_201_with_location_etag_and_every_default() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let res = send(
        &app,
        Method::POST,
        TASKS,
        Some(&alice.access),
        Some(&json!({"title": "Buy milk"})),
        None,
    )
    .await;
    assert_eq!(res.status().as_u16(), 201);
    assert_eq!(etag(&res).as_deref(), Some("\"1\""));
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let content_type = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let task: Value = res.json().await.unwrap();
    assert_task_shape(&task);
    assert_eq!(location, format!("/api/v1/tasks/{}", id_of(&task)));
    assert_eq!(task["owner_id"], json!(alice.id));
    assert_eq!(task["title"], "Buy milk");
    assert_eq!(task["description"], Value::Null);
    assert_eq!(task["status"], "todo");
    assert_eq!(task["completed"], false);
    assert_eq!(task["priority"], "medium");
    assert_eq!(task["due_date"], Value::Null);
    assert_eq!(task["completed_at"], Value::Null);
    assert_eq!(task["version"], 1);
    assert_eq!(
        task["created_at"], task["updated_at"],
        "a new task was last changed when created"
    );
}

#[tokio::test]
async fn the_body_of_a_create_equals_a_later_get_exactly() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let created = create(
        &app,
        &alice.access,
        json!({
            "title": "Full",
            "description": "All the fields",
            "status": "done",
            "priority": "high",
            "due_date": "2031-02-03T04:05:06.123456789Z",
        }),
    )
    .await;
    let fetched = fetch(&app, &alice.access, &id_of(&created)).await;
    assert_eq!(created, fetched);
    let plain = create_titled(&app, &alice.access, "Plain").await;
    assert_eq!(plain, fetch(&app, &alice.access, &id_of(&plain)).await);
}

#[tokio::test]
async fn due_dates_are_stored_in_utc_with_at_most_microseconds() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let offset = create(
        &app,
        &alice.access,
        json!({"title": "t", "due_date": "2030-05-06T07:08:09+02:00"}),
    )
    .await;
    assert_eq!(offset["due_date"], "2030-05-06T05:08:09Z");
    let nanos = create(
        &app,
        &alice.access,
        json!({"title": "t", "due_date": "2030-05-06T07:08:09.123456789Z"}),
    )
    .await;
    let due = instant(&nanos["due_date"]);
    let sent = instant(&json!("2030-05-06T07:08:09.123456789Z"));
    assert!(
        (sent - due).num_nanoseconds().unwrap().abs() < 1_000,
        "{due} is within a microsecond"
    );
    assert_eq!(nanos, fetch(&app, &alice.access, &id_of(&nanos)).await);
}

#[tokio::test]
async fn the_title_is_trimmed_and_200_emoji_are_accepted() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let task = create_titled(&app, &alice.access, "  \t Trim me \n ").await;
    assert_eq!(task["title"], "Trim me");
    let emoji = "😀".repeat(200);
    let task = create_titled(&app, &alice.access, &format!("  {emoji}  ")).await;
    assert_eq!(task["title"], json!(emoji));
    let one = create_titled(&app, &alice.access, "x").await;
    assert_eq!(one["title"], "x");
}

#[tokio::test]
async fn a_description_of_10000_characters_is_accepted_and_kept_as_sent() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let description = "é".repeat(10_000);
    let task = create(
        &app,
        &alice.access,
        json!({"title": "t", "description": description}),
    )
    .await;
    assert_eq!(task["description"], json!(description));
    let spaced = create(
        &app,
        &alice.access,
        json!({"title": "t", "description": "  spaced  "}),
    )
    .await;
    assert_eq!(spaced["description"], "  spaced  ");
}

#[tokio::test]
async fn completed_true_alone_creates_a_done_task_with_completed_at() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let task = create(
        &app,
        &alice.access,
        json!({"title": "t", "completed": true}),
    )
    .await;
    assert_eq!(task["status"], "done");
    assert_eq!(task["completed"], true);
    assert!(instant(&task["completed_at"]) >= instant(&task["created_at"]));
}

#[tokio::test]
async fn status_and_completed_may_be_sent_alone_or_agreeing() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let cases = [
        (json!({"title": "t", "status": "done"}), "done"),
        (
            json!({"title": "t", "status": "in_progress"}),
            "in_progress",
        ),
        (json!({"title": "t", "completed": false}), "todo"),
        (
            json!({"title": "t", "status": "done", "completed": true}),
            "done",
        ),
        (
            json!({"title": "t", "status": "in_progress", "completed": false}),
            "in_progress",
        ),
        (
            json!({"title": "t", "status": "todo", "completed": false}),
            "todo",
        ),
    ];
    for (body, status) in cases {
        let task = create(&app, &alice.access, body.clone()).await;
        assert_eq!(task["status"], status, "{body}");
        assert_eq!(task["completed"], json!(status == "done"), "{body}");
        assert_eq!(task["completed_at"].is_null(), status != "done", "{body}");
    }
}

#[tokio::test]
async fn every_priority_is_accepted() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    for priority in ["low", "medium", "high"] {
        let task = create(
            &app,
            &alice.access,
            json!({"title": "t", "priority": priority}),
        )
        .await;
        assert_eq!(task["priority"], priority);
    }
}

#[tokio::test]
async fn get_returns_the_task_with_its_etag() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let task = create_titled(&app, &alice.access, "Read me").await;
    let res = app.get_auth(&task_path(&id_of(&task)), &alice.access).await;
    assert_eq!(etag(&res).as_deref(), Some("\"1\""));
    let fetched = expect_task(res, "GET").await;
    assert_eq!(fetched, task);
}

#[tokio::test]
async fn an_unknown_task_id_is_404() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let missing = uuid::Uuid::now_v7().to_string();
    let body = assert_problem(
        app.get_auth(&task_path(&missing), &alice.access).await,
        404,
        "not_found",
    )
    .await;
    assert_eq!(body["instance"], json!(task_path(&missing)));
    let patch = json!({"title": "x"});
    for (method, path, body) in [
        (Method::PUT, task_path(&missing), Some(&patch)),
        (Method::PATCH, task_path(&missing), Some(&patch)),
        (Method::DELETE, task_path(&missing), None),
        (
            Method::PATCH,
            format!("{}/complete", task_path(&missing)),
            None,
        ),
    ] {
        let res = send(&app, method.clone(), &path, Some(&alice.access), body, None).await;
        assert_problem(res, 404, "not_found").await;
    }
}

#[tokio::test]
async fn put_replaces_the_whole_task_and_absent_fields_return_to_defaults() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let task = create(
        &app,
        &alice.access,
        json!({
            "title": "Old",
            "description": "old description",
            "status": "done",
            "priority": "high",
            "due_date": "2030-01-01T00:00:00Z",
        }),
    )
    .await;
    let id = id_of(&task);
    let res = write_task(
        &app,
        Method::PUT,
        &alice.access,
        &id,
        &json!({"title": " New "}),
    )
    .await;
    assert_eq!(etag(&res).as_deref(), Some("\"2\""));
    let replaced = expect_task(res, "PUT").await;
    assert_eq!(replaced["id"], task["id"]);
    assert_eq!(replaced["owner_id"], task["owner_id"]);
    assert_eq!(replaced["created_at"], task["created_at"]);
    assert_eq!(replaced["title"], "New");
    assert_eq!(replaced["description"], Value::Null);
    assert_eq!(replaced["status"], "todo");
    assert_eq!(replaced["completed"], false);
    assert_eq!(replaced["priority"], "medium");
    assert_eq!(replaced["due_date"], Value::Null);
    assert_eq!(replaced["completed_at"], Value::Null);
    assert_eq!(replaced["version"], 2);
    assert!(
        instant(&replaced["updated_at"]) > instant(&task["updated_at"]),
        "updated_at moves on"
    );
    assert_eq!(
        replaced,
        fetch(&app, &alice.access, &id).await,
        "PUT body equals a later GET"
    );
}

#[tokio::test]
async fn put_sets_every_field_it_is_given() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let id = id_of(&create_titled(&app, &alice.access, "Old").await);
    let body = json!({
        "title": "New",
        "description": "desc",
        "status": "in_progress",
        "priority": "low",
        "due_date": "2032-03-04T05:06:07Z",
    });
    let res = write_task(&app, Method::PUT, &alice.access, &id, &body).await;
    let replaced = expect_task(res, "PUT").await;
    for key in ["title", "description", "status", "priority", "due_date"] {
        assert_eq!(replaced[key], body[key], "{key}");
    }
    let res = write_task(
        &app,
        Method::PUT,
        &alice.access,
        &id,
        &json!({"title": "t", "completed": true}),
    )
    .await;
    let done = expect_task(res, "PUT completed").await;
    assert_eq!(done["status"], "done");
    assert!(!done["completed_at"].is_null());
    assert_eq!(done["version"], 3);
}

#[tokio::test]
async fn put_without_a_title_is_422_and_changes_nothing() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let task = create(
        &app,
        &alice.access,
        json!({"title": "Keep", "priority": "high"}),
    )
    .await;
    let id = id_of(&task);
    for body in [
        json!({"priority": "low"}),
        json!({"title": "   "}),
        json!({"title": null}),
    ] {
        let res = write_task(&app, Method::PUT, &alice.access, &id, &body).await;
        let problem = assert_problem(res, 422, "validation_failed").await;
        assert_eq!(
            taskforge_tests::error_fields(&problem),
            vec!["title".to_owned()],
            "{body}"
        );
    }
    assert_eq!(fetch(&app, &alice.access, &id).await, task);
}

#[tokio::test]
async fn patch_changes_only_the_fields_sent() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let task = create(
        &app,
        &alice.access,
        json!({
            "title": "Old",
            "description": "keep me",
            "status": "in_progress",
            "priority": "high",
            "due_date": "2030-01-01T00:00:00Z",
        }),
    )
    .await;
    let id = id_of(&task);
    let res = write_task(
        &app,
        Method::PATCH,
        &alice.access,
        &id,
        &json!({"title": "  New  "}),
    )
    .await;
    assert_eq!(etag(&res).as_deref(), Some("\"2\""));
    let patched = expect_task(res, "PATCH").await;
    assert_eq!(patched["title"], "New");
    for key in [
        "id",
        "owner_id",
        "description",
        "status",
        "completed",
        "priority",
        "due_date",
        "completed_at",
        "created_at",
    ] {
        assert_eq!(patched[key], task[key], "{key} untouched");
    }
    assert_eq!(patched["version"], 2);
    assert!(instant(&patched["updated_at"]) > instant(&task["updated_at"]));
    assert_eq!(patched, fetch(&app, &alice.access, &id).await);

    let res = write_task(
        &app,
        Method::PATCH,
        &alice.access,
        &id,
        &json!({"priority": "low", "due_date": "2031-01-01T00:00:00Z"}),
    )
    .await;
    let patched = expect_task(res, "PATCH").await;
    assert_eq!(patched["priority"], "low");
    assert_eq!(patched["due_date"], "2031-01-01T00:00:00Z");
    assert_eq!(patched["title"], "New");
    assert_eq!(patched["description"], "keep me");
    assert_eq!(patched["version"], 3);
}

#[tokio::test]
async fn patch_with_explicit_null_clears_description_and_due_date() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let task = create(
        &app,
        &alice.access,
        json!({"title": "t", "description": "d", "due_date": "2030-01-01T00:00:00Z", "priority": "low"}),
    )
    .await;
    let id = id_of(&task);
    let res = write_task(
        &app,
        Method::PATCH,
        &alice.access,
        &id,
        &json!({"description": null}),
    )
    .await;
    let patched = expect_task(res, "PATCH description null").await;
    assert_eq!(patched["description"], Value::Null);
    assert_eq!(
        patched["due_date"], "2030-01-01T00:00:00Z",
        "due_date untouched"
    );
    let res = write_task(
        &app,
        Method::PATCH,
        &alice.access,
        &id,
        &json!({"due_date": null}),
    )
    .await;
    let patched = expect_task(res, "PATCH due_date null").await;
    assert_eq!(patched["due_date"], Value::Null);
    assert_eq!(patched["priority"], "low");
    assert_eq!(patched["version"], 3);
    assert_eq!(patched, fetch(&app, &alice.access, &id).await);
}

#[tokio::test]
async fn patch_with_null_for_a_required_field_is_422_and_changes_nothing() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let task = create_titled(&app, &alice.access, "Keep").await;
    let id = id_of(&task);
    for field in ["title", "status", "priority", "completed"] {
        let res = write_task(
            &app,
            Method::PATCH,
            &alice.access,
            &id,
            &json!({ field: null }),
        )
        .await;
        let problem = assert_problem(res, 422, "validation_failed").await;
        assert!(
            taskforge_tests::error_fields(&problem).contains(&field.to_owned()),
            "{field}: {problem}"
        );
    }
    assert_eq!(
        fetch(&app, &alice.access, &id).await,
        task,
        "no version was spent on refused writes"
    );
}

#[tokio::test]
async fn patch_completed_moves_between_done_and_todo() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let id = id_of(&create_titled(&app, &alice.access, "t").await);
    let res = write_task(
        &app,
        Method::PATCH,
        &alice.access,
        &id,
        &json!({"completed": true}),
    )
    .await;
    let done = expect_task(res, "completed true").await;
    assert_eq!(done["status"], "done");
    let completed_at = instant(&done["completed_at"]);
    assert!(
        instant(&done["created_at"]) <= completed_at
            && completed_at <= instant(&done["updated_at"]),
        "completed_at is the moment of the write that completed it: {done}"
    );
    let res = write_task(
        &app,
        Method::PATCH,
        &alice.access,
        &id,
        &json!({"completed": false}),
    )
    .await;
    let todo = expect_task(res, "completed false").await;
    assert_eq!(todo["status"], "todo");
    assert_eq!(todo["completed"], false);
    assert_eq!(todo["completed_at"], Value::Null);
    assert_eq!(todo["version"], 3);
}

#[tokio::test]
async fn leaving_done_for_in_progress_clears_completed_at() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let id = id_of(&create(&app, &alice.access, json!({"title": "t", "status": "done"})).await);
    let res = write_task(
        &app,
        Method::PATCH,
        &alice.access,
        &id,
        &json!({"status": "in_progress"}),
    )
    .await;
    let task = expect_task(res, "in_progress").await;
    assert_eq!(task["status"], "in_progress");
    assert_eq!(task["completed"], false);
    assert_eq!(task["completed_at"], Value::Null);
    assert_eq!(task, fetch(&app, &alice.access, &id).await);
}

#[tokio::test]
async fn staying_done_keeps_the_original_completed_at() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let task = create(&app, &alice.access, json!({"title": "t", "status": "done"})).await;
    let id = id_of(&task);
    let res = write_task(
        &app,
        Method::PATCH,
        &alice.access,
        &id,
        &json!({"status": "done", "title": "renamed"}),
    )
    .await;
    let patched = expect_task(res, "still done").await;
    assert_eq!(patched["completed_at"], task["completed_at"]);
    assert_eq!(patched["version"], 2);
}

#[tokio::test]
async fn patch_status_and_completed_that_disagree_is_422() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let task = create_titled(&app, &alice.access, "t").await;
    let id = id_of(&task);
    for body in [
        json!({"status": "done", "completed": false}),
        json!({"status": "in_progress", "completed": true}),
        json!({"status": "todo", "completed": true}),
    ] {
        let res = write_task(&app, Method::PATCH, &alice.access, &id, &body).await;
        assert_problem(res, 422, "validation_failed").await;
    }
    assert_eq!(fetch(&app, &alice.access, &id).await, task);
}

#[tokio::test]
async fn the_version_rises_by_one_on_every_successful_write() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let id = id_of(&create_titled(&app, &alice.access, "t").await);
    let item = task_path(&id);
    let complete = format!("{item}/complete");
    let writes = [
        (Method::PATCH, &item, Some(json!({"title": "a"}))),
        (Method::PUT, &item, Some(json!({"title": "b"}))),
        (Method::PATCH, &complete, None),
        (Method::PATCH, &complete, None),
        (Method::PATCH, &item, Some(json!({"priority": "high"}))),
    ];
    for (n, (method, path, body)) in writes.into_iter().enumerate() {
        let res = send(&app, method, path, Some(&alice.access), body.as_ref(), None).await;
        let task = expect_task(res, path).await;
        assert_eq!(task["version"], json!(n + 2), "{path}");
    }
    assert_eq!(fetch(&app, &alice.access, &id).await["version"], 6);
}

#[tokio::test]
async fn complete_toggles_todo_to_done_and_back() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let id = id_of(&create_titled(&app, &alice.access, "t").await);
    let path = format!("{}/complete", task_path(&id));
    let res = send(&app, Method::PATCH, &path, Some(&alice.access), None, None).await;
    assert_eq!(etag(&res).as_deref(), Some("\"2\""));
    let done = expect_task(res, "toggle 1").await;
    let completed_at = instant(&done["completed_at"]);
    assert!(
        instant(&done["created_at"]) <= completed_at
            && completed_at <= instant(&done["updated_at"]),
        "completed_at is the moment of the toggle: {done}"
    );
    assert_eq!(done["status"], "done");
    assert_eq!(done["completed"], true);
    assert!(!done["completed_at"].is_null());
    assert_eq!(done, fetch(&app, &alice.access, &id).await);
    let res = send(&app, Method::PATCH, &path, Some(&alice.access), None, None).await;
    assert_eq!(etag(&res).as_deref(), Some("\"3\""));
    let todo = expect_task(res, "toggle 2").await;
    assert_eq!(todo["status"], "todo");
    assert_eq!(todo["completed"], false);
    assert_eq!(todo["completed_at"], Value::Null);
}

#[tokio::test]
async fn complete_moves_in_progress_to_done() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let id = id_of(
        &create(
            &app,
            &alice.access,
            json!({"title": "t", "status": "in_progress"}),
        )
        .await,
    );
    let res = send(
        &app,
        Method::PATCH,
        &format!("{}/complete", task_path(&id)),
        Some(&alice.access),
        None,
        None,
    )
    .await;
    let task = expect_task(res, "toggle in_progress").await;
    assert_eq!(task["status"], "done");
    assert!(!task["completed_at"].is_null());
    assert_eq!(task["version"], 2);
}

#[tokio::test]
async fn delete_answers_204_and_the_task_is_gone() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let id = id_of(&create_titled(&app, &alice.access, "t").await);
    let res = send(
        &app,
        Method::DELETE,
        &task_path(&id),
        Some(&alice.access),
        None,
        None,
    )
    .await;
    assert_eq!(res.status().as_u16(), 204);
    assert!(res.bytes().await.unwrap().is_empty(), "204 has no body");
    assert_problem(
        app.get_auth(&task_path(&id), &alice.access).await,
        404,
        "not_found",
    )
    .await;
    let res = send(
        &app,
        Method::DELETE,
        &task_path(&id),
        Some(&alice.access),
        None,
        None,
    )
    .await;
    assert_problem(res, 404, "not_found").await;
    let res = send(
        &app,
        Method::PATCH,
        &format!("{}/complete", task_path(&id)),
        Some(&alice.access),
        None,
        None,
    )
    .await;
    assert_problem(res, 404, "not_found").await;
    let (_, page) = json_of(app.get_auth(TASKS, &alice.access).await).await;
    assert_eq!(page["total"], 0);
}
