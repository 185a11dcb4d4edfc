//! `If-Match` on PUT, PATCH, PATCH …/complete and DELETE.

use reqwest::Method;
use serde_json::{Value, json};
use taskforge_tests::{Account, TestApp, assert_problem, spawn_app};

use crate::{create, expect_task, fetch, id_of, send, task_path};

/// The three conditional writes that return a task: method, path, body.
fn updates(id: &str) -> [(Method, String, Option<Value>); 3] {
    [
        (
            Method::PUT,
            task_path(id),
            Some(json!({"title": "replaced", "priority": "low"})),
        ),
        (
            Method::PATCH,
            task_path(id),
            Some(json!({"title": "patched"})),
        ),
        (Method::PATCH, format!("{}/complete", task_path(id)), None),
    ]
}

async fn fresh(app: &TestApp, user: &Account) -> Value {
    create(
        app,
        &user.access,
        json!({"title": "original", "priority": "high", "description": "d"}),
    )
    .await
}

#[tokio::test]
async fn a_matching_if_match_applies_every_write() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    for tag in ["\"1\"", "W/\"1\"", "*", "\"7\", \"1\""] {
        for n in 0..3 {
            let id = id_of(&fresh(&app, &alice).await);
            let (method, path, body) = updates(&id)[n].clone();
            let res = send(
                &app,
                method.clone(),
                &path,
                Some(&alice.access),
                body.as_ref(),
                Some(tag),
            )
            .await;
            let task = expect_task(res, &format!("{method} {path} If-Match {tag}")).await;
            assert_eq!(task["version"], 2, "{method} {path} If-Match {tag}");
        }
        let id = id_of(&fresh(&app, &alice).await);
        let res = send(
            &app,
            Method::DELETE,
            &task_path(&id),
            Some(&alice.access),
            None,
            Some(tag),
        )
        .await;
        assert_eq!(res.status().as_u16(), 204, "DELETE If-Match {tag}");
        assert_problem(
            app.get_auth(&task_path(&id), &alice.access).await,
            404,
            "not_found",
        )
        .await;
    }
}

#[tokio::test]
async fn the_etag_of_one_write_is_the_if_match_of_the_next() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let id = id_of(&fresh(&app, &alice).await);
    let mut tag = "\"1\"".to_owned();
    for n in 2..=5 {
        let res = send(
            &app,
            Method::PATCH,
            &format!("{}/complete", task_path(&id)),
            Some(&alice.access),
            None,
            Some(&tag),
        )
        .await;
        tag = crate::etag(&res).expect("an ETag");
        assert_eq!(expect_task(res, "chained toggle").await["version"], n);
    }
    assert_eq!(tag, "\"5\"");
}

#[tokio::test]
async fn a_stale_if_match_is_412_and_nothing_changes() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let task = fresh(&app, &alice).await;
    let id = id_of(&task);
    // Move to version 2 so that "1" is stale.
    let res = send(
        &app,
        Method::PATCH,
        &task_path(&id),
        Some(&alice.access),
        Some(&json!({"title": "v2"})),
        None,
    )
    .await;
    let current = expect_task(res, "to v2").await;
    for tag in ["\"1\"", "W/\"1\"", "\"3\"", "\"0\"", "1", "\"abc\""] {
        for (method, path, body) in updates(&id) {
            let res = send(
                &app,
                method.clone(),
                &path,
                Some(&alice.access),
                body.as_ref(),
                Some(tag),
            )
            .await;
            let problem = assert_problem(res, 412, "precondition_failed").await;
            assert_eq!(
                problem["instance"],
                json!(path),
                "{method} {path} If-Match {tag}"
            );
        }
        let res = send(
            &app,
            Method::DELETE,
            &task_path(&id),
            Some(&alice.access),
            None,
            Some(tag),
        )
        .await;
        assert_problem(res, 412, "precondition_failed").await;
    }
    let after = fetch(&app, &alice.access, &id).await;
    assert_eq!(after, current, "version and fields are unchanged");
    assert_eq!(after["version"], 2);
    assert_eq!(after["title"], "v2");
}

#[tokio::test]
async fn without_if_match_every_write_applies() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let id = id_of(&fresh(&app, &alice).await);
    for (n, (method, path, body)) in updates(&id).into_iter().enumerate() {
        let res = send(
            &app,
            method,
            &path,
            Some(&alice.access),
            body.as_ref(),
            None,
        )
        .await;
        assert_eq!(expect_task(res, &path).await["version"], json!(n + 2));
    }
}
