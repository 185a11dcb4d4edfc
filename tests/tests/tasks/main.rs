//! Black-box tests of the task routes: `/api/v1/tasks…`, the user-scoped
//! `/api/v1/users/{user_id}/tasks…` and the deprecated `/api/{user_id}/tasks…`.
//! Every test starts its own server against a fresh database.

mod concurrency;
mod crud;
mod cursor;
mod list;
mod ownership;
mod preconditions;
mod scoped;
mod sessions;
mod validation;

use reqwest::{Method, Response};
use serde_json::{Value, json};
use taskforge_tests::{TestApp, json_of};

/// The collection route.
pub const TASKS: &str = "/api/v1/tasks";

/// Every key of a Task, in the contract's order.
pub const TASK_KEYS: [&str; 12] = [
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
    "updated_at",
    "version",
];

/// The canonical route of one task.
pub fn task_path(id: &str) -> String {
    format!("{TASKS}/{id}")
}

/// The id of a task body.
pub fn id_of(task: &Value) -> String {
    task["id"].as_str().expect("a task id").to_owned()
}

/// A request with an optional bearer token, JSON body and `If-Match`.
pub async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
    if_match: Option<&str>,
) -> Response {
    let mut req = app.request(method, path);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    if let Some(body) = body {
        req = req.json(body);
    }
    if let Some(tag) = if_match {
        req = req.header("if-match", tag);
    }
    req.send().await.expect("request sent")
}

/// The `ETag` of a response, if any.
pub fn etag(res: &Response) -> Option<String> {
    res.headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Asserts a 200 single-task response whose `ETag` is `"<version>"`; returns the task.
pub async fn expect_task(res: Response, what: &str) -> Value {
    let tag = etag(&res);
    let (status, body) = json_of(res).await;
    assert_eq!(status, 200, "{what}: {body}");
    assert_eq!(
        tag,
        Some(format!("\"{}\"", body["version"])),
        "{what}: ETag is the version"
    );
    assert_task_shape(&body);
    body
}

/// `POST /api/v1/tasks`; asserts 201 and returns the task.
pub async fn create(app: &TestApp, token: &str, body: Value) -> Value {
    create_at(app, TASKS, token, body).await
}

/// `POST path` (a task collection); asserts 201, `ETag "1"`, a `Location` ending in the id.
pub async fn create_at(app: &TestApp, path: &str, token: &str, body: Value) -> Value {
    let res = send(app, Method::POST, path, Some(token), Some(&body), None).await;
    let tag = etag(&res);
    let location = res
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (status, task) = json_of(res).await;
    assert_eq!(status, 201, "create {body} at {path}: {task}");
    assert_task_shape(&task);
    assert_eq!(tag.as_deref(), Some("\"1\""), "ETag of a new task");
    let location = location.expect("a Location header");
    assert!(
        location.ends_with(&format!("/tasks/{}", id_of(&task))),
        "Location {location}"
    );
    task
}

/// Creates a task with only a title.
pub async fn create_titled(app: &TestApp, token: &str, title: &str) -> Value {
    create(app, token, json!({ "title": title })).await
}

/// `GET /api/v1/tasks/{id}` as `token`; asserts 200 and returns the task.
pub async fn fetch(app: &TestApp, token: &str, id: &str) -> Value {
    expect_task(app.get_auth(&task_path(id), token).await, "GET task").await
}

/// Percent-encodes a query value (everything but the unreserved characters).
pub fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A query string of encoded pairs, with its leading `?` (empty without pairs).
pub fn query_string(pairs: &[(&str, &str)]) -> String {
    if pairs.is_empty() {
        return String::new();
    }
    let joined: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect();
    format!("?{}", joined.join("&"))
}

/// `GET path?pairs` as `token`; asserts a 200 Page and returns it.
pub async fn list_at(app: &TestApp, path: &str, token: &str, pairs: &[(&str, &str)]) -> Value {
    let url = format!("{path}{}", query_string(pairs));
    let (status, page) = json_of(app.get_auth(&url, token).await).await;
    assert_eq!(status, 200, "GET {url}: {page}");
    let object = page.as_object().expect("a Page object");
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
        "Page keys: {page}"
    );
    for item in page["items"].as_array().expect("items") {
        assert_task_shape(item);
    }
    page
}

/// `GET /api/v1/tasks?pairs` as `token`.
pub async fn list(app: &TestApp, token: &str, pairs: &[(&str, &str)]) -> Value {
    list_at(app, TASKS, token, pairs).await
}

/// The ids of a page's items, in order.
pub fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(id_of)
        .collect()
}

/// The titles of a page's items, in order.
pub fn titles(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|t| t["title"].as_str().expect("a title").to_owned())
        .collect()
}

/// Asserts `value` is a canonical lower-case UUID v7 string.
pub fn assert_uuid(value: &Value, what: &str) {
    let s = value
        .as_str()
        .unwrap_or_else(|| panic!("{what} is a string: {value}"));
    let parsed = uuid::Uuid::parse_str(s).unwrap_or_else(|_| panic!("{what} is a UUID: {s}"));
    assert_eq!(
        s,
        parsed.hyphenated().to_string(),
        "{what} is canonical lower-case"
    );
    assert_eq!(parsed.get_version_num(), 7, "{what} is a UUID v7: {s}");
}

/// Asserts `value` is an RFC 3339 UTC timestamp (`Z`) with at most 6 fractional digits.
pub fn assert_timestamp(value: &Value, what: &str) {
    let s = value
        .as_str()
        .unwrap_or_else(|| panic!("{what} is a string: {value}"));
    assert!(
        chrono::DateTime::parse_from_rfc3339(s).is_ok(),
        "{what} is RFC 3339: {s}"
    );
    assert!(s.ends_with('Z'), "{what} is in UTC with a Z: {s}");
    if let Some((_, fraction)) = s.trim_end_matches('Z').split_once('.') {
        assert!(
            (1..=6).contains(&fraction.len()) && fraction.bytes().all(|b| b.is_ascii_digit()),
            "{what} has at most 6 fractional digits: {s}"
        );
    }
}

/// A timestamp as an instant.
pub fn instant(value: &Value) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(value.as_str().expect("a timestamp"))
        .expect("an RFC 3339 timestamp")
        .with_timezone(&chrono::Utc)
}

/// Asserts a Task has exactly the contract's keys with well-formed values.
pub fn assert_task_shape(task: &Value) {
    let object = task
        .as_object()
        .unwrap_or_else(|| panic!("a task object: {task}"));
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    let mut expected = TASK_KEYS.to_vec();
    expected.sort_unstable();
    assert_eq!(keys, expected, "Task keys: {task}");
    assert_uuid(&task["id"], "id");
    let owner = task["owner_id"].as_str().expect("owner_id");
    assert_eq!(owner, owner.to_lowercase(), "owner_id is lower-case");
    assert!(uuid::Uuid::parse_str(owner).is_ok(), "owner_id is a UUID");
    assert!(task["title"].is_string(), "title: {task}");
    assert!(
        task["description"].is_string() || task["description"].is_null(),
        "description: {task}"
    );
    let status = task["status"].as_str().expect("status");
    assert!(
        ["todo", "in_progress", "done"].contains(&status),
        "status: {task}"
    );
    assert_eq!(
        task["completed"],
        json!(status == "done"),
        "completed is status == done: {task}"
    );
    assert!(
        ["low", "medium", "high"].contains(&task["priority"].as_str().expect("priority")),
        "priority: {task}"
    );
    for key in ["created_at", "updated_at"] {
        assert_timestamp(&task[key], key);
    }
    for key in ["due_date", "completed_at"] {
        if !task[key].is_null() {
            assert_timestamp(&task[key], key);
        }
    }
    assert_eq!(
        task["completed_at"].is_null(),
        status != "done",
        "completed_at is set exactly when done: {task}"
    );
    assert!(
        task["version"].as_i64().is_some_and(|v| v >= 1),
        "version: {task}"
    );
}
