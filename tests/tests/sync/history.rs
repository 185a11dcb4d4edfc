//! A task's history: `GET /api/v1/tasks/{id}/history`.

use reqwest::Method;
use serde_json::{Value, json};
use taskforge_tests::{TestApp, assert_problem, json_of, spawn_app};

use crate::{create, create_titled, delete, id_of, patch, task_path, toggle, write};

/// Every Task field a change lists (all but `version` and `updated_at`).
const LOGGED_FIELDS: [&str; 10] = [
    "id",
    "owner_id",
    "title",
    "description",
    "status",
    "completed",
    "priority",
    "due_date",
    "completed_at",
    "created_at",
];

/// `GET …/history?pairs` as `token`; asserts a 200 page and returns it.
async fn history(app: &TestApp, token: &str, id: &str, query: &str) -> Value {
    let url = format!("{}/history{query}", task_path(id));
    let (status, page) = json_of(app.get_auth(&url, token).await).await;
    assert_eq!(status, 200, "GET {url}: {page}");
    let object = page.as_object().expect("a page");
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "items",
            "limit",
            "next_cursor",
            "offset",
            "total",
            "total_exact"
        ],
        "page keys: {page}"
    );
    for event in page["items"].as_array().expect("items") {
        let mut keys: Vec<&str> = event
            .as_object()
            .expect("an event")
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "actor_id", "at", "changes", "op", "owner_id", "seq", "task_id", "version"
            ],
            "event keys: {event}"
        );
        assert_eq!(event["task_id"], json!(id));
        assert!(event["seq"].as_i64().is_some(), "seq: {event}");
        assert!(
            chrono::DateTime::parse_from_rfc3339(event["at"].as_str().unwrap_or_default()).is_ok(),
            "at: {event}"
        );
    }
    page
}

/// Every event of a task, oldest first.
async fn events(app: &TestApp, token: &str, id: &str) -> Vec<Value> {
    history(app, token, id, "?limit=100").await["items"]
        .as_array()
        .expect("items")
        .clone()
}

/// The names of the fields an event lists, sorted.
fn changed_fields(event: &Value) -> Vec<String> {
    let mut fields: Vec<String> = event["changes"]
        .as_object()
        .expect("changes")
        .keys()
        .cloned()
        .collect();
    fields.sort_unstable();
    fields
}

#[tokio::test]
async fn a_creation_lists_every_field_from_null() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let task = create(
        &app,
        &alice.access,
        json!({"title": "Full", "description": "d", "status": "done", "priority": "high",
               "due_date": "2031-02-03T04:05:06.123456Z"}),
    )
    .await;
    let id = id_of(&task);
    let events = events(&app, &alice.access, &id).await;
    assert_eq!(events.len(), 1, "{events:#?}");
    let created = &events[0];
    assert_eq!(created["op"], "created");
    assert_eq!(created["version"], 1);
    assert_eq!(created["actor_id"], json!(alice.id));
    assert_eq!(created["owner_id"], json!(alice.id));
    assert_eq!(created["at"], task["created_at"], "at: when it was created");
    let mut expected: Vec<String> = LOGGED_FIELDS.iter().map(|f| (*f).to_owned()).collect();
    expected.sort_unstable();
    assert_eq!(changed_fields(created), expected);
    for field in LOGGED_FIELDS {
        assert_eq!(
            created["changes"][field],
            json!([null, task[field]]),
            "{field}: [null, value]"
        );
    }
    // A minimal task lists its nulls too.
    let plain = create_titled(&app, &alice.access, "Plain").await;
    let events = self::events(&app, &alice.access, &id_of(&plain)).await;
    assert_eq!(changed_fields(&events[0]), expected);
    assert_eq!(events[0]["changes"]["description"], json!([null, null]));
    assert_eq!(events[0]["changes"]["status"], json!([null, "todo"]));
}

#[tokio::test]
async fn each_update_lists_exactly_the_fields_it_changed_with_old_and_new() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let admin = app.admin().await;
    let bob = app.user("bob@example.com").await;
    let v1 = create_titled(&app, &alice.access, "Before").await;
    let id = id_of(&v1);

    let v2 = patch(&app, &alice.access, &id, json!({"title": "After"})).await;
    let v3 = toggle(&app, &alice.access, &id).await;
    let v4 = patch(
        &app,
        &admin.access,
        &id,
        json!({"priority": "high", "description": "by admin"}),
    )
    .await;
    // A PATCH that sets what is already there changes nothing but the version.
    let v5 = patch(&app, &alice.access, &id, json!({"priority": "high"})).await;
    let v6 = write(
        &app,
        Method::PUT,
        &task_path(&id),
        &alice.access,
        Some(&json!({"title": "Replaced"})),
    )
    .await;
    let v7 = patch(&app, &admin.access, &id, json!({"owner_id": bob.id})).await;

    let events = events(&app, &bob.access, &id).await;
    assert_eq!(events.len(), 7, "{events:#?}");
    let ops: Vec<&str> = events.iter().map(|e| e["op"].as_str().unwrap()).collect();
    assert_eq!(
        ops,
        [
            "created", "updated", "updated", "updated", "updated", "updated", "updated"
        ]
    );
    let versions: Vec<i64> = events
        .iter()
        .map(|e| e["version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, [1, 2, 3, 4, 5, 6, 7]);
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "seq rises: {seqs:?}");
    let actors: Vec<&Value> = events.iter().map(|e| &e["actor_id"]).collect();
    let (a, ad) = (json!(alice.id), json!(admin.id));
    assert_eq!(actors, [&a, &a, &a, &ad, &a, &a, &ad]);
    for (event, task) in events.iter().zip([&v1, &v2, &v3, &v4, &v5, &v6, &v7]) {
        assert_eq!(event["at"], task["updated_at"], "at: when: {event}");
        assert_eq!(event["owner_id"], task["owner_id"], "owner after: {event}");
    }

    assert_eq!(events[1]["changes"], json!({"title": ["Before", "After"]}));
    assert_eq!(
        events[2]["changes"],
        json!({
            "status": ["todo", "done"],
            "completed": [false, true],
            "completed_at": [null, v3["completed_at"]],
        })
    );
    assert_eq!(
        events[3]["changes"],
        json!({"priority": ["medium", "high"], "description": [null, "by admin"]})
    );
    assert_eq!(events[4]["changes"], json!({}), "nothing changed");
    assert_eq!(
        events[5]["changes"],
        json!({
            "title": ["After", "Replaced"],
            "description": ["by admin", null],
            "priority": ["high", "medium"],
            "status": ["done", "todo"],
            "completed": [true, false],
            "completed_at": [v3["completed_at"], null],
        }),
        "a PUT returns the absent fields to their defaults"
    );
    assert_eq!(
        events[6]["changes"],
        json!({"owner_id": [alice.id, bob.id]})
    );
    // Now bob's: alice's history of it is gone with it.
    let res = app
        .get_auth(&format!("{}/history", task_path(&id)), &alice.access)
        .await;
    assert_problem(res, 404, "not_found").await;
    assert_eq!(self::events(&app, &admin.access, &id).await, events);
}

#[tokio::test]
async fn the_history_pages_oldest_first() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let id = id_of(&create_titled(&app, &alice.access, "v1").await);
    for n in 2..=25 {
        patch(&app, &alice.access, &id, json!({"title": format!("v{n}")})).await;
    }
    let first = history(&app, &alice.access, &id, "").await;
    assert_eq!(first["total"], 25);
    assert_eq!(first["limit"], 20, "default page size");
    assert_eq!(first["offset"], 0);
    assert_eq!(first["items"].as_array().unwrap().len(), 20);
    let page = history(&app, &alice.access, &id, "?limit=10&offset=20").await;
    let versions: Vec<i64> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, [21, 22, 23, 24, 25]);
    assert_eq!(page["total"], 25);
    let mut all = Vec::new();
    for offset in (0..25).step_by(7) {
        let page = history(
            &app,
            &alice.access,
            &id,
            &format!("?limit=7&offset={offset}"),
        )
        .await;
        all.extend(page["items"].as_array().unwrap().clone());
    }
    let versions: Vec<i64> = all.iter().map(|e| e["version"].as_i64().unwrap()).collect();
    assert_eq!(versions, (1..=25).collect::<Vec<_>>());
    let beyond = history(&app, &alice.access, &id, "?offset=100").await;
    assert_eq!(beyond["items"], json!([]));
    for (query, field) in [
        ("?limit=0", "limit"),
        ("?limit=101", "limit"),
        ("?limit=x", "limit"),
        ("?offset=-1", "offset"),
    ] {
        let res = app
            .get_auth(&format!("{}/history{query}", task_path(&id)), &alice.access)
            .await;
        let body = assert_problem(res, 422, "validation_failed").await;
        assert_eq!(crate::fields_of(&body), [field], "{query}: {body}");
    }
}

#[tokio::test]
async fn another_users_task_has_no_history_for_you() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let bob = app.user("bob@example.com").await;
    let admin = app.admin().await;
    let id = id_of(&create_titled(&app, &alice.access, "Private").await);
    let path = format!("{}/history", task_path(&id));
    assert_problem(app.get_auth(&path, &bob.access).await, 404, "not_found").await;
    assert_eq!(
        events(&app, &admin.access, &id).await.len(),
        1,
        "admins see all"
    );
    let unknown = format!("{}/history", task_path(&uuid::Uuid::now_v7().to_string()));
    assert_problem(
        app.get_auth(&unknown, &alice.access).await,
        404,
        "not_found",
    )
    .await;
    assert_problem(
        app.get_auth(&unknown, &admin.access).await,
        404,
        "not_found",
    )
    .await;
    let not_an_id = format!("{}/history", task_path("not-a-uuid"));
    assert_problem(
        app.get_auth(&not_an_id, &alice.access).await,
        404,
        "not_found",
    )
    .await;
    assert_problem(app.get(&path).await, 401, "unauthorized").await;
}

#[tokio::test]
async fn a_deleted_tasks_history_stays_readable_by_its_owner_and_admins_only() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let bob = app.user("bob@example.com").await;
    let admin = app.admin().await;
    let task = create_titled(&app, &alice.access, "Short-lived").await;
    let id = id_of(&task);
    let v2 = patch(&app, &alice.access, &id, json!({"title": "Shorter"})).await;
    delete(&app, &alice.access, &id).await;
    assert_eq!(
        app.get_auth(&task_path(&id), &alice.access)
            .await
            .status()
            .as_u16(),
        404
    );

    let seen = events(&app, &alice.access, &id).await;
    assert_eq!(seen.len(), 3, "{seen:#?}");
    let deleted = &seen[2];
    assert_eq!(deleted["op"], "deleted");
    assert_eq!(deleted["changes"], json!({}), "a deletion lists no field");
    assert_eq!(deleted["version"], v2["version"], "the last version");
    assert_eq!(deleted["actor_id"], json!(alice.id));
    assert_eq!(deleted["owner_id"], json!(alice.id));
    assert!(
        crate::instant(&deleted["at"]) >= crate::instant(&v2["updated_at"]),
        "deleted after its last change"
    );
    assert_eq!(events(&app, &admin.access, &id).await, seen);
    let path = format!("{}/history", task_path(&id));
    assert_problem(app.get_auth(&path, &bob.access).await, 404, "not_found").await;

    // Deleted by an admin: the owner still reads it, and sees who did it.
    let other = id_of(&create_titled(&app, &bob.access, "Bob's").await);
    delete(&app, &admin.access, &other).await;
    let seen = events(&app, &bob.access, &other).await;
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[1]["actor_id"], json!(admin.id));
    assert_eq!(seen[1]["owner_id"], json!(bob.id));
    let path = format!("{}/history", task_path(&other));
    assert_problem(app.get_auth(&path, &alice.access).await, 404, "not_found").await;

    // Deleted with its owner: admins still read it.
    let carol = app.user("carol@example.com").await;
    let hers = id_of(&create_titled(&app, &carol.access, "Carol's").await);
    let res = app
        .request(Method::DELETE, &format!("/api/v1/users/{}", carol.id))
        .bearer_auth(&admin.access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 204);
    let seen = events(&app, &admin.access, &hers).await;
    let ops: Vec<&str> = seen.iter().map(|e| e["op"].as_str().unwrap()).collect();
    assert_eq!(ops, ["created", "deleted"]);
    assert_eq!(seen[1]["actor_id"], json!(admin.id));
    assert_eq!(seen[1]["owner_id"], json!(carol.id));
    assert_eq!(seen[1]["changes"], json!({}));
    assert_eq!(seen[1]["version"], 1);
    let path = format!("{}/history", task_path(&hers));
    assert_problem(app.get_auth(&path, &alice.access).await, 404, "not_found").await;
}
