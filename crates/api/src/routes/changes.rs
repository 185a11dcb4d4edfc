//! The change feed (`GET /api/v1/tasks/changes`) and a task's history
//! (`GET /api/v1/tasks/{id}/history`).

use actix_web::{HttpRequest, HttpResponse, web};
use taskforge_domain::page::{ListRequest, PageRequest, cursor};
use taskforge_domain::task::{FeedCursor, TaskScope};
use utoipa::IntoParams;
use uuid::Uuid;

use crate::dto::change::{ChangeFeedResponse, TaskChangeResponse};
use crate::dto::page::TaskChangePage;
use crate::error::{ApiError, ErrorCode};
use crate::extract::{Authenticated, QueryParams};
use crate::state::AppState;

/// Query parameters of the change feed.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ChangeFeedParams {
    /// The `next_cursor` of the previous page; without it, every task you see now and
    /// a cursor to continue from.
    since: Option<String>,
    /// At most this many changes per page, 1–500.
    #[param(minimum = 1, maximum = 500, default = 100)]
    limit: Option<u64>,
}

/// `GET /api/v1/tasks/changes`: incremental sync.
#[utoipa::path(get, path = "/api/v1/tasks/changes", tag = "tasks", operation_id = "task_changes",
    params(ChangeFeedParams),
    responses(
        (status = 200, description = "Each task you see that changed after `since`, once, as it is now or as a tombstone `{id, deleted: true}`, in change order", body = ChangeFeedResponse),
        (status = 410, description = "`since` is older than the change log's retention (`CHANGE_LOG_RETENTION_DAYS`), or past its end (made by another or a restored database): sync again without it"),
    ), security(("bearer" = []), ("oauth2" = [])))]
pub async fn task_changes(
    state: web::Data<AppState>,
    Authenticated(me): Authenticated,
    mut query: QueryParams,
) -> Result<HttpResponse, ApiError> {
    let since = query.text("since").map(FeedCursor);
    let limit = query.u64("limit");
    query.finish()?;
    let page = state.tasks.changes(&me, since.as_ref(), limit).await?;
    Ok(HttpResponse::Ok().json(ChangeFeedResponse::from(page)))
}

/// Query parameters of a task's history.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct HistoryParams {
    /// Page size, 1–100.
    #[param(minimum = 1, maximum = 100, default = 20)]
    limit: Option<u64>,
    /// Items to skip (not together with `cursor`).
    #[param(minimum = 0, maximum = 9223372036854775807_i64, default = 0)]
    offset: Option<u64>,
    /// The `next_cursor` of the previous page (not together with `offset`).
    cursor: Option<String>,
}

/// `GET /api/v1/tasks/{id}/history`: the task's changes, oldest first.
#[utoipa::path(get, path = "/api/v1/tasks/{id}/history", tag = "tasks", operation_id = "task_history",
    params(("id" = Uuid, Path, description = "Task id"), HistoryParams),
    responses(
        (status = 200, description = "The task's changes, oldest first: who, when, and each field's `[old, new]` (a deleted task's history stays readable by its owner and admins until the retention ends)", body = TaskChangePage),
        (status = 404, description = "No such task, or not yours"),
    ), security(("bearer" = []), ("oauth2" = [])))]
pub async fn task_history(
    req: HttpRequest,
    state: web::Data<AppState>,
    Authenticated(me): Authenticated,
    mut query: QueryParams,
) -> Result<HttpResponse, ApiError> {
    let id = req
        .match_info()
        .get("id")
        .and_then(|raw| Uuid::parse_str(raw).ok())
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::NotFound,
                format!("nothing exists at {}", req.path()),
            )
        })?;
    let (limit, offset) = (query.u64("limit"), query.u64("offset"));
    let cursor = query.text("cursor");
    let request = query.check(ListRequest::new(limit, offset, cursor));
    query.finish()?;
    let request = request.unwrap_or_default();
    // The history only grows at its end, so its cursor carries the next offset.
    let list = format!("history {id}");
    let page = match request.cursor() {
        Some(raw) => PageRequest::new(
            Some(request.page().limit()),
            Some(cursor::decode_offset(raw, &list)?),
        )?,
        None => request.page(),
    };
    let history = state
        .tasks
        .history(&me, TaskScope::Visible, id, page)
        .await?;
    let next = page.offset().saturating_add(history.items.len() as u64);
    let next_cursor = (next < history.total).then(|| cursor::encode_offset(&list, next));
    Ok(HttpResponse::Ok().json(TaskChangePage::from_page(
        history,
        next_cursor,
        TaskChangeResponse::from,
    )))
}
