//! The change log under concurrent writes on PostgreSQL, made deterministic by an
//! outside transaction that holds a row lock (or a transaction id) while the test
//! writes through the API, then lets go. SQLite runs one writer at a time, so none of
//! this can happen there: without `TEST_DATABASE_URL` these return at once, and
//! record nothing.

use std::time::Duration;

use reqwest::Method;
use sea_orm::{ConnectionTrait, DatabaseTransaction, TransactionTrait};
use serde_json::{Value, json};
use taskforge_tests::{Account, TestApp, json_of, postgres_configured, spawn_app_with};

use crate::{
    ARRIVAL, Next, Sse, assert_event, create_titled, id_of, patch, subscribe, task_path, tombstone,
};

/// A long enough lock wait that the paused request outlasts the test's pause.
const PATIENT: [(&str, &str); 1] = [("DB_LOCK_TIMEOUT_MS", "30000")];

/// Opens a transaction on a connection of the test's own and runs `sql` in it.
async fn hold(app: &TestApp, sql: &str, values: Vec<sea_orm::Value>) -> DatabaseTransaction {
    let outside = sea_orm::Database::connect(&app.database_url)
        .await
        .expect("an outside connection");
    let txn = outside.begin().await.expect("an outside transaction");
    txn.execute_raw(app.statement(sql, values))
        .await
        .unwrap_or_else(|err| panic!("{sql}: {err}"));
    txn
}

/// How many statements of the server's database wait for a lock now.
async fn lock_waits(app: &TestApp) -> i64 {
    let rows = app
        .query_sql(
            "SELECT count(*) AS waiting FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
            Vec::new(),
        )
        .await;
    rows[0].try_get("", "waiting").unwrap()
}

/// Waits until a statement of the server waits for a lock (held by [`hold`]).
async fn until_a_statement_waits(app: &TestApp) {
    let deadline = tokio::time::Instant::now() + ARRIVAL;
    while lock_waits(app).await == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the paused request never waited for the lock"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `DELETE /api/v1/users/{id}` as the admin, in the background.
fn delete_user(app: &TestApp, admin: &Account, user: &Account) -> tokio::task::JoinHandle<u16> {
    let request = app
        .request(Method::DELETE, &format!("/api/v1/users/{}", user.id))
        .bearer_auth(&admin.access);
    tokio::spawn(async move { request.send().await.unwrap().status().as_u16() })
}

/// The `op`s and `version`s of a task's history, as the admin reads it.
async fn history_of(app: &TestApp, admin: &Account, id: &str) -> Vec<(String, i64)> {
    let url = format!("{}/history?limit=100", task_path(id));
    let (status, page) = json_of(app.get_auth(&url, &admin.access).await).await;
    assert_eq!(status, 200, "GET {url}: {page}");
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["op"].as_str().unwrap().to_owned(),
                e["version"].as_i64().unwrap(),
            )
        })
        .collect()
}

/// The events of a stream from now until it has been quiet for two seconds after the
/// first event about task `id` (or for [`ARRIVAL`] without one).
async fn drain(stream: &mut Sse, id: &str) -> Vec<(String, Value)> {
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + ARRIVAL;
    loop {
        let about_id = events
            .iter()
            .any(|(_, data): &(String, Value)| data["id"] == json!(id));
        let wait = if about_id {
            Duration::from_secs(2)
        } else {
            deadline.saturating_duration_since(tokio::time::Instant::now())
        };
        match stream.next_event_within(wait).await {
            Next::Frame(frame) => events.push((frame.event.clone().unwrap(), frame.json())),
            Next::Quiet => return events,
            Next::End => panic!("the stream ended"),
        }
    }
}

/// The last event of `id` among `events`.
fn last_event_of<'a>(events: &'a [(String, Value)], id: &str) -> Option<&'a (String, Value)> {
    events
        .iter()
        .rev()
        .find(|(_, data)| data["id"] == json!(id))
}

#[tokio::test]
async fn a_task_created_while_its_owner_is_being_deleted_has_its_deletion_logged() {
    if !postgres_configured() {
        return;
    }
    let app = spawn_app_with(&PATIENT).await;
    let admin = app.admin().await;
    let bob = app.user("bob@example.com").await;
    let mut stream = subscribe(&app, &admin.access, None).await;
    let first = create_titled(&app, &bob.access, "before").await;
    assert_event(&stream.next_event().await, "task.created", &first);

    // Pause the deletion of bob after it logged and deleted his tasks, before it
    // deletes his sessions and himself.
    let bob_id: uuid::Uuid = bob.id.parse().unwrap();
    let sessions = hold(
        &app,
        "SELECT id FROM sessions WHERE user_id = $1 FOR UPDATE",
        vec![bob_id.into()],
    )
    .await;
    let deleting = delete_user(&app, &admin, &bob);
    until_a_statement_waits(&app).await;
    // Meanwhile a task is created for bob, who still exists: it either waits for the
    // deletion and finds him gone, or is made and then deleted with him, logged.
    let body = json!({"title": "during", "owner_id": bob.id});
    let late = {
        let app_url = app.address.clone();
        let token = admin.access.clone();
        tokio::spawn(async move {
            let res = reqwest::Client::new()
                .post(format!("{app_url}/api/v1/tasks"))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            (res.status().as_u16(), res.json::<Value>().await.unwrap())
        })
    };
    // Let the create reach the database (it waits there, or is done) before bob's
    // deletion goes on.
    let settled = tokio::time::timeout(Duration::from_secs(2), async {
        while !late.is_finished() && lock_waits(&app).await < 2 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(settled.is_ok(), "the late create neither ended nor waited");
    sessions.rollback().await.unwrap();
    assert_eq!(deleting.await.unwrap(), 204, "bob is deleted");
    let (status, late) = late.await.unwrap();

    match status {
        // It came after the deletion: bob was gone.
        422 => {
            let (_, page) =
                json_of(app.get_auth("/api/v1/tasks?limit=100", &admin.access).await).await;
            assert!(
                page["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|t| t["title"] != "during"),
                "a refused create left a task: {page}"
            );
        }
        201 => {
            let late_id = id_of(&late);
            let res = app.get_auth(&task_path(&late_id), &admin.access).await;
            assert_eq!(res.status().as_u16(), 404, "the late task went with bob");
            // Every task write, the deletion of the owner included, leaves its event.
            let history = history_of(&app, &admin, &late_id).await;
            let events = drain(&mut stream, &late_id).await;
            let last = last_event_of(&events, &late_id);
            assert!(
                history == [("created".to_owned(), 1), ("deleted".to_owned(), 1)]
                    && last == Some(&("task.deleted".to_owned(), tombstone(&late_id))),
                "the late task's deletion is logged: its history ends with it (got {history:?}) \
                 and a live client learns of it (last event of the task: {last:?})"
            );
        }
        other => panic!("the late create answered {other}: {late}"),
    }
}

#[tokio::test]
async fn a_task_changed_while_its_owner_is_being_deleted_ends_with_its_deletion() {
    if !postgres_configured() {
        return;
    }
    let app = spawn_app_with(&PATIENT).await;
    let admin = app.admin().await;
    let bob = app.user("bob@example.com").await;
    let mut stream = subscribe(&app, &admin.access, None).await;
    let held = create_titled(&app, &bob.access, "held").await;
    let changed = create_titled(&app, &bob.access, "changed").await;
    assert_event(&stream.next_event().await, "task.created", &held);
    assert_event(&stream.next_event().await, "task.created", &changed);

    // Pause the deletion of bob after it logged his tasks' deletions, while it deletes
    // them: it waits for the first.
    let held_id: uuid::Uuid = id_of(&held).parse().unwrap();
    let lock = hold(
        &app,
        "SELECT id FROM tasks WHERE id = $1 FOR UPDATE",
        vec![held_id.into()],
    )
    .await;
    let deleting = delete_user(&app, &admin, &bob);
    until_a_statement_waits(&app).await;
    // Meanwhile the other task changes (the deletion, waiting at the older task, has
    // not reached it yet).
    let id = id_of(&changed);
    let change = patch(&app, &admin.access, &id, json!({"title": "changed again"}));
    let v2 = tokio::time::timeout(Duration::from_secs(5), change).await;
    lock.rollback().await.unwrap();
    let v2 = v2.expect("set-up: the deletion had not locked the newer task yet");
    assert_eq!(v2["version"], 2);
    assert_eq!(deleting.await.unwrap(), 204, "bob is deleted");

    let res = app.get_auth(&task_path(&id), &admin.access).await;
    assert_eq!(res.status().as_u16(), 404, "the task went with bob");
    let history = history_of(&app, &admin, &id).await;
    let events = drain(&mut stream, &id).await;
    let last = last_event_of(&events, &id);
    assert!(
        history.last() == Some(&("deleted".to_owned(), 2))
            && last == Some(&("task.deleted".to_owned(), tombstone(&id))),
        "the task's last logged change is its deletion, of version 2 (history: {history:?}), \
         and a live client's last word on it is task.deleted (got {last:?})"
    );
}
