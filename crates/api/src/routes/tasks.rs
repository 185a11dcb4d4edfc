//! Tasks, under three path forms served by the same handlers: `/api/v1/tasks…`,
//! the user-scoped `/api/v1/users/{user_id}/tasks…`, and the deprecated
//! `/api/{user_id}/tasks…`. A `{user_id}` in the path fixes the owner.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use taskforge_domain::page::ListRequest;
use taskforge_domain::task::{
    Priority, Task, TaskDraft, TaskFilter, TaskPatch, TaskScope, TaskSort, TaskStatus, Written,
};
use uuid::Uuid;

use chrono::{DateTime, Utc};
use utoipa::IntoParams;

use crate::dto::enums::{PriorityDto, StatusDto};
use crate::dto::page::TaskPage;
use crate::dto::task::{PatchTaskBody, TaskBody, TaskResponse};
use crate::error::{ApiError, ErrorCode};
use crate::extract::{Authenticated, Keyed, QueryParams, idempotency, if_match};
use crate::middleware::deadline::bounded;
use crate::routes::{changes, created, events};
use crate::state::AppState;
use actix_web::dev::HttpServiceFactory;

/// A path segment that must be a UUID; anything else cannot exist (404).
fn path_uuid(req: &HttpRequest, name: &str) -> Result<Option<Uuid>, ApiError> {
    match req.match_info().get(name) {
        None => Ok(None),
        Some(raw) => Uuid::parse_str(raw).map(Some).map_err(|_| {
            ApiError::new(
                ErrorCode::NotFound,
                format!("nothing exists at {}", req.path()),
            )
        }),
    }
}

fn scope_of(req: &HttpRequest) -> Result<TaskScope, ApiError> {
    Ok(match path_uuid(req, "user_id")? {
        Some(user_id) => TaskScope::OwnedBy(user_id),
        None => TaskScope::Visible,
    })
}

fn task_id(req: &HttpRequest) -> Result<Uuid, ApiError> {
    path_uuid(req, "id")?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "no task id in the path"))
}

fn target(req: &HttpRequest) -> Result<(TaskScope, Uuid), ApiError> {
    Ok((scope_of(req)?, task_id(req)?))
}

/// The canonical URL of a task.
fn location(task: &Task) -> String {
    format!("/api/v1/tasks/{}", task.id)
}

/// The header that marks the answer to a repeated `Idempotency-Key`.
pub const REPLAYED: header::HeaderName = header::HeaderName::from_static("idempotent-replayed");

/// Marks `res` as the stored answer of an earlier request with the same key.
fn mark_replayed<T>(mut res: HttpResponse, written: &Written<T>) -> HttpResponse {
    if written.replayed {
        res.headers_mut()
            .insert(REPLAYED, header::HeaderValue::from_static("true"));
    }
    res
}

/// 200 with the task and its `ETag` (and `Idempotent-Replayed` for a repeat).
fn task_ok(written: Written<Task>) -> HttpResponse {
    let res = HttpResponse::Ok()
        .insert_header((header::ETAG, format!("\"{}\"", written.value.version)))
        .json(TaskResponse::from(written.value.clone()));
    mark_replayed(res, &written)
}

/// Query parameters of the task list.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct TaskListParams {
    /// Only tasks in this status.
    status: Option<StatusDto>,
    /// Only completed (`true`) or open (`false`) tasks.
    completed: Option<bool>,
    /// Only tasks of this priority.
    priority: Option<PriorityDto>,
    /// Literal, case-insensitive substring of title or description (`%` and `_` are not wildcards).
    q: Option<String>,
    /// Only tasks due strictly before this instant (RFC 3339).
    due_before: Option<DateTime<Utc>>,
    /// Only tasks due strictly after this instant (RFC 3339).
    due_after: Option<DateTime<Utc>>,
    /// Admins: only this owner's tasks. Others: only their own id is allowed (else 403).
    owner_id: Option<Uuid>,
    /// `created_at`, `updated_at`, `due_date`, `priority` (by rank) or `title`, `-` prefix for
    /// descending; ties by id in the same direction; tasks without due date last.
    #[param(
        pattern = "^-?(created_at|updated_at|due_date|priority|title)$",
        default = "-created_at"
    )]
    sort: Option<String>,
    /// Page size, 1–100.
    #[param(minimum = 1, maximum = 100, default = 20)]
    limit: Option<u64>,
    /// Items to skip (not together with `cursor`).
    #[param(minimum = 0, maximum = 9223372036854775807_i64, default = 0)]
    offset: Option<u64>,
    /// The `next_cursor` of the previous page, with the same filters and sort: the page
    /// after it, however rows were added or removed since (not together with `offset`;
    /// a cursor of another sort or filter → 422).
    cursor: Option<String>,
}

/// `GET …/tasks`: a page of visible tasks, filtered and sorted.
#[utoipa::path(get, path = "/api/v1/tasks", tag = "tasks", operation_id = "list_tasks",
    params(TaskListParams),
    responses(
        (status = 200, description = "A page of tasks", body = TaskPage),
        (status = 403, description = "A non-admin asked for another owner's tasks"),
    ), security(("bearer" = []), ("oauth2" = [])))]
pub async fn list_tasks(
    req: HttpRequest,
    state: web::Data<AppState>,
    Authenticated(me): Authenticated,
    mut query: QueryParams,
) -> Result<HttpResponse, ApiError> {
    let scope = scope_of(&req)?;
    let filter = TaskFilter {
        owner_id: query.uuid("owner_id"),
        status: query.domain("status", TaskStatus::parse),
        completed: query.bool("completed"),
        priority: query.domain("priority", Priority::parse),
        q: query.text("q"),
        due_before: query.datetime("due_before"),
        due_after: query.datetime("due_after"),
    };
    let sort = query.domain("sort", TaskSort::parse).unwrap_or_default();
    let (limit, offset) = (query.u64("limit"), query.u64("offset"));
    let cursor = query.text("cursor");
    let request = query.check(ListRequest::new(limit, offset, cursor));
    query.finish()?;
    let page = state
        .tasks
        .list(&me, scope, filter, sort, &request.unwrap_or_default())
        .await?;
    Ok(HttpResponse::Ok().json(TaskPage::from_keyset(page, TaskResponse::from)))
}

/// `POST …/tasks`: 201 + `Location` + `ETag`.
#[utoipa::path(post, path = "/api/v1/tasks", tag = "tasks", operation_id = "create_task",
    request_body = TaskBody,
    responses(
        (status = 201, description = "Created", body = TaskResponse,
            headers(("Location" = String, description = "URL of the new task"), ("ETag" = String, description = "`\"1\"`"))),
        (status = 403, description = "`owner_id` of another user from a non-admin"),
    ), security(("bearer" = []), ("oauth2" = [])))]
pub async fn create_task(
    req: HttpRequest,
    state: web::Data<AppState>,
    Authenticated(me): Authenticated,
    body: Keyed<TaskBody>,
) -> Result<HttpResponse, ApiError> {
    let scope = scope_of(&req)?;
    let draft = TaskDraft::try_from(body.body)?;
    let written = state
        .tasks
        .create(&me, scope, draft, body.once.as_ref())
        .await?;
    let task = &written.value;
    let mut res = created(&location(task), &TaskResponse::from(task.clone()));
    if let Ok(etag) = header::HeaderValue::from_str(&format!("\"{}\"", task.version)) {
        res.headers_mut().insert(header::ETAG, etag);
    }
    Ok(mark_replayed(res, &written))
}

/// `GET …/tasks/{id}`.
#[utoipa::path(get, path = "/api/v1/tasks/{id}", tag = "tasks", operation_id = "get_task", params(("id" = Uuid, Path, description = "Task id")),
    responses(
        (status = 200, description = "The task", body = TaskResponse, headers(("ETag" = String, description = "`\"<version>\"`"))),
        (status = 404, description = "No such task, or not yours"),
    ), security(("bearer" = []), ("oauth2" = [])))]
pub async fn get_task(
    req: HttpRequest,
    state: web::Data<AppState>,
    Authenticated(me): Authenticated,
) -> Result<HttpResponse, ApiError> {
    let (scope, id) = target(&req)?;
    let task = state.tasks.get(&me, scope, id).await?;
    Ok(task_ok(Written {
        value: task,
        replayed: false,
    }))
}

/// `PUT …/tasks/{id}`: full replace, honouring `If-Match`.
#[utoipa::path(put, path = "/api/v1/tasks/{id}", tag = "tasks", operation_id = "replace_task", params(("id" = Uuid, Path, description = "Task id"), ("If-Match" = Option<String>, Header, nullable = false, description = "`\"<version>\"`, `W/\"<version>\"` or `*`; a stale value gets 412 and changes nothing")),
    request_body = TaskBody,
    responses(
        (status = 200, description = "Updated", body = TaskResponse, headers(("ETag" = String, description = "`\"<version>\"`"))),
        (status = 403, description = "Reassignment to another user by a non-admin"),
        (status = 404, description = "No such task, or not yours"),
        (status = 409, description = "Too many concurrent writers; retry"),
        (status = 412, description = "`If-Match` does not match the current version; nothing changed"),
    ), security(("bearer" = []), ("oauth2" = [])))]
pub async fn replace_task(
    req: HttpRequest,
    state: web::Data<AppState>,
    Authenticated(me): Authenticated,
    body: Result<Keyed<TaskBody>, ApiError>,
) -> Result<HttpResponse, ApiError> {
    let (scope, id) = target(&req)?;
    let body = body?;
    let draft = TaskDraft::try_from(body.body)?;
    let written = state
        .tasks
        .replace(&me, scope, id, if_match(&req), draft, body.once.as_ref())
        .await?;
    Ok(task_ok(written))
}

/// `PATCH …/tasks/{id}`: partial update, honouring `If-Match`.
#[utoipa::path(patch, path = "/api/v1/tasks/{id}", tag = "tasks", operation_id = "patch_task", params(("id" = Uuid, Path, description = "Task id"), ("If-Match" = Option<String>, Header, nullable = false, description = "`\"<version>\"`, `W/\"<version>\"` or `*`; a stale value gets 412 and changes nothing")),
    request_body = PatchTaskBody,
    responses(
        (status = 200, description = "Updated", body = TaskResponse, headers(("ETag" = String, description = "`\"<version>\"`"))),
        (status = 403, description = "Reassignment to another user by a non-admin"),
        (status = 404, description = "No such task, or not yours"),
        (status = 409, description = "Too many concurrent writers; retry"),
        (status = 412, description = "`If-Match` does not match the current version; nothing changed"),
    ), security(("bearer" = []), ("oauth2" = [])))]
pub async fn patch_task(
    req: HttpRequest,
    state: web::Data<AppState>,
    Authenticated(me): Authenticated,
    body: Result<Keyed<PatchTaskBody>, ApiError>,
) -> Result<HttpResponse, ApiError> {
    let (scope, id) = target(&req)?;
    let body = body?;
    let patch = TaskPatch::try_from(body.body)?;
    let written = state
        .tasks
        .patch(&me, scope, id, if_match(&req), patch, body.once.as_ref())
        .await?;
    Ok(task_ok(written))
}

/// `PATCH …/tasks/{id}/complete`: done ↔ todo, honouring `If-Match`.
#[utoipa::path(patch, path = "/api/v1/tasks/{id}/complete", tag = "tasks", operation_id = "toggle_task", params(("id" = Uuid, Path, description = "Task id"), ("If-Match" = Option<String>, Header, nullable = false, description = "`\"<version>\"`, `W/\"<version>\"` or `*`; a stale value gets 412 and changes nothing")),
    responses(
        (status = 200, description = "Toggled: done → todo, anything else → done", body = TaskResponse, headers(("ETag" = String, description = "`\"<version>\"`"))),
        (status = 404, description = "No such task, or not yours"),
        (status = 409, description = "Too many concurrent writers; retry"),
        (status = 412, description = "`If-Match` does not match the current version; nothing changed"),
    ), security(("bearer" = []), ("oauth2" = [])))]
pub async fn toggle_task(
    req: HttpRequest,
    state: web::Data<AppState>,
    Authenticated(me): Authenticated,
) -> Result<HttpResponse, ApiError> {
    let (scope, id) = target(&req)?;
    let once = idempotency(&req)?;
    let written = state
        .tasks
        .toggle_complete(&me, scope, id, if_match(&req), once.as_ref())
        .await?;
    Ok(task_ok(written))
}

/// `DELETE …/tasks/{id}`: 204, honouring `If-Match`.
#[utoipa::path(delete, path = "/api/v1/tasks/{id}", tag = "tasks", operation_id = "delete_task", params(("id" = Uuid, Path, description = "Task id"), ("If-Match" = Option<String>, Header, nullable = false, description = "`\"<version>\"`, `W/\"<version>\"` or `*`; a stale value gets 412 and changes nothing")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such task, or not yours"),
        (status = 412, description = "`If-Match` does not match the current version; nothing changed"),
    ), security(("bearer" = []), ("oauth2" = [])))]
pub async fn delete_task(
    req: HttpRequest,
    state: web::Data<AppState>,
    Authenticated(me): Authenticated,
) -> Result<HttpResponse, ApiError> {
    let (scope, id) = target(&req)?;
    let once = idempotency(&req)?;
    let written = state
        .tasks
        .delete(&me, scope, id, if_match(&req), once.as_ref())
        .await?;
    Ok(mark_replayed(HttpResponse::NoContent().finish(), &written))
}

/// Registers every task route under each of its three path forms: the canonical
/// `/api/v1/tasks…`, the user-scoped `/api/v1/users/{user_id}/tasks…`, and the
/// deprecated `/api/{user_id}/tasks…`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    // The feed and the event stream before `{id}`, which would take their names for ids.
    cfg.service(collection("/api/v1/tasks"))
        .service(bounded(
            web::resource("/api/v1/tasks/changes").route(web::get().to(changes::task_changes)),
        ))
        .service(bounded(
            web::resource("/api/v1/tasks/events").route(web::get().to(events::task_events)),
        ))
        .service(item("/api/v1/tasks/{id}"))
        .service(bounded(
            web::resource("/api/v1/tasks/{id}/history").route(web::get().to(changes::task_history)),
        ))
        .service(toggle("/api/v1/tasks/{id}/complete"))
        .service(collection("/api/v1/users/{user_id}/tasks"))
        .service(item("/api/v1/users/{user_id}/tasks/{id}"))
        .service(toggle("/api/v1/users/{user_id}/tasks/{id}/complete"))
        .service(collection("/api/{user_id}/tasks"))
        .service(item("/api/{user_id}/tasks/{id}"))
        .service(toggle("/api/{user_id}/tasks/{id}/complete"));
}

/// `GET` (list) and `POST` (create) on a collection path.
fn collection(path: &str) -> impl HttpServiceFactory {
    bounded(
        web::resource(path)
            .route(web::get().to(list_tasks))
            .route(web::post().to(create_task)),
    )
}

/// `GET`, `PUT`, `PATCH` and `DELETE` on one task's path.
fn item(path: &str) -> impl HttpServiceFactory {
    bounded(
        web::resource(path)
            .route(web::get().to(get_task))
            .route(web::put().to(replace_task))
            .route(web::patch().to(patch_task))
            .route(web::delete().to(delete_task)),
    )
}

/// `PATCH` on a task's `…/complete` path.
fn toggle(path: &str) -> impl HttpServiceFactory {
    bounded(web::resource(path).route(web::patch().to(toggle_task)))
}
