//! `/api/v1/users`: the caller's own account (`/me`) and user administration.

use actix_web::{HttpResponse, web};
use taskforge_domain::page::ListRequest;
use taskforge_domain::user::{NewAccount, Role, UserChanges, UserFilter};
use uuid::Uuid;

use utoipa::IntoParams;

use crate::dto::enums::RoleDto;
use crate::dto::page::UserPage;
use crate::dto::user::{CreateUserBody, UpdateMeBody, UpdateUserBody, UserResponse};
use crate::error::ApiError;
use crate::extract::{Authenticated, JsonBody, QueryParams};
use crate::middleware::deadline::bounded;
use crate::routes::created;
use crate::state::AppState;

/// `GET /users/me`.
#[utoipa::path(get, path = "/api/v1/users/me", tag = "users", operation_id = "get_me",
    responses((status = 200, description = "The caller", body = UserResponse)), security(("bearer" = []), ("oauth2" = [])))]
pub async fn get_me(Authenticated(me): Authenticated) -> HttpResponse {
    HttpResponse::Ok().json(UserResponse::from(me))
}

/// `PATCH /users/me`.
#[utoipa::path(patch, path = "/api/v1/users/me", tag = "users", operation_id = "update_me",
    request_body = UpdateMeBody,
    responses(
        (status = 200, description = "Updated", body = UserResponse),
        (status = 403, description = "Email or password change without the right `current_password`"),
        (status = 409, description = "Email or username taken, or the account was changed by another request meanwhile (read it again and retry)"),
    ), security(("bearer" = []), ("oauth2" = [])))]
pub async fn update_me(
    state: web::Data<AppState>,
    Authenticated(me): Authenticated,
    body: JsonBody<UpdateMeBody>,
) -> Result<HttpResponse, ApiError> {
    let (changes, current_password) = <(UserChanges, Option<String>)>::try_from(body.0)?;
    let user = state
        .users
        .update_me(&me, changes, current_password.as_deref())
        .await?;
    Ok(HttpResponse::Ok().json(UserResponse::from(user)))
}

/// `DELETE /users/me`: the account, its tasks and its sessions.
#[utoipa::path(delete, path = "/api/v1/users/me", tag = "users", operation_id = "delete_me",
    responses(
        (status = 204, description = "Deleted with all tasks and sessions"),
        (status = 409, description = "The last active admin cannot be deleted"),
    ), security(("bearer" = []), ("oauth2" = [])))]
pub async fn delete_me(
    state: web::Data<AppState>,
    Authenticated(me): Authenticated,
) -> Result<HttpResponse, ApiError> {
    state.users.delete_me(&me).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Query parameters of the user list.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct UserListParams {
    /// Literal, case-insensitive substring of email or username.
    q: Option<String>,
    /// Only users of this role.
    role: Option<RoleDto>,
    /// Only active or inactive users.
    is_active: Option<bool>,
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

/// `GET /users` (admin): newest first, filtered by `q`, `role`, `is_active`.
#[utoipa::path(get, path = "/api/v1/users", tag = "users", operation_id = "list_users",
    params(UserListParams),
    responses(
        (status = 200, description = "A page of users, newest first", body = UserPage),
        (status = 403, description = "Admins only"),
    ), security(("bearer" = []), ("oauth2" = [])))]
pub async fn list_users(
    state: web::Data<AppState>,
    Authenticated(me): Authenticated,
    mut query: QueryParams,
) -> Result<HttpResponse, ApiError> {
    let filter = UserFilter {
        q: query.text("q"),
        role: query.domain("role", Role::parse),
        is_active: query.bool("is_active"),
    };
    let (limit, offset) = (query.u64("limit"), query.u64("offset"));
    let cursor = query.text("cursor");
    let request = query.check(ListRequest::new(limit, offset, cursor));
    query.finish()?;
    let page = state
        .users
        .list(&me, &filter, &request.unwrap_or_default())
        .await?;
    Ok(HttpResponse::Ok().json(UserPage::from_keyset(page, UserResponse::from)))
}

/// `POST /users` (admin): 201 + `Location`.
#[utoipa::path(post, path = "/api/v1/users", tag = "users", operation_id = "create_user",
    request_body = CreateUserBody,
    responses(
        (status = 201, description = "Created", body = UserResponse, headers(("Location" = String, description = "URL of the new user"))),
        (status = 403, description = "Admins only"),
        (status = 409, description = "Email or username taken"),
    ), security(("bearer" = []), ("oauth2" = [])))]
pub async fn create_user(
    state: web::Data<AppState>,
    Authenticated(me): Authenticated,
    body: JsonBody<CreateUserBody>,
) -> Result<HttpResponse, ApiError> {
    let account = NewAccount::try_from(body.0)?;
    let user = state.users.create(&me, account).await?;
    Ok(created(
        &format!("/api/v1/users/{}", user.id),
        &UserResponse::from(user),
    ))
}

/// `GET /users/{user_id}` (admin).
#[utoipa::path(get, path = "/api/v1/users/{user_id}", tag = "users", operation_id = "get_user", params(("user_id" = Uuid, Path, description = "User id")),
    responses(
        (status = 200, description = "The user", body = UserResponse),
        (status = 403, description = "Admins only"),
        (status = 404, description = "No such user"),
    ), security(("bearer" = []), ("oauth2" = [])))]
pub async fn get_user(
    state: web::Data<AppState>,
    Authenticated(me): Authenticated,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let user = state.users.get(&me, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(UserResponse::from(user)))
}

/// `PATCH /users/{user_id}` (admin).
#[utoipa::path(patch, path = "/api/v1/users/{user_id}", tag = "users", operation_id = "update_user", params(("user_id" = Uuid, Path, description = "User id")),
    request_body = UpdateUserBody,
    responses(
        (status = 200, description = "Updated", body = UserResponse),
        (status = 403, description = "Admins only"),
        (status = 404, description = "No such user"),
        (status = 409, description = "Last active admin, email/username taken, or the account was changed by another request meanwhile (read it again and retry)"),
    ), security(("bearer" = []), ("oauth2" = [])))]
pub async fn update_user(
    state: web::Data<AppState>,
    Authenticated(me): Authenticated,
    path: web::Path<Uuid>,
    body: JsonBody<UpdateUserBody>,
) -> Result<HttpResponse, ApiError> {
    let changes = UserChanges::try_from(body.0)?;
    let user = state.users.update(&me, path.into_inner(), changes).await?;
    Ok(HttpResponse::Ok().json(UserResponse::from(user)))
}

/// `DELETE /users/{user_id}` (admin).
#[utoipa::path(delete, path = "/api/v1/users/{user_id}", tag = "users", operation_id = "delete_user", params(("user_id" = Uuid, Path, description = "User id")),
    responses(
        (status = 204, description = "Deleted with all tasks and sessions"),
        (status = 403, description = "Admins only"),
        (status = 404, description = "No such user"),
        (status = 409, description = "The last active admin cannot be deleted"),
    ), security(("bearer" = []), ("oauth2" = [])))]
pub async fn delete_user(
    state: web::Data<AppState>,
    Authenticated(me): Authenticated,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    state.users.delete(&me, path.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Registers the user routes (`/me` before `/{user_id}`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(bounded(
        web::resource("/api/v1/users")
            .route(web::get().to(list_users))
            .route(web::post().to(create_user)),
    ))
    .service(bounded(
        web::resource("/api/v1/users/me")
            .route(web::get().to(get_me))
            .route(web::patch().to(update_me))
            .route(web::delete().to(delete_me)),
    ))
    .service(bounded(
        web::resource("/api/v1/users/{user_id}")
            .route(web::get().to(get_user))
            .route(web::patch().to(update_user))
            .route(web::delete().to(delete_user)),
    ));
}
