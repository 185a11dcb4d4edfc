//! `/api/v1/users`: the caller's own account (`/me`) and user administration.

use actix_web::{HttpResponse, web};
use taskforge_domain::page::PageRequest;
use taskforge_domain::user::{NewAccount, Role, UserChanges, UserFilter};
use uuid::Uuid;

use crate::dto::page::PageResponse;
use crate::dto::user::{CreateUserBody, UpdateMeBody, UpdateUserBody, UserResponse};
use crate::error::ApiError;
use crate::extract::{Authenticated, JsonBody, QueryParams};
use crate::routes::created;
use crate::state::AppState;

/// `GET /users/me`.
pub async fn get_me(Authenticated(me): Authenticated) -> HttpResponse {
    HttpResponse::Ok().json(UserResponse::from(me))
}

/// `PATCH /users/me`.
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
pub async fn delete_me(
    state: web::Data<AppState>,
    Authenticated(me): Authenticated,
) -> Result<HttpResponse, ApiError> {
    state.users.delete_me(&me).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /users` (admin): newest first, filtered by `q`, `role`, `is_active`.
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
    let page = query.check(PageRequest::new(limit, offset));
    query.finish()?;
    let page = state
        .users
        .list(&me, &filter, page.unwrap_or_default())
        .await?;
    Ok(HttpResponse::Ok().json(PageResponse::from_page(page, UserResponse::from)))
}

/// `POST /users` (admin): 201 + `Location`.
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
pub async fn get_user(
    state: web::Data<AppState>,
    Authenticated(me): Authenticated,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let user = state.users.get(&me, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(UserResponse::from(user)))
}

/// `PATCH /users/{user_id}` (admin).
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
    cfg.service(
        web::resource("/api/v1/users")
            .route(web::get().to(list_users))
            .route(web::post().to(create_user)),
    )
    .service(
        web::resource("/api/v1/users/me")
            .route(web::get().to(get_me))
            .route(web::patch().to(update_me))
            .route(web::delete().to(delete_me)),
    )
    .service(
        web::resource("/api/v1/users/{user_id}")
            .route(web::get().to(get_user))
            .route(web::patch().to(update_user))
            .route(web::delete().to(delete_user)),
    );
}
