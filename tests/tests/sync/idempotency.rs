//! Safe retries: a write repeated with its `Idempotency-Key` is answered again, not
//! done again.

use futures_util::future::join_all;
use reqwest::Method;
use reqwest::header::HeaderValue;
use serde_json::{Value, json};
use taskforge_tests::{TestApp, assert_problem, json_of, spawn_app};

use crate::{
    Answer, KEY, TASKS, all_tasks, answer, call, create_titled, fields_of, id_of, send, task_path,
};

/// The number of events in a task's history.
async fn history_len(app: &TestApp, token: &str, id: &str) -> u64 {
    let url = format!("{}/history", task_path(id));
    let (status, page) = json_of(app.get_auth(&url, token).await).await;
    assert_eq!(status, 200, "GET {url}: {page}");
    page["total"].as_u64().expect("total")
}

/// Asserts that `again` is `first` replayed: the same status, body, `Location` and
/// `ETag`, plus `Idempotent-Replayed: true` (which `first` lacks).
fn assert_replay_of(first: &Answer, again: &Answer) {
    assert!(
        !first.replayed,
        "the first answer is not a replay: {first:?}"
    );
    assert!(again.replayed, "the repeat is marked replayed: {again:?}");
    assert_eq!(again.status, first.status, "status of the replay");
    assert_eq!(again.body, first.body, "body of the replay");
    assert_eq!(again.location, first.location, "Location of the replay");
    assert_eq!(again.etag, first.etag, "ETag of the replay");
}

/// Asserts a 422 naming `Idempotency-Key`.
async fn assert_key_refused(res: reqwest::Response, what: &str) {
    let body = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(fields_of(&body), [KEY], "{what}: {body}");
}

#[tokio::test]
async fn a_create_sent_twice_after_a_lost_answer_creates_one_task_and_answers_the_same() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let body = json!({"title": "Pay rent", "priority": "high", "due_date": "2031-01-01T00:00:00Z"});
    let first = call(
        &app,
        Method::POST,
        TASKS,
        &alice.access,
        Some(&body),
        Some("create-1"),
    )
    .await;
    assert_eq!(first.status, 201, "{:?}", first.body);
    assert_eq!(first.etag.as_deref(), Some("\"1\""));
    assert_eq!(
        first.location.as_deref(),
        Some(task_path(&id_of(&first.body)).as_str())
    );
    // The client never saw that answer: it sends the same request again.
    let again = call(
        &app,
        Method::POST,
        TASKS,
        &alice.access,
        Some(&body),
        Some("create-1"),
    )
    .await;
    assert_replay_of(&first, &again);
    let third = call(
        &app,
        Method::POST,
        TASKS,
        &alice.access,
        Some(&body),
        Some("create-1"),
    )
    .await;
    assert_replay_of(&first, &third);

    let tasks = all_tasks(&app, &alice.access).await;
    assert_eq!(tasks.len(), 1, "exactly one task: {tasks:?}");
    assert_eq!(tasks.values().next(), Some(&first.body));
    let id = id_of(&first.body);
    assert_eq!(
        history_len(&app, &alice.access, &id).await,
        1,
        "one change logged"
    );
    // The key stores the answer, not a pointer to the task: a later change does not
    // alter the replay.
    crate::patch(&app, &alice.access, &id, json!({"title": "Paid"})).await;
    let later = call(
        &app,
        Method::POST,
        TASKS,
        &alice.access,
        Some(&body),
        Some("create-1"),
    )
    .await;
    assert_replay_of(&first, &later);
    assert_eq!(all_tasks(&app, &alice.access).await.len(), 1);
}

#[tokio::test]
async fn a_write_without_a_key_is_not_marked_and_repeats_apply_again() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let body = json!({"title": "No key"});
    for _ in 0..2 {
        let got = call(&app, Method::POST, TASKS, &alice.access, Some(&body), None).await;
        assert_eq!(got.status, 201);
        assert!(!got.replayed);
    }
    assert_eq!(all_tasks(&app, &alice.access).await.len(), 2);
}

#[tokio::test]
async fn put_and_patch_repeated_with_their_keys_answer_again_and_change_nothing() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let id = id_of(&create_titled(&app, &alice.access, "Original").await);
    let path = task_path(&id);

    let put = json!({"title": "Replaced", "status": "in_progress"});
    let first = call(
        &app,
        Method::PUT,
        &path,
        &alice.access,
        Some(&put),
        Some("put-1"),
    )
    .await;
    assert_eq!(first.status, 200, "{:?}", first.body);
    assert_eq!(first.body["version"], 2);
    assert_eq!(first.etag.as_deref(), Some("\"2\""));
    let again = call(
        &app,
        Method::PUT,
        &path,
        &alice.access,
        Some(&put),
        Some("put-1"),
    )
    .await;
    assert_replay_of(&first, &again);

    let patch = json!({"priority": "low"});
    let first = call(
        &app,
        Method::PATCH,
        &path,
        &alice.access,
        Some(&patch),
        Some("patch-1"),
    )
    .await;
    assert_eq!(first.status, 200, "{:?}", first.body);
    assert_eq!(first.body["version"], 3);
    let again = call(
        &app,
        Method::PATCH,
        &path,
        &alice.access,
        Some(&patch),
        Some("patch-1"),
    )
    .await;
    assert_replay_of(&first, &again);

    let (status, stored) = json_of(app.get_auth(&path, &alice.access).await).await;
    assert_eq!(status, 200);
    assert_eq!(stored, first.body, "the replays wrote nothing");
    assert_eq!(stored["version"], 3);
    assert_eq!(
        history_len(&app, &alice.access, &id).await,
        3,
        "create, PUT, PATCH"
    );
}

#[tokio::test]
async fn a_replayed_toggle_does_not_toggle_back() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let id = id_of(&create_titled(&app, &alice.access, "Flip once").await);
    let path = format!("{}/complete", task_path(&id));
    let first = call(
        &app,
        Method::PATCH,
        &path,
        &alice.access,
        None,
        Some("toggle-1"),
    )
    .await;
    assert_eq!(first.status, 200, "{:?}", first.body);
    assert_eq!(first.body["status"], "done");
    for _ in 0..2 {
        let again = call(
            &app,
            Method::PATCH,
            &path,
            &alice.access,
            None,
            Some("toggle-1"),
        )
        .await;
        assert_replay_of(&first, &again);
    }
    let (_, stored) = json_of(app.get_auth(&task_path(&id), &alice.access).await).await;
    assert_eq!(stored["status"], "done", "still done: {stored}");
    assert_eq!(stored["version"], 2);
    // A new key toggles again.
    let next = call(
        &app,
        Method::PATCH,
        &path,
        &alice.access,
        None,
        Some("toggle-2"),
    )
    .await;
    assert_eq!(next.status, 200);
    assert!(!next.replayed);
    assert_eq!(next.body["status"], "todo");
    assert_eq!(next.body["version"], 3);
}

#[tokio::test]
async fn a_replayed_delete_answers_204_again_not_404() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let id = id_of(&create_titled(&app, &alice.access, "Delete once").await);
    let path = task_path(&id);
    let first = call(
        &app,
        Method::DELETE,
        &path,
        &alice.access,
        None,
        Some("delete-1"),
    )
    .await;
    assert_eq!(first.status, 204, "{:?}", first.body);
    assert!(!first.replayed);
    let again = call(
        &app,
        Method::DELETE,
        &path,
        &alice.access,
        None,
        Some("delete-1"),
    )
    .await;
    assert_eq!(
        again.status, 204,
        "the repeat answers 204: {:?}",
        again.body
    );
    assert!(again.replayed, "and is marked replayed");
    assert_eq!(again.body, Value::Null, "no body");
    // Without the key, the task is gone.
    let plain = call(&app, Method::DELETE, &path, &alice.access, None, None).await;
    assert_eq!(plain.status, 404);
    // Another key for the same delete: a new request, which finds nothing.
    let other = send(
        &app,
        Method::DELETE,
        &path,
        &alice.access,
        None,
        Some("delete-2"),
    )
    .await;
    assert_problem(other, 404, "not_found").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_parallel_creates_with_one_key_create_exactly_one_task() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    // Warm ten keep-alive connections so the racing requests arrive together.
    let warm = join_all((0..10).map(|_| app.get_auth(TASKS, &alice.access))).await;
    assert!(warm.iter().all(|r| r.status().as_u16() == 200));
    let body = json!({"title": "Once"});
    let answers = join_all((0..10).map(|_| async {
        answer(
            send(
                &app,
                Method::POST,
                TASKS,
                &alice.access,
                Some(&body),
                Some("race-1"),
            )
            .await,
        )
        .await
    }))
    .await;
    let mut created = Vec::new();
    for got in &answers {
        match got.status {
            201 => created.push(got.clone()),
            409 => assert_eq!(got.body["error"], "conflict", "{got:?}"),
            other => panic!("201 or 409 only, got {other}: {got:?}"),
        }
    }
    assert!(!created.is_empty(), "at least one 201: {answers:?}");
    let fresh: Vec<&Answer> = created.iter().filter(|a| !a.replayed).collect();
    assert_eq!(fresh.len(), 1, "exactly one fresh 201: {answers:?}");
    for got in &created {
        assert_eq!(got.body, fresh[0].body, "every 201 is the same task");
        assert_eq!(got.location, fresh[0].location);
        assert_eq!(got.etag, fresh[0].etag);
    }
    let tasks = all_tasks(&app, &alice.access).await;
    assert_eq!(tasks.len(), 1, "exactly one task: {tasks:?}");
    // Once the first is done, every repeat is a replay.
    let late = call(
        &app,
        Method::POST,
        TASKS,
        &alice.access,
        Some(&body),
        Some("race-1"),
    )
    .await;
    assert_replay_of(
        &Answer {
            replayed: false,
            ..fresh[0].clone()
        },
        &late,
    );
}

#[tokio::test]
async fn the_same_key_for_another_body_method_or_path_is_refused() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let body = json!({"title": "First use"});
    let first = call(
        &app,
        Method::POST,
        TASKS,
        &alice.access,
        Some(&body),
        Some("k"),
    )
    .await;
    assert_eq!(first.status, 201);

    let other_body = json!({"title": "Second use"});
    let res = send(
        &app,
        Method::POST,
        TASKS,
        &alice.access,
        Some(&other_body),
        Some("k"),
    )
    .await;
    assert_key_refused(res, "another body").await;
    let scoped = format!("/api/v1/users/{}/tasks", alice.id);
    let res = send(
        &app,
        Method::POST,
        &scoped,
        &alice.access,
        Some(&body),
        Some("k"),
    )
    .await;
    assert_key_refused(res, "another path").await;
    let id = id_of(&first.body);
    let res = send(
        &app,
        Method::PUT,
        &task_path(&id),
        &alice.access,
        Some(&body),
        Some("k"),
    )
    .await;
    assert_key_refused(res, "another method and path").await;
    let res = send(
        &app,
        Method::DELETE,
        &task_path(&id),
        &alice.access,
        None,
        Some("k"),
    )
    .await;
    assert_key_refused(res, "a delete").await;

    // The same path and body under another method.
    let path = task_path(&id);
    let patch = json!({"title": "Same body"});
    let first_patch = call(
        &app,
        Method::PATCH,
        &path,
        &alice.access,
        Some(&patch),
        Some("m"),
    )
    .await;
    assert_eq!(first_patch.status, 200);
    let res = send(
        &app,
        Method::PUT,
        &path,
        &alice.access,
        Some(&patch),
        Some("m"),
    )
    .await;
    assert_key_refused(res, "another method").await;

    // Nothing was written by the refusals, and the key still answers its own request.
    let tasks = all_tasks(&app, &alice.access).await;
    assert_eq!(tasks.len(), 1);
    assert_eq!(
        tasks[&id], first_patch.body,
        "the task is as the PATCH left it"
    );
    let again = call(
        &app,
        Method::POST,
        TASKS,
        &alice.access,
        Some(&body),
        Some("k"),
    )
    .await;
    assert_replay_of(&first, &again);
}

#[tokio::test]
async fn malformed_keys_are_refused_and_write_nothing() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let id = id_of(&create_titled(&app, &alice.access, "Keep me").await);
    let long = "k".repeat(256);
    let bad: Vec<(&str, HeaderValue)> = vec![
        ("empty", HeaderValue::from_static("")),
        ("256 characters", HeaderValue::from_str(&long).unwrap()),
        (
            "non-ASCII",
            HeaderValue::from_bytes("clé-1".as_bytes()).unwrap(),
        ),
        ("a space", HeaderValue::from_static("a b")),
        ("a tab", HeaderValue::from_static("a\tb")),
    ];
    for (what, value) in bad {
        let res = app
            .request(Method::POST, TASKS)
            .bearer_auth(&alice.access)
            .header(KEY, value.clone())
            .json(&json!({"title": "Never"}))
            .send()
            .await
            .unwrap();
        assert_key_refused(res, what).await;
        let res = app
            .request(Method::DELETE, &task_path(&id))
            .bearer_auth(&alice.access)
            .header(KEY, value.clone())
            .send()
            .await
            .unwrap();
        assert_key_refused(res, what).await;
        let res = app
            .request(Method::PATCH, &format!("{}/complete", task_path(&id)))
            .bearer_auth(&alice.access)
            .header(KEY, value)
            .send()
            .await
            .unwrap();
        assert_key_refused(res, what).await;
    }
    let tasks = all_tasks(&app, &alice.access).await;
    assert_eq!(tasks.len(), 1, "nothing created, nothing deleted");
    assert_eq!(tasks[&id]["version"], 1, "nothing toggled");
    // 255 visible ASCII characters are a key.
    let longest: String = (0..255)
        .map(|i| char::from(b'!' + (i % 94) as u8))
        .collect();
    let ok = call(
        &app,
        Method::POST,
        TASKS,
        &alice.access,
        Some(&json!({"title": "Long key"})),
        Some(&longest),
    )
    .await;
    assert_eq!(ok.status, 201, "{:?}", ok.body);
    let again = call(
        &app,
        Method::POST,
        TASKS,
        &alice.access,
        Some(&json!({"title": "Long key"})),
        Some(&longest),
    )
    .await;
    assert_replay_of(&ok, &again);
}

#[tokio::test]
async fn a_failed_request_leaves_its_key_unused_for_the_corrected_retry() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let bob = app.user("bob@example.com").await;

    // 422: an invalid body.
    let res = send(
        &app,
        Method::POST,
        TASKS,
        &alice.access,
        Some(&json!({"title": ""})),
        Some("fix-1"),
    )
    .await;
    let problem = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(fields_of(&problem), ["title"]);
    let fixed = call(
        &app,
        Method::POST,
        TASKS,
        &alice.access,
        Some(&json!({"title": "Fixed"})),
        Some("fix-1"),
    )
    .await;
    assert_eq!(fixed.status, 201, "{:?}", fixed.body);
    assert!(!fixed.replayed, "the corrected retry runs");
    let id = id_of(&fixed.body);

    // 403: a task for someone else.
    let res = send(
        &app,
        Method::POST,
        TASKS,
        &alice.access,
        Some(&json!({"title": "Gift", "owner_id": bob.id})),
        Some("fix-2"),
    )
    .await;
    assert_problem(res, 403, "forbidden").await;
    let fixed2 = call(
        &app,
        Method::POST,
        TASKS,
        &alice.access,
        Some(&json!({"title": "Mine"})),
        Some("fix-2"),
    )
    .await;
    assert_eq!(fixed2.status, 201);
    assert!(!fixed2.replayed);

    // 404: a task that does not exist (the key is claimed, then given back).
    let missing = task_path(&uuid::Uuid::now_v7().to_string());
    let res = send(
        &app,
        Method::PATCH,
        &missing,
        &alice.access,
        Some(&json!({"title": "X"})),
        Some("fix-3"),
    )
    .await;
    assert_problem(res, 404, "not_found").await;
    let fixed3 = call(
        &app,
        Method::PATCH,
        &task_path(&id),
        &alice.access,
        Some(&json!({"title": "X"})),
        Some("fix-3"),
    )
    .await;
    assert_eq!(fixed3.status, 200, "{:?}", fixed3.body);
    assert!(!fixed3.replayed);
    assert_eq!(fixed3.body["version"], 2);

    // 412: a stale If-Match; the same request without it then runs.
    let res = app
        .request(Method::PATCH, &task_path(&id))
        .bearer_auth(&alice.access)
        .header(KEY, "fix-4")
        .header("if-match", "\"1\"")
        .json(&json!({"priority": "low"}))
        .send()
        .await
        .unwrap();
    assert_problem(res, 412, "precondition_failed").await;
    let res = app
        .request(Method::PATCH, &task_path(&id))
        .bearer_auth(&alice.access)
        .header(KEY, "fix-4")
        .header("if-match", "\"2\"")
        .json(&json!({"priority": "low"}))
        .send()
        .await
        .unwrap();
    let fixed4 = answer(res).await;
    assert_eq!(fixed4.status, 200, "{:?}", fixed4.body);
    assert!(!fixed4.replayed);
    assert_eq!(fixed4.body["version"], 3);

    // 404 on a delete, then the delete of a task that exists.
    let res = send(
        &app,
        Method::DELETE,
        &missing,
        &alice.access,
        None,
        Some("fix-5"),
    )
    .await;
    assert_problem(res, 404, "not_found").await;
    let other = id_of(&fixed2.body);
    let gone = call(
        &app,
        Method::DELETE,
        &task_path(&other),
        &alice.access,
        None,
        Some("fix-5"),
    )
    .await;
    assert_eq!(gone.status, 204);
    assert!(!gone.replayed);

    let tasks = all_tasks(&app, &alice.access).await;
    assert_eq!(tasks.keys().collect::<Vec<_>>(), [&id]);
    assert_eq!(tasks[&id]["title"], "X");
    assert_eq!(tasks[&id]["priority"], "low");
}

#[tokio::test]
async fn keys_belong_to_their_user() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let bob = app.user("bob@example.com").await;
    let body = json!({"title": "Same request"});
    let hers = call(
        &app,
        Method::POST,
        TASKS,
        &alice.access,
        Some(&body),
        Some("shared"),
    )
    .await;
    let his = call(
        &app,
        Method::POST,
        TASKS,
        &bob.access,
        Some(&body),
        Some("shared"),
    )
    .await;
    assert_eq!((hers.status, his.status), (201, 201));
    assert!(!his.replayed, "bob's key is his own: {his:?}");
    assert_ne!(id_of(&hers.body), id_of(&his.body));
    assert_eq!(his.body["owner_id"], json!(bob.id));
    // Bob's different request under the same key is no conflict with alice's either.
    let bob_other = call(
        &app,
        Method::POST,
        TASKS,
        &bob.access,
        Some(&json!({"title": "x"})),
        Some("shared-2"),
    )
    .await;
    assert_eq!(bob_other.status, 201);
    let alice_same_key = call(
        &app,
        Method::POST,
        TASKS,
        &alice.access,
        Some(&json!({"title": "y"})),
        Some("shared-2"),
    )
    .await;
    assert_eq!(alice_same_key.status, 201);
    assert!(!alice_same_key.replayed);
    // Each replays their own.
    let hers_again = call(
        &app,
        Method::POST,
        TASKS,
        &alice.access,
        Some(&body),
        Some("shared"),
    )
    .await;
    assert_replay_of(&hers, &hers_again);
    let his_again = call(
        &app,
        Method::POST,
        TASKS,
        &bob.access,
        Some(&body),
        Some("shared"),
    )
    .await;
    assert_replay_of(&his, &his_again);
    assert_eq!(all_tasks(&app, &alice.access).await.len(), 2);
    assert_eq!(all_tasks(&app, &bob.access).await.len(), 2);
}

#[tokio::test]
async fn the_user_scoped_and_deprecated_forms_honour_keys_too() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let admin = app.admin().await;
    for (n, base) in [
        format!("/api/v1/users/{}/tasks", alice.id),
        format!("/api/{}/tasks", alice.id),
    ]
    .into_iter()
    .enumerate()
    {
        let body = json!({"title": format!("Scoped {n}")});
        let key = format!("scoped-{n}");
        let first = call(
            &app,
            Method::POST,
            &base,
            &alice.access,
            Some(&body),
            Some(&key),
        )
        .await;
        assert_eq!(first.status, 201, "{base}: {:?}", first.body);
        let again = call(
            &app,
            Method::POST,
            &base,
            &alice.access,
            Some(&body),
            Some(&key),
        )
        .await;
        assert_replay_of(&first, &again);
        let id = id_of(&first.body);
        let item = format!("{base}/{id}");

        let put = json!({"title": format!("Put {n}")});
        let first = call(
            &app,
            Method::PUT,
            &item,
            &alice.access,
            Some(&put),
            Some(&format!("{key}-put")),
        )
        .await;
        assert_eq!(first.status, 200, "{item}: {:?}", first.body);
        let again = call(
            &app,
            Method::PUT,
            &item,
            &alice.access,
            Some(&put),
            Some(&format!("{key}-put")),
        )
        .await;
        assert_replay_of(&first, &again);

        let patch = json!({"priority": "high"});
        let first = call(
            &app,
            Method::PATCH,
            &item,
            &alice.access,
            Some(&patch),
            Some(&format!("{key}-patch")),
        )
        .await;
        assert_eq!(first.status, 200);
        let again = call(
            &app,
            Method::PATCH,
            &item,
            &alice.access,
            Some(&patch),
            Some(&format!("{key}-patch")),
        )
        .await;
        assert_replay_of(&first, &again);

        let complete = format!("{item}/complete");
        let first = call(
            &app,
            Method::PATCH,
            &complete,
            &alice.access,
            None,
            Some(&format!("{key}-toggle")),
        )
        .await;
        assert_eq!(first.status, 200);
        assert_eq!(first.body["status"], "done");
        let again = call(
            &app,
            Method::PATCH,
            &complete,
            &alice.access,
            None,
            Some(&format!("{key}-toggle")),
        )
        .await;
        assert_replay_of(&first, &again);
        assert_eq!(again.body["version"], 4);

        let first = call(
            &app,
            Method::DELETE,
            &item,
            &alice.access,
            None,
            Some(&format!("{key}-delete")),
        )
        .await;
        assert_eq!(first.status, 204);
        let again = call(
            &app,
            Method::DELETE,
            &item,
            &alice.access,
            None,
            Some(&format!("{key}-delete")),
        )
        .await;
        assert_eq!(again.status, 204, "{item}: {:?}", again.body);
        assert!(again.replayed);
    }
    // An admin acting in alice's scope uses the admin's own keys: alice's identical
    // request with the same key is hers, and runs.
    let base = format!("/api/v1/users/{}/tasks", alice.id);
    let body = json!({"title": "From the admin"});
    let by_admin = call(
        &app,
        Method::POST,
        &base,
        &admin.access,
        Some(&body),
        Some("both"),
    )
    .await;
    assert_eq!(by_admin.status, 201);
    assert_eq!(by_admin.body["owner_id"], json!(alice.id));
    let by_alice = call(
        &app,
        Method::POST,
        &base,
        &alice.access,
        Some(&body),
        Some("both"),
    )
    .await;
    assert_eq!(by_alice.status, 201);
    assert!(!by_alice.replayed, "the admin's key is not alice's");
    assert_ne!(id_of(&by_admin.body), id_of(&by_alice.body));
    let admin_again = call(
        &app,
        Method::POST,
        &base,
        &admin.access,
        Some(&body),
        Some("both"),
    )
    .await;
    assert_replay_of(&by_admin, &admin_again);
    assert_eq!(all_tasks(&app, &alice.access).await.len(), 2);
}

#[tokio::test]
async fn an_expired_key_runs_its_request_again_as_new() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let body = json!({"title": "Every day"});
    let first = call(
        &app,
        Method::POST,
        TASKS,
        &alice.access,
        Some(&body),
        Some("daily"),
    )
    .await;
    assert_eq!(first.status, 201);
    let stored = app
        .query_sql(
            "SELECT expires_at, created_at FROM idempotency_keys WHERE key = $1",
            vec!["daily".into()],
        )
        .await;
    assert_eq!(stored.len(), 1, "the key is stored");
    let expires: chrono::DateTime<chrono::Utc> = stored[0].try_get("", "expires_at").unwrap();
    let created: chrono::DateTime<chrono::Utc> = stored[0].try_get("", "created_at").unwrap();
    let lifetime = expires - created;
    assert_eq!(lifetime, chrono::Duration::hours(24), "a key lives 24 h");
    // Still within its life: a replay.
    let again = call(
        &app,
        Method::POST,
        TASKS,
        &alice.access,
        Some(&body),
        Some("daily"),
    )
    .await;
    assert_replay_of(&first, &again);
    // 24 h later (the clock cannot be moved, so the key is aged instead).
    let past = chrono::Utc::now() - chrono::Duration::minutes(1);
    let aged = app
        .execute_sql(
            "UPDATE idempotency_keys SET expires_at = $1, created_at = $2 WHERE key = $3",
            vec![
                past.into(),
                (past - chrono::Duration::hours(24)).into(),
                "daily".into(),
            ],
        )
        .await;
    assert_eq!(aged, 1);
    let later = call(
        &app,
        Method::POST,
        TASKS,
        &alice.access,
        Some(&body),
        Some("daily"),
    )
    .await;
    assert_eq!(later.status, 201, "{:?}", later.body);
    assert!(!later.replayed, "an expired key is a new key");
    assert_ne!(id_of(&later.body), id_of(&first.body));
    assert_eq!(all_tasks(&app, &alice.access).await.len(), 2);
    // And it is the new request's now.
    let replay = call(
        &app,
        Method::POST,
        TASKS,
        &alice.access,
        Some(&body),
        Some("daily"),
    )
    .await;
    assert_replay_of(&later, &replay);
}
