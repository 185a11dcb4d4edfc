//! Black-box tests of safe retries (`Idempotency-Key`) and of the change log's three
//! readers: the incremental feed (`/api/v1/tasks/changes`), a task's history
//! (`/api/v1/tasks/{id}/history`) and the live events (`/api/v1/tasks/events`).
//! Every test starts its own server against a fresh database.
//!
//! On PostgreSQL a reader sees a change once every transaction that began before it
//! has ended (anywhere on the cluster), so a change may reach a reader a moment after
//! its write answered: assertions about "what arrives" poll for a while instead of
//! reading once.

mod events;
mod feed;
mod history;
mod idempotency;
mod races;
mod two_instances;

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::{Method, Response};
use serde_json::{Value, json};
use taskforge_tests::{TestApp, json_of};

/// The collection route.
pub const TASKS: &str = "/api/v1/tasks";
/// The change feed.
pub const CHANGES: &str = "/api/v1/tasks/changes";
/// The live event stream.
pub const EVENTS: &str = "/api/v1/tasks/events";
/// The header that marks a replayed answer.
pub const REPLAYED: &str = "idempotent-replayed";
/// The header of a safe retry.
pub const KEY: &str = "Idempotency-Key";

/// How long a change may take to reach a reader before a test gives up.
pub const ARRIVAL: Duration = Duration::from_secs(20);

/// The canonical route of one task.
pub fn task_path(id: &str) -> String {
    format!("{TASKS}/{id}")
}

/// The id of a task (or tombstone) body.
pub fn id_of(task: &Value) -> String {
    task["id"].as_str().expect("an id").to_owned()
}

/// A request with an optional bearer token, JSON body and `Idempotency-Key`.
pub async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<&Value>,
    key: Option<&str>,
) -> Response {
    let mut req = app.request(method, path).bearer_auth(token);
    if let Some(body) = body {
        req = req.json(body);
    }
    if let Some(key) = key {
        req = req.header(KEY, key);
    }
    req.send().await.expect("request sent")
}

/// A response taken apart: status, the headers a retry must reproduce, and the body.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// `Location`, if any.
    pub location: Option<String>,
    /// `ETag`, if any.
    pub etag: Option<String>,
    /// Whether `Idempotent-Replayed: true` was sent.
    pub replayed: bool,
    /// The JSON body (`Null` when empty).
    pub body: Value,
}

/// Reads a response into an [`Answer`].
pub async fn answer(res: Response) -> Answer {
    let header = |name: &str| {
        res.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let location = header("location");
    let etag = header("etag");
    let replayed = match header(REPLAYED) {
        None => false,
        Some(value) => {
            assert_eq!(value, "true", "{REPLAYED} is true when present");
            true
        }
    };
    let (status, body) = json_of(res).await;
    Answer {
        status,
        location,
        etag,
        replayed,
        body,
    }
}

/// [`send`], read into an [`Answer`].
pub async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<&Value>,
    key: Option<&str>,
) -> Answer {
    answer(send(app, method, path, token, body, key).await).await
}

/// `POST /api/v1/tasks` as `token`; asserts 201 and returns the task.
pub async fn create(app: &TestApp, token: &str, body: Value) -> Value {
    let got = call(app, Method::POST, TASKS, token, Some(&body), None).await;
    assert_eq!(got.status, 201, "create {body}: {}", got.body);
    got.body
}

/// Creates a task with only a title.
pub async fn create_titled(app: &TestApp, token: &str, title: &str) -> Value {
    create(app, token, json!({ "title": title })).await
}

/// `method path` with a JSON body (or none) as `token`; asserts 200 and returns the task.
pub async fn write(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<&Value>,
) -> Value {
    let got = call(app, method.clone(), path, token, body, None).await;
    assert_eq!(got.status, 200, "{method} {path} {body:?}: {}", got.body);
    got.body
}

/// `PATCH /api/v1/tasks/{id}` as `token`; asserts 200 and returns the task.
pub async fn patch(app: &TestApp, token: &str, id: &str, body: Value) -> Value {
    write(app, Method::PATCH, &task_path(id), token, Some(&body)).await
}

/// `PATCH /api/v1/tasks/{id}/complete` as `token`; asserts 200 and returns the task.
pub async fn toggle(app: &TestApp, token: &str, id: &str) -> Value {
    let path = format!("{}/complete", task_path(id));
    write(app, Method::PATCH, &path, token, None).await
}

/// `DELETE /api/v1/tasks/{id}` as `token`; asserts 204.
pub async fn delete(app: &TestApp, token: &str, id: &str) {
    let got = call(app, Method::DELETE, &task_path(id), token, None, None).await;
    assert_eq!(got.status, 204, "delete {id}: {}", got.body);
}

/// Every task `token` sees through `GET /api/v1/tasks` (all pages), by id.
pub async fn all_tasks(app: &TestApp, token: &str) -> BTreeMap<String, Value> {
    let mut tasks = BTreeMap::new();
    let mut offset = 0;
    loop {
        let url = format!("{TASKS}?limit=100&offset={offset}&sort=created_at");
        let (status, page) = json_of(app.get_auth(&url, token).await).await;
        assert_eq!(status, 200, "GET {url}: {page}");
        let items = page["items"].as_array().expect("items").clone();
        let total = page["total"].as_u64().expect("total");
        if items.is_empty() {
            return tasks;
        }
        offset += items.len();
        for task in items {
            tasks.insert(id_of(&task), task);
        }
        if offset as u64 >= total {
            return tasks;
        }
    }
}

/// Whether a feed item is a tombstone: exactly `{"id": …, "deleted": true}`.
pub fn is_tombstone(item: &Value) -> bool {
    item.get("deleted").is_some()
}

/// Asserts a feed item is a well-formed tombstone or Task.
pub fn assert_item_shape(item: &Value) {
    let object = item
        .as_object()
        .unwrap_or_else(|| panic!("an object: {item}"));
    if is_tombstone(item) {
        let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["deleted", "id"], "tombstone keys: {item}");
        assert_eq!(item["deleted"], json!(true), "tombstone: {item}");
        assert!(
            uuid::Uuid::parse_str(item["id"].as_str().unwrap_or_default()).is_ok(),
            "tombstone id: {item}"
        );
    } else {
        for key in [
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
        ] {
            assert!(object.contains_key(key), "Task key {key}: {item}");
        }
        assert_eq!(object.len(), 12, "Task keys: {item}");
    }
}

/// One page of the feed: `GET /api/v1/tasks/changes?since=&limit=`; asserts 200 and
/// the page's shape.
pub async fn feed_page(
    app: &TestApp,
    token: &str,
    since: Option<&str>,
    limit: Option<u64>,
) -> (Vec<Value>, String, bool) {
    let mut pairs = Vec::new();
    if let Some(since) = since {
        pairs.push(format!("since={}", encode(since)));
    }
    if let Some(limit) = limit {
        pairs.push(format!("limit={limit}"));
    }
    let url = if pairs.is_empty() {
        CHANGES.to_owned()
    } else {
        format!("{CHANGES}?{}", pairs.join("&"))
    };
    let (status, page) = json_of(app.get_auth(&url, token).await).await;
    assert_eq!(status, 200, "GET {url}: {page}");
    let object = page.as_object().expect("a feed object");
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["has_more", "items", "next_cursor"],
        "feed keys: {page}"
    );
    let items = page["items"].as_array().expect("items").clone();
    if let Some(limit) = limit {
        assert!(items.len() as u64 <= limit, "at most {limit} items: {page}");
    }
    let mut ids: Vec<String> = items.iter().map(id_of).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), items.len(), "each task once per page: {page}");
    for item in &items {
        assert_item_shape(item);
    }
    let next = page["next_cursor"]
        .as_str()
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| panic!("a next_cursor: {page}"))
        .to_owned();
    let has_more = page["has_more"].as_bool().expect("has_more");
    (items, next, has_more)
}

/// Follows the feed from `since` until `has_more` is false: every item, in order, and
/// the cursor to continue from.
pub async fn feed_all(
    app: &TestApp,
    token: &str,
    since: Option<&str>,
    limit: Option<u64>,
) -> (Vec<Value>, String) {
    let mut items = Vec::new();
    let mut cursor = since.map(str::to_owned);
    for _ in 0..10_000 {
        let (page, next, has_more) = feed_page(app, token, cursor.as_deref(), limit).await;
        items.extend(page);
        cursor = Some(next);
        if !has_more {
            return (items, cursor.unwrap_or_default());
        }
    }
    panic!("the feed never ended");
}

/// Reads the feed after `since` (all pages) again and again until `done` holds for
/// its items, for at most [`ARRIVAL`]; those items and the cursor after them.
pub async fn feed_until(
    app: &TestApp,
    token: &str,
    since: Option<&str>,
    limit: Option<u64>,
    done: impl Fn(&[Value]) -> bool,
) -> (Vec<Value>, String) {
    let deadline = tokio::time::Instant::now() + ARRIVAL;
    loop {
        let (items, cursor) = feed_all(app, token, since, limit).await;
        if done(&items) {
            return (items, cursor);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the feed after {since:?} never got there; last read: {items:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Applies feed items to a client's copy: a task replaces its id's entry, a tombstone
/// removes it.
pub fn apply(copy: &mut BTreeMap<String, Value>, items: &[Value]) {
    for item in items {
        if is_tombstone(item) {
            copy.remove(&id_of(item));
        } else {
            copy.insert(id_of(item), item.clone());
        }
    }
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

/// The `field`s of a 422 problem body.
pub fn fields_of(body: &Value) -> Vec<String> {
    taskforge_tests::error_fields(body)
}

/// A tiny seeded PRNG (xorshift64*): the same seed, the same run.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (any value; 0 is moved off the fixed point).
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }

    /// One of `items`.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// One frame of a server-sent event stream.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Frame {
    /// `id:`.
    pub id: Option<String>,
    /// `event:`.
    pub event: Option<String>,
    /// `data:` (lines joined by `\n`).
    pub data: Option<String>,
    /// `retry:`.
    pub retry: Option<String>,
    /// Comment lines (`: …`), without the colon.
    pub comments: Vec<String>,
}

impl Frame {
    /// The data as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(self.data.as_deref().unwrap_or_default())
            .unwrap_or_else(|err| panic!("data is JSON ({err}): {self:?}"))
    }

    /// Whether this is an event (it has data).
    pub fn is_event(&self) -> bool {
        self.data.is_some()
    }

    fn parse(raw: &str) -> Self {
        let mut frame = Frame::default();
        for line in raw.split('\n') {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if let Some(comment) = line.strip_prefix(':') {
                frame.comments.push(comment.trim().to_owned());
                continue;
            }
            let (name, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value).to_owned();
            match name {
                "id" => frame.id = Some(value),
                "event" => frame.event = Some(value),
                "retry" => frame.retry = Some(value),
                "data" => {
                    frame.data = Some(match frame.data.take() {
                        Some(before) => format!("{before}\n{value}"),
                        None => value,
                    });
                }
                other => panic!("unknown SSE field {other:?} in {raw:?}"),
            }
        }
        frame
    }
}

/// What waiting on a stream gave.
#[derive(Debug)]
pub enum Next {
    /// A frame.
    Frame(Frame),
    /// The server ended the stream.
    End,
    /// Nothing came in time.
    Quiet,
}

/// A live event stream, read chunk by chunk and cut into frames by hand.
pub struct Sse {
    res: Response,
    buffer: String,
    ended: bool,
}

/// `GET /api/v1/tasks/events` as `token` (with `Last-Event-ID` when given): the raw
/// response, for its status.
pub async fn subscribe_raw(app: &TestApp, token: &str, last_event_id: Option<&str>) -> Response {
    let mut req = app.request(Method::GET, EVENTS).bearer_auth(token);
    if let Some(id) = last_event_id {
        req = req.header("Last-Event-ID", id);
    }
    req.send().await.expect("request sent")
}

/// Subscribes; asserts a 200 `text/event-stream` that starts with `retry:`.
pub async fn subscribe(app: &TestApp, token: &str, last_event_id: Option<&str>) -> Sse {
    Sse::from_response(subscribe_raw(app, token, last_event_id).await).await
}

impl Sse {
    /// The stream of a subscription's response; asserts a 200 `text/event-stream`
    /// that starts with `retry:`.
    pub async fn from_response(res: Response) -> Sse {
        assert_eq!(res.status().as_u16(), 200, "subscribe");
        let content_type = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(
            content_type.starts_with("text/event-stream"),
            "content type {content_type}"
        );
        let mut sse = Sse {
            res,
            buffer: String::new(),
            ended: false,
        };
        match sse.next_frame(ARRIVAL).await {
            Next::Frame(first) => assert_eq!(
                first.retry.as_deref(),
                Some("1000"),
                "the stream opens with retry: {first:?}"
            ),
            other => panic!("the stream opens with a frame, got {other:?}"),
        }
        sse
    }
}

impl Sse {
    /// The next frame within `wait`.
    pub async fn next_frame(&mut self, wait: Duration) -> Next {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let raw: String = self.buffer.drain(..end + 2).collect();
                return Next::Frame(Frame::parse(raw.trim_end_matches('\n')));
            }
            if self.ended {
                return Next::End;
            }
            match tokio::time::timeout_at(deadline, self.res.chunk()).await {
                Err(_) => return Next::Quiet,
                Ok(Ok(Some(chunk))) => self
                    .buffer
                    .push_str(std::str::from_utf8(&chunk).expect("UTF-8 frames")),
                // The body ended (or the connection with it).
                Ok(Ok(None) | Err(_)) => self.ended = true,
            }
        }
    }

    /// The next event (heartbeats skipped) within `wait`, or what came instead.
    pub async fn next_event_within(&mut self, wait: Duration) -> Next {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_frame(left).await {
                Next::Frame(frame) if !frame.is_event() => {}
                other => return other,
            }
        }
    }

    /// The next event; panics unless one comes within [`ARRIVAL`].
    pub async fn next_event(&mut self) -> Frame {
        match self.next_event_within(ARRIVAL).await {
            Next::Frame(frame) => {
                assert!(
                    frame.id.as_deref().is_some_and(|id| !id.is_empty()),
                    "an event has an id: {frame:?}"
                );
                frame
            }
            other => panic!("expected an event, got {other:?}"),
        }
    }

    /// Asserts that no event comes within `wait`.
    pub async fn expect_no_event(&mut self, wait: Duration) {
        match self.next_event_within(wait).await {
            Next::Quiet => {}
            Next::End => panic!("the stream ended"),
            Next::Frame(frame) => panic!("unexpected event: {frame:?}"),
        }
    }

    /// Waits for the end of the stream (heartbeats allowed) for at most `wait`.
    pub async fn ends_within(&mut self, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_frame(left).await {
                Next::End => return true,
                Next::Quiet => return false,
                Next::Frame(frame) => assert!(
                    !frame.is_event(),
                    "no event expected while waiting for the end: {frame:?}"
                ),
            }
        }
    }
}

/// Asserts an event: its name and its data.
pub fn assert_event(frame: &Frame, name: &str, data: &Value) {
    assert_eq!(frame.event.as_deref(), Some(name), "event name: {frame:?}");
    assert_eq!(&frame.json(), data, "event data: {frame:?}");
}

/// The tombstone of task `id`.
pub fn tombstone(id: &str) -> Value {
    json!({"id": id, "deleted": true})
}

/// A timestamp as an instant.
pub fn instant(value: &Value) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(value.as_str().expect("a timestamp"))
        .expect("an RFC 3339 timestamp")
        .with_timezone(&chrono::Utc)
}
