//! Tasks, under three path forms served by the same handlers: `/api/v1/tasks…`,
//! the user-scoped `/api/v1/users/{user_id}/tasks…`, and the deprecated
//! `/api/{user_id}/tasks…`. A `{user_id}` in the path fixes the owner.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use taskforge_domain::page::PageRequest;
use taskforge_domain::task::{
    Priority, Task, TaskDraft, TaskFilter, TaskPatch, TaskScope, TaskSort, TaskStatus,
};
use uuid::Uuid;

use crate::dto::page::PageResponse;
use crate::dto::task::{PatchTaskBody, TaskBody, TaskResponse};
use crate::error::{ApiError, ErrorCode};
use crate::extract::{Authenticated, JsonBody, QueryParams, if_match};
use crate::routes::created;
use crate::state::AppState;

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

/// The canonical URL of a task.
fn location(task: &Task) -> String {
    format!("/api/v1/tasks/{}", task.id)
}

/// 200 with the task and its `ETag`.
fn task_ok(task: Task) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::ETAG, format!("\"{}\"", task.version)))
        .json(TaskResponse::from(task))
}

/// `GET …/tasks`: a page of visible tasks, filtered and sorted.
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
    let page = query.check(PageRequest::new(limit, offset));
    query.finish()?;
    let page = state
        .tasks
        .list(&me, scope, filter, sort, page.unwrap_or_default())
        .await?;
    Ok(HttpResponse::Ok().json(PageResponse::from_page(page, TaskResponse::from)))
}

/// `POST …/tasks`: 201 + `Location` + `ETag`.
pub async fn create_task(
    req: HttpRequest,
    state: web::Data<AppState>,
    Authenticated(me): Authenticated,
    body: JsonBody<TaskBody>,
) -> Result<HttpResponse, ApiError> {
    let scope = scope_of(&req)?;
    let draft = TaskDraft::try_from(body.0)?;
    let task = state.tasks.create(&me, scope, draft).await?;
    let mut res = created(&location(&task), &TaskResponse::from(task.clone()));
    if let Ok(etag) = header::HeaderValue::from_str(&format!("\"{}\"", task.version)) {
        res.headers_mut().insert(header::ETAG, etag);
    }
    Ok(res)
}

/// `GET …/tasks/{id}`.
pub async fn get_task(
    req: HttpRequest,
    state: web::Data<AppState>,
    Authenticated(me): Authenticated,
) -> Result<HttpResponse, ApiError> {
    let task = state
        .tasks
        .get(&me, scope_of(&req)?, task_id(&req)?)
        .await?;
    Ok(task_ok(task))
}

/// `PUT …/tasks/{id}`: full replace, honouring `If-Match`.
pub async fn replace_task(
    req: HttpRequest,
    state: web::Data<AppState>,
    Authenticated(me): Authenticated,
    body: JsonBody<TaskBody>,
) -> Result<HttpResponse, ApiError> {
    let (scope, id) = (scope_of(&req)?, task_id(&req)?);
    let draft = TaskDraft::try_from(body.0)?;
    let task = state
        .tasks
        .replace(&me, scope, id, if_match(&req), draft)
        .await?;
    Ok(task_ok(task))
}

/// `PATCH …/tasks/{id}`: partial update, honouring `If-Match`.
pub async fn patch_task(
    req: HttpRequest,
    state: web::Data<AppState>,
    Authenticated(me): Authenticated,
    body: JsonBody<PatchTaskBody>,
) -> Result<HttpResponse, ApiError> {
    let (scope, id) = (scope_of(&req)?, task_id(&req)?);
    let patch = TaskPatch::try_from(body.0)?;
    let task = state
        .tasks
        .patch(&me, scope, id, if_match(&req), patch)
        .await?;
    Ok(task_ok(task))
}

/// `PATCH …/tasks/{id}/complete`: done ↔ todo, honouring `If-Match`.
pub async fn toggle_task(
    req: HttpRequest,
    state: web::Data<AppState>,
    Authenticated(me): Authenticated,
) -> Result<HttpResponse, ApiError> {
    let (scope, id) = (scope_of(&req)?, task_id(&req)?);
    let task = state
        .tasks
        .toggle_complete(&me, scope, id, if_match(&req))
        .await?;
    Ok(task_ok(task))
}

/// `DELETE …/tasks/{id}`: 204, honouring `If-Match`.
pub async fn delete_task(
    req: HttpRequest,
    state: web::Data<AppState>,
    Authenticated(me): Authenticated,
) -> Result<HttpResponse, ApiError> {
    let (scope, id) = (scope_of(&req)?, task_id(&req)?);
    state.tasks.delete(&me, scope, id, if_match(&req)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The three path forms of the task routes.
const PREFIXES: [&str; 3] = [
    "/api/v1/tasks",
    "/api/v1/users/{user_id}/tasks",
    "/api/{user_id}/tasks",
];

/// Registers every task route under every path form.
pub fn configure(cfg: &mut web::ServiceConfig) {
    for prefix in PREFIXES {
        cfg.service(
            web::resource(prefix)
                .route(web::get().to(list_tasks))
                .route(web::post().to(create_task)),
        )
        .service(
            web::resource(format!("{prefix}/{{id}}"))
                .route(web::get().to(get_task))
                .route(web::put().to(replace_task))
                .route(web::patch().to(patch_task))
                .route(web::delete().to(delete_task)),
        )
        .service(
            web::resource(format!("{prefix}/{{id}}/complete")).route(web::patch().to(toggle_task)),
        );
    }
}
