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

/// One user's writes with an `Idempotency-Key`.
struct Writer<'a> {
    app: &'a TestApp,
    token: &'a str,
}

/// A keyed write that can be sent again as the very same request, as a retrying client
/// does.
struct Keyed<'a> {
    app: &'a TestApp,
    token: &'a str,
    method: Method,
    path: String,
    body: Option<&'a Value>,
    key: String,
}

impl<'a> Writer<'a> {
    fn new(app: &'a TestApp, token: &'a str) -> Self {
        Self { app, token }
    }

    fn request(&self, method: Method, path: &str, body: Option<&'a Value>, key: &str) -> Keyed<'a> {
        Keyed {
            app: self.app,
            token: self.token,
            method,
            path: path.to_owned(),
            body,
            key: key.to_owned(),
        }
    }

    fn post(&self, path: &str, body: &'a Value, key: &str) -> Keyed<'a> {
        self.request(Method::POST, path, Some(body), key)
    }

    fn put(&self, path: &str, body: &'a Value, key: &str) -> Keyed<'a> {
        self.request(Method::PUT, path, Some(body), key)
    }

    fn patch(&self, path: &str, body: &'a Value, key: &str) -> Keyed<'a> {
        self.request(Method::PATCH, path, Some(body), key)
    }

    fn delete(&self, path: &str, key: &str) -> Keyed<'a> {
        self.request(Method::DELETE, path, None, key)
    }

    /// `PATCH <task>/complete`.
    fn toggle(&self, task: &str, key: &str) -> Keyed<'a> {
        self.request(Method::PATCH, &format!("{task}/complete"), None, key)
    }
}

impl Keyed<'_> {
    async fn send(&self) -> reqwest::Response {
        send(
            self.app,
            self.method.clone(),
            &self.path,
            self.token,
            self.body,
            Some(&self.key),
        )
        .await
    }

    async fn call(&self) -> Answer {
        answer(self.send().await).await
    }

    /// The first answer, and the answer to the same request sent right after it.
    async fn sent_twice(&self) -> (Answer, Answer) {
        let first = self.call().await;
        (first, self.call().await)
    }
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
    let by_alice = Writer::new(&app, &alice.access);
    let body = json!({"title": "Pay rent", "priority": "high", "due_date": "2031-01-01T00:00:00Z"});
    let create = by_alice.post(TASKS, &body, "create-1");
    let first = create.call().await;
    assert_eq!(first.status, 201, "{:?}", first.body);
    assert_eq!(first.etag.as_deref(), Some("\"1\""));
    assert_eq!(
        first.location.as_deref(),
        Some(task_path(&id_of(&first.body)).as_str())
    );
    // The client never saw that answer: it sends the same request again.
    assert_replay_of(&first, &create.call().await);
    assert_replay_of(&first, &create.call().await);

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
    assert_replay_of(&first, &create.call().await);
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
    let by_alice = Writer::new(&app, &alice.access);
    let id = id_of(&create_titled(&app, &alice.access, "Original").await);
    let path = task_path(&id);

    let put = json!({"title": "Replaced", "status": "in_progress"});
    let replace = by_alice.put(&path, &put, "put-1");
    let first = replace.call().await;
    assert_eq!(first.status, 200, "{:?}", first.body);
    assert_eq!(first.body["version"], 2);
    assert_eq!(first.etag.as_deref(), Some("\"2\""));
    assert_replay_of(&first, &replace.call().await);

    let patch = json!({"priority": "low"});
    let update = by_alice.patch(&path, &patch, "patch-1");
    let first = update.call().await;
    assert_eq!(first.status, 200, "{:?}", first.body);
    assert_eq!(first.body["version"], 3);
    assert_replay_of(&first, &update.call().await);

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
    let by_alice = Writer::new(&app, &alice.access);
    let id = id_of(&create_titled(&app, &alice.access, "Flip once").await);
    let toggle = by_alice.toggle(&task_path(&id), "toggle-1");
    let first = toggle.call().await;
    assert_eq!(first.status, 200, "{:?}", first.body);
    assert_eq!(first.body["status"], "done");
    for _ in 0..2 {
        assert_replay_of(&first, &toggle.call().await);
    }
    let (_, stored) = json_of(app.get_auth(&task_path(&id), &alice.access).await).await;
    assert_eq!(stored["status"], "done", "still done: {stored}");
    assert_eq!(stored["version"], 2);
    // A new key toggles again.
    let next = by_alice.toggle(&task_path(&id), "toggle-2").call().await;
    assert_eq!(next.status, 200);
    assert!(!next.replayed);
    assert_eq!(next.body["status"], "todo");
    assert_eq!(next.body["version"], 3);
}

#[tokio::test]
async fn a_replayed_delete_answers_204_again_not_404() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let by_alice = Writer::new(&app, &alice.access);
    let id = id_of(&create_titled(&app, &alice.access, "Delete once").await);
    let path = task_path(&id);
    let delete = by_alice.delete(&path, "delete-1");
    let first = delete.call().await;
    assert_eq!(first.status, 204, "{:?}", first.body);
    assert!(!first.replayed);
    let again = delete.call().await;
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
    let other = by_alice.delete(&path, "delete-2").send().await;
    assert_problem(other, 404, "not_found").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_parallel_creates_with_one_key_create_exactly_one_task() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let by_alice = Writer::new(&app, &alice.access);
    // Warm ten keep-alive connections so the racing requests arrive together.
    let warm = join_all((0..10).map(|_| app.get_auth(TASKS, &alice.access))).await;
    assert!(warm.iter().all(|r| r.status().as_u16() == 200));
    let body = json!({"title": "Once"});
    let race = by_alice.post(TASKS, &body, "race-1");
    let answers = join_all((0..10).map(|_| race.call())).await;
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
    let late = race.call().await;
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
    let by_alice = Writer::new(&app, &alice.access);
    let body = json!({"title": "First use"});
    let create = by_alice.post(TASKS, &body, "k");
    let first = create.call().await;
    assert_eq!(first.status, 201);

    let other_body = json!({"title": "Second use"});
    let res = by_alice.post(TASKS, &other_body, "k").send().await;
    assert_key_refused(res, "another body").await;
    let scoped = format!("/api/v1/users/{}/tasks", alice.id);
    let res = by_alice.post(&scoped, &body, "k").send().await;
    assert_key_refused(res, "another path").await;
    let id = id_of(&first.body);
    let res = by_alice.put(&task_path(&id), &body, "k").send().await;
    assert_key_refused(res, "another method and path").await;
    let res = by_alice.delete(&task_path(&id), "k").send().await;
    assert_key_refused(res, "a delete").await;

    // The same path and body under another method.
    let path = task_path(&id);
    let patch = json!({"title": "Same body"});
    let first_patch = by_alice.patch(&path, &patch, "m").call().await;
    assert_eq!(first_patch.status, 200);
    let res = by_alice.put(&path, &patch, "m").send().await;
    assert_key_refused(res, "another method").await;

    // Nothing was written by the refusals, and the key still answers its own request.
    let tasks = all_tasks(&app, &alice.access).await;
    assert_eq!(tasks.len(), 1);
    assert_eq!(
        tasks[&id], first_patch.body,
        "the task is as the PATCH left it"
    );
    assert_replay_of(&first, &create.call().await);
}

#[tokio::test]
async fn malformed_keys_are_refused_and_write_nothing() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let by_alice = Writer::new(&app, &alice.access);
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
    let body = json!({"title": "Long key"});
    let create = by_alice.post(TASKS, &body, &longest);
    let ok = create.call().await;
    assert_eq!(ok.status, 201, "{:?}", ok.body);
    assert_replay_of(&ok, &create.call().await);
}

#[tokio::test]
async fn a_failed_request_leaves_its_key_unused_for_the_corrected_retry() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let by_alice = Writer::new(&app, &alice.access);
    let bob = app.user("bob@example.com").await;

    // 422: an invalid body.
    let res = by_alice
        .post(TASKS, &json!({"title": ""}), "fix-1")
        .send()
        .await;
    let problem = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(fields_of(&problem), ["title"]);
    let fixed = by_alice
        .post(TASKS, &json!({"title": "Fixed"}), "fix-1")
        .call()
        .await;
    assert_eq!(fixed.status, 201, "{:?}", fixed.body);
    assert!(!fixed.replayed, "the corrected retry runs");
    let id = id_of(&fixed.body);

    // 403: a task for someone else.
    let res = by_alice
        .post(
            TASKS,
            &json!({"title": "Gift", "owner_id": bob.id}),
            "fix-2",
        )
        .send()
        .await;
    assert_problem(res, 403, "forbidden").await;
    let fixed2 = by_alice
        .post(TASKS, &json!({"title": "Mine"}), "fix-2")
        .call()
        .await;
    assert_eq!(fixed2.status, 201);
    assert!(!fixed2.replayed);

    // 404: a task that does not exist (the key is claimed, then given back).
    let missing = task_path(&uuid::Uuid::now_v7().to_string());
    let res = by_alice
        .patch(&missing, &json!({"title": "X"}), "fix-3")
        .send()
        .await;
    assert_problem(res, 404, "not_found").await;
    let fixed3 = by_alice
        .patch(&task_path(&id), &json!({"title": "X"}), "fix-3")
        .call()
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
    let res = by_alice.delete(&missing, "fix-5").send().await;
    assert_problem(res, 404, "not_found").await;
    let other = id_of(&fixed2.body);
    let gone = by_alice.delete(&task_path(&other), "fix-5").call().await;
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
    let by_alice = Writer::new(&app, &alice.access);
    let bob = app.user("bob@example.com").await;
    let by_bob = Writer::new(&app, &bob.access);
    let body = json!({"title": "Same request"});
    let her_create = by_alice.post(TASKS, &body, "shared");
    let his_create = by_bob.post(TASKS, &body, "shared");
    let hers = her_create.call().await;
    let his = his_create.call().await;
    assert_eq!((hers.status, his.status), (201, 201));
    assert!(!his.replayed, "bob's key is his own: {his:?}");
    assert_ne!(id_of(&hers.body), id_of(&his.body));
    assert_eq!(his.body["owner_id"], json!(bob.id));
    // Bob's different request under the same key is no conflict with alice's either.
    let bob_other = by_bob
        .post(TASKS, &json!({"title": "x"}), "shared-2")
        .call()
        .await;
    assert_eq!(bob_other.status, 201);
    let alice_same_key = by_alice
        .post(TASKS, &json!({"title": "y"}), "shared-2")
        .call()
        .await;
    assert_eq!(alice_same_key.status, 201);
    assert!(!alice_same_key.replayed);
    // Each replays their own.
    assert_replay_of(&hers, &her_create.call().await);
    assert_replay_of(&his, &his_create.call().await);
    assert_eq!(all_tasks(&app, &alice.access).await.len(), 2);
    assert_eq!(all_tasks(&app, &bob.access).await.len(), 2);
}

#[tokio::test]
async fn the_user_scoped_and_deprecated_forms_honour_keys_too() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let by_alice = Writer::new(&app, &alice.access);
    let admin = app.admin().await;
    let by_admin = Writer::new(&app, &admin.access);
    for (n, base) in [
        format!("/api/v1/users/{}/tasks", alice.id),
        format!("/api/{}/tasks", alice.id),
    ]
    .into_iter()
    .enumerate()
    {
        let body = json!({"title": format!("Scoped {n}")});
        let key = format!("scoped-{n}");
        let (first, again) = by_alice.post(&base, &body, &key).sent_twice().await;
        assert_eq!(first.status, 201, "{base}: {:?}", first.body);
        assert_replay_of(&first, &again);
        let id = id_of(&first.body);
        let item = format!("{base}/{id}");

        let put = json!({"title": format!("Put {n}")});
        let replace = by_alice.put(&item, &put, &format!("{key}-put"));
        let (first, again) = replace.sent_twice().await;
        assert_eq!(first.status, 200, "{item}: {:?}", first.body);
        assert_replay_of(&first, &again);

        let patch = json!({"priority": "high"});
        let update = by_alice.patch(&item, &patch, &format!("{key}-patch"));
        let (first, again) = update.sent_twice().await;
        assert_eq!(first.status, 200);
        assert_replay_of(&first, &again);

        let toggle = by_alice.toggle(&item, &format!("{key}-toggle"));
        let (first, again) = toggle.sent_twice().await;
        assert_eq!(first.status, 200);
        assert_eq!(first.body["status"], "done");
        assert_replay_of(&first, &again);
        assert_eq!(again.body["version"], 4);

        let delete = by_alice.delete(&item, &format!("{key}-delete"));
        let (first, again) = delete.sent_twice().await;
        assert_eq!(first.status, 204);
        assert_eq!(again.status, 204, "{item}: {:?}", again.body);
        assert!(again.replayed);
    }
    // An admin acting in alice's scope uses the admin's own keys: alice's identical
    // request with the same key is hers, and runs.
    let base = format!("/api/v1/users/{}/tasks", alice.id);
    let body = json!({"title": "From the admin"});
    let admins_create = by_admin.post(&base, &body, "both");
    let admins = admins_create.call().await;
    assert_eq!(admins.status, 201);
    assert_eq!(admins.body["owner_id"], json!(alice.id));
    let alices = by_alice.post(&base, &body, "both").call().await;
    assert_eq!(alices.status, 201);
    assert!(!alices.replayed, "the admin's key is not alice's");
    assert_ne!(id_of(&admins.body), id_of(&alices.body));
    let admin_again = admins_create.call().await;
    assert_replay_of(&admins, &admin_again);
    assert_eq!(all_tasks(&app, &alice.access).await.len(), 2);
}

#[tokio::test]
async fn an_expired_key_runs_its_request_again_as_new() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let by_alice = Writer::new(&app, &alice.access);
    let body = json!({"title": "Every day"});
    let create = by_alice.post(TASKS, &body, "daily");
    let first = create.call().await;
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
    assert_replay_of(&first, &create.call().await);
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
    let later = create.call().await;
    assert_eq!(later.status, 201, "{:?}", later.body);
    assert!(!later.replayed, "an expired key is a new key");
    assert_ne!(id_of(&later.body), id_of(&first.body));
    assert_eq!(all_tasks(&app, &alice.access).await.len(), 2);
    // And it is the new request's now.
    assert_replay_of(&later, &create.call().await);
}
