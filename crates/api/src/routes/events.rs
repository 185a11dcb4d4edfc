//! `GET /api/v1/tasks/events`: the changes the caller sees, live, as server-sent
//! events.
//!
//! A stream starts at the end of the change log, or right after the change a client
//! last received (`Last-Event-ID`, which browsers send by themselves when they
//! reconnect): every later change follows in order, each once. A comment line every
//! heartbeat keeps proxies from closing a quiet stream, and each heartbeat checks the
//! caller's session again: a revoked session, a deactivated user or an expired access
//! token ends the stream (the client reconnects with a fresh token and its
//! `Last-Event-ID`). Streams end when the server drains, so a restart loses nothing
//! either. Each user has a few streams at most ([`crate::streams`]).

use std::collections::VecDeque;
use std::time::Duration;

use actix_web::http::header::{self, HeaderValue};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::{StreamExt, stream};
use taskforge_domain::DomainError;
use taskforge_domain::task::{ChangeEvent, ChangeOp, FeedCursor};
use taskforge_domain::user::User;

use crate::dto::change::Tombstone;
use crate::dto::task::TaskResponse;
use crate::error::ApiError;
use crate::extract::Authenticated;
use crate::extract::auth::bearer_token;
use crate::state::AppState;
use crate::streams::StreamPermit;

/// The header a reconnecting client names its last event with.
pub const LAST_EVENT_ID: &str = "Last-Event-ID";

/// How many changes a stream takes at a time.
const BATCH: u64 = 100;
/// How long a stream waits after the change log could not be read.
const RETRY_READ_AFTER: Duration = Duration::from_secs(1);
/// What a client is told to wait before reconnecting (the SSE `retry:` field), in ms.
const RECONNECT_MS: u32 = 1000;
/// The `Last-Event-ID` a client sent, if any (422 when it is not text).
fn last_event_id(req: &HttpRequest) -> Result<Option<FeedCursor>, ApiError> {
    match req.headers().get(LAST_EVENT_ID) {
        None => Ok(None),
        Some(value) => value
            .to_str()
            .ok()
            .filter(|v| !v.trim().is_empty())
            .map(|v| Some(FeedCursor(v.trim().to_owned())))
            .ok_or_else(|| {
                ApiError::from(DomainError::invalid(
                    LAST_EVENT_ID,
                    "is not a cursor of this change log",
                ))
            }),
    }
}

/// One change as an SSE event: `id` its cursor, `event` what it did as the viewer
/// sees it, `data` the task right after it (or its tombstone).
fn event_frame(event: &ChangeEvent, viewer: &User) -> Bytes {
    let (op, task) = event
        .change
        .seen_by((!viewer.is_admin()).then_some(viewer.id));
    let data = match (op, task) {
        (ChangeOp::Deleted, _) | (_, None) => {
            serde_json::to_string(&Tombstone::of(event.change.task_id))
        }
        (_, Some(task)) => serde_json::to_string(&TaskResponse::from(task.clone())),
    }
    .unwrap_or_else(|_| "{}".to_owned());
    let name = match op {
        ChangeOp::Created => "task.created",
        ChangeOp::Updated => "task.updated",
        ChangeOp::Deleted => "task.deleted",
    };
    Bytes::from(format!(
        "id: {}\nevent: {name}\ndata: {data}\n\n",
        event.cursor.0
    ))
}

/// A stream's state between two frames.
struct Follower {
    state: web::Data<AppState>,
    me: User,
    token: String,
    cursor: FeedCursor,
    pending: VecDeque<ChangeEvent>,
    next_heartbeat: tokio::time::Instant,
    permit: StreamPermit,
}

/// What ends or continues a stream.
enum Step {
    Frame(Bytes),
    End,
}

impl Follower {
    /// The next frame, or the end of the stream.
    async fn step(&mut self) -> Step {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Step::Frame(event_frame(&event, &self.me));
            }
            let heartbeat = tokio::time::sleep_until(self.next_heartbeat);
            tokio::select! {
                biased;
                () = self.state.lifecycle.drained() => return Step::End,
                () = heartbeat => {
                    self.next_heartbeat += self.state.streams.settings().heartbeat;
                    match self.state.auth.authenticate(&self.token).await {
                        // Storage unavailable says nothing about the session: go on.
                        Ok(_) | Err(DomainError::Unavailable(_)) => {
                            self.permit.renew().await;
                            return Step::Frame(Bytes::from_static(b": keep-alive\n\n"));
                        }
                        Err(_) => return Step::End,
                    }
                }
                next = self.state.events.next(&self.me, &self.cursor, BATCH) => match next {
                    Ok((events, cursor)) => {
                        self.cursor = cursor;
                        self.pending.extend(events);
                    }
                    Err(DomainError::Unavailable(_) | DomainError::Unexpected(_)) => {
                        tokio::time::sleep(RETRY_READ_AFTER).await;
                    }
                    // The cursor fell out of the log's retention: the client must sync.
                    Err(_) => return Step::End,
                },
            }
        }
    }
}

/// `GET /api/v1/tasks/events`: server-sent events.
#[utoipa::path(get, path = "/api/v1/tasks/events", tag = "tasks", operation_id = "task_events",
    params(("Last-Event-ID" = Option<String>, Header, nullable = false,
        description = "Resume after this event (its `id:`): every later change is sent, in order, none twice")),
    responses(
        (status = 200, description = "`text/event-stream`: one event per change you see — `event: task.created`, `task.updated` or `task.deleted` (also when a task was given to someone else), `id:` the change's cursor, `data:` the task right after the change or the tombstone `{id, deleted: true}`. A comment line every 15 s; the stream ends when the session is revoked, the user deactivated, the access token expires or the server restarts: reconnect with `Last-Event-ID`",
            content_type = "text/event-stream", body = String),
        (status = 410, description = "`Last-Event-ID` is older than the change log's retention, or past its end (made by another or a restored database): sync with `/api/v1/tasks/changes`"),
        (status = 422, description = "`Last-Event-ID` is not a cursor of this server"),
        (status = 429, description = "Too many open streams for this user (5 by default, on every instance together when Redis is configured)",
            headers(("Retry-After" = u32, description = "Seconds to wait"))),
    ), security(("bearer" = []), ("oauth2" = [])))]
pub async fn task_events(
    req: HttpRequest,
    state: web::Data<AppState>,
    Authenticated(me): Authenticated,
) -> Result<HttpResponse, ApiError> {
    let resume = last_event_id(&req)?;
    let token = bearer_token(&req).unwrap_or_default();
    let permit = state.streams.admit(me.id).await?;
    // A resumed stream starts with what the client missed (which also proves the
    // cursor is good before the response starts); a new one at the end of the log.
    let (cursor, pending) = match resume {
        Some(cursor) => {
            let missed = state.tasks.events_after(&me, &cursor, BATCH).await?;
            let cursor = missed.last().map_or(cursor, |e| e.cursor.clone());
            (cursor, missed.into())
        }
        None => (state.tasks.changes_end().await?, VecDeque::new()),
    };
    let heartbeat = state.streams.settings().heartbeat;
    let follower = Follower {
        state: state.clone(),
        me,
        token,
        cursor,
        pending,
        next_heartbeat: tokio::time::Instant::now() + heartbeat,
        permit,
    };
    let opening = Bytes::from(format!("retry: {RECONNECT_MS}\n\n"));
    let frames = stream::once(async move { Ok::<_, actix_web::Error>(opening) }).chain(
        stream::unfold(follower, |mut follower| async move {
            match follower.step().await {
                Step::Frame(frame) => Some((Ok(frame), follower)),
                Step::End => None,
            }
        }),
    );
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/event-stream"))
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-cache")))
        // Proxies that buffer (nginx) pass each event on at once.
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(frames))
}
