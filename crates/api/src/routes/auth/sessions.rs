//! `GET /api/v1/auth/sessions` and `DELETE /api/v1/auth/sessions/{id}`: the caller's
//! own login sessions, and ending one of them.

use actix_web::{HttpRequest, HttpResponse, web};
use taskforge_domain::page::PageRequest;
use uuid::Uuid;

use crate::dto::account::SessionResponse;
use crate::dto::page::SessionPage;
use crate::error::ApiError;
use crate::extract::QueryParams;
use crate::extract::auth::authenticate_session_request;
use crate::state::AppState;

/// `GET /sessions`: the bearer's live sessions, newest first.
#[utoipa::path(get, path = "/api/v1/auth/sessions", tag = "auth", operation_id = "list_sessions",
    params(
        ("limit" = Option<u64>, Query, description = "1–100, default 20"),
        ("offset" = Option<u64>, Query, description = "≥ 0, default 0"),
    ),
    responses(
        (status = 200, description = "The caller's unrevoked, unexpired sessions, newest first; `current` marks the bearer token's", body = SessionPage),
        (status = 401, description = "No valid bearer token"),
    ), security(("bearer" = []), ("oauth2" = [])))]
pub async fn list_sessions(
    req: HttpRequest,
    state: web::Data<AppState>,
    mut query: QueryParams,
) -> Result<HttpResponse, ApiError> {
    let (user, current) = authenticate_session_request(&req).await?;
    let (limit, offset) = (query.u64("limit"), query.u64("offset"));
    let page = query.check(PageRequest::new(limit, offset));
    query.finish()?;
    let page = state.auth.sessions(&user, page.unwrap_or_default()).await?;
    // A person's live sessions are few: offset pages, no cursor.
    Ok(
        HttpResponse::Ok().json(SessionPage::from_page(page, None, |s| {
            SessionResponse::of(s, current)
        })),
    )
}

/// `DELETE /sessions/{id}`: ends one of the caller's sessions and every token issued
/// in it, at once.
#[utoipa::path(delete, path = "/api/v1/auth/sessions/{id}", tag = "auth", operation_id = "delete_session",
    params(("id" = Uuid, Path, description = "Session id")),
    responses(
        (status = 204, description = "Ended; its refresh and access tokens are refused from now on"),
        (status = 401, description = "No valid bearer token"),
        (status = 404, description = "Not a live session of the caller (someone else's, unknown, ended or expired)"),
    ), security(("bearer" = []), ("oauth2" = [])))]
pub async fn delete_session(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let (user, _) = authenticate_session_request(&req).await?;
    state.auth.end_session(&user, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}
