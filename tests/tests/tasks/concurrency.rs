//! Parallel writers: optimistic concurrency holds under real contention.

use futures_util::future::join_all;
use reqwest::Method;
use serde_json::{Value, json};
use taskforge_tests::{TestApp, assert_problem, spawn_app};

use crate::{create_titled, expect_task, fetch, id_of, send, task_path};

/// Opens `n` keep-alive connections (by `n` parallel reads of `path`), so that the
/// racing requests that follow reach the server together instead of one behind the
/// other while connections are being set up.
async fn warm_up(app: &TestApp, token: &str, path: &str, n: usize) {
    let responses = join_all((0..n).map(|_| app.get_auth(path, token))).await;
    for res in responses {
        assert_eq!(res.status().as_u16(), 200, "warm-up GET {path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_ten_parallel_patches_holding_version_1_exactly_one_wins() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let id = id_of(&create_titled(&app, &alice.access, "race").await);
    let path = task_path(&id);
    warm_up(&app, &alice.access, &path, 10).await;
    let bodies: Vec<Value> = (0..10)
        .map(|n| json!({ "title": format!("writer {n}") }))
        .collect();
    let responses = join_all(bodies.iter().map(|body| {
        send(
            &app,
            Method::PATCH,
            &path,
            Some(&alice.access),
            Some(body),
            Some("\"1\""),
        )
    }))
    .await;
    let mut winners = Vec::new();
    for res in responses {
        if res.status().as_u16() == 200 {
            winners.push(expect_task(res, "winner").await);
        } else {
            assert_problem(res, 412, "precondition_failed").await;
        }
    }
    assert_eq!(winners.len(), 1, "exactly one 200, nine 412");
    assert_eq!(winners[0]["version"], 2);
    let after = fetch(&app, &alice.access, &id).await;
    assert_eq!(after["version"], 2);
    assert_eq!(after, winners[0], "the stored task is the winner's");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_parallel_toggles_without_if_match_all_apply_in_turn() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let id = id_of(&create_titled(&app, &alice.access, "flip").await);
    warm_up(&app, &alice.access, &task_path(&id), 10).await;
    let path = format!("{}/complete", task_path(&id));
    let responses = join_all(
        (0..10).map(|_| send(&app, Method::PATCH, &path, Some(&alice.access), None, None)),
    )
    .await;
    let mut versions = Vec::new();
    for res in responses {
        let task = expect_task(res, "toggle").await;
        let version = task["version"].as_i64().expect("a version");
        // Version 1 was todo, so odd versions are todo and even ones done.
        let expected = if version % 2 == 0 { "done" } else { "todo" };
        assert_eq!(
            task["status"],
            expected,
            "version {version} follows {} toggles",
            version - 1
        );
        versions.push(version);
    }
    versions.sort_unstable();
    assert_eq!(
        versions,
        (2..=11).collect::<Vec<i64>>(),
        "every toggle saw a version of its own"
    );
    let after = fetch(&app, &alice.access, &id).await;
    assert_eq!(after["version"], 11);
    assert_eq!(
        after["status"], "todo",
        "an even number of toggles from todo ends at todo"
    );
    assert_eq!(after["completed_at"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_five_parallel_deletes_exactly_one_gets_204() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let id = id_of(&create_titled(&app, &alice.access, "gone").await);
    let path = task_path(&id);
    let responses = join_all(
        (0..5).map(|_| send(&app, Method::DELETE, &path, Some(&alice.access), None, None)),
    )
    .await;
    let mut deleted = 0;
    for res in responses {
        if res.status().as_u16() == 204 {
            deleted += 1;
        } else {
            assert_problem(res, 404, "not_found").await;
        }
    }
    assert_eq!(deleted, 1, "exactly one 204, four 404");
    assert_problem(app.get_auth(&path, &alice.access).await, 404, "not_found").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_patches_of_different_fields_without_if_match_all_survive() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let id = id_of(&create_titled(&app, &alice.access, "merge").await);
    let path = task_path(&id);
    warm_up(&app, &alice.access, &path, 4).await;
    let bodies = [
        json!({"description": "d"}),
        json!({"priority": "high"}),
        json!({"due_date": "2030-01-01T00:00:00Z"}),
        json!({"status": "in_progress"}),
    ];
    let responses = join_all(bodies.iter().map(|b| {
        send(
            &app,
            Method::PATCH,
            &path,
            Some(&alice.access),
            Some(b),
            None,
        )
    }))
    .await;
    for res in responses {
        expect_task(res, "parallel PATCH").await;
    }
    let after = fetch(&app, &alice.access, &id).await;
    assert_eq!(after["version"], 5);
    assert_eq!(after["description"], "d");
    assert_eq!(after["priority"], "high");
    assert_eq!(after["due_date"], "2030-01-01T00:00:00Z");
    assert_eq!(after["status"], "in_progress");
}
