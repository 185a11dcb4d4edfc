//! `/api/v1/auth`: register (alias signup), login (JSON or OAuth2 form), refresh,
//! logout, the caller's sessions, password reset — and the deprecated compatibility
//! paths. Every response of these routes,
//! errors included, carries `Cache-Control: no-store`.

pub mod reset;
pub mod sessions;

use actix_web::body::BoxBody;
use actix_web::dev::ServiceRequest;
use actix_web::http::header;
use actix_web::middleware::{DefaultHeaders, Next};
use actix_web::web::{delete, get, post};
use actix_web::{HttpRequest, HttpResponse, Route, web};
use taskforge_domain::DomainError;
use taskforge_domain::auth::ClientInfo;
use taskforge_domain::user::NewAccount;

use crate::dto::auth::{LoginBody, LoginForm, RefreshBody, TokenResponse};
use crate::dto::user::{RegisterBody, UserResponse};
use crate::error::{ApiError, ErrorCode};
use crate::extract::json::{field_error, is_json, read_body};
use crate::extract::{JsonBody, QueryParams, authenticate_request, parse_json};
use crate::middleware::deadline;
use crate::rate_limit::{ClientIp, GroupLimit, RateLimits};
use crate::routes::created;
use crate::state::AppState;
use actix_web::middleware::from_fn;

/// `POST /register`: 201 + the user + `Location`. `is_admin: true` needs an admin's token.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth", operation_id = "register",
    request_body = RegisterBody,
    responses(
        (status = 201, description = "Registered", body = UserResponse,
            headers(("Location" = String, description = "URL of the new user"), ("Cache-Control" = String, description = "no-store"))),
        (status = 401, description = "`is_admin: true` without a valid bearer token"),
        (status = 403, description = "`is_admin: true` with a non-admin's token"),
        (status = 409, description = "Email or username already registered"),
        (status = 429, description = "Too many registrations from this client (limits are per client IP; every answer of this route carries `RateLimit-Policy` and `RateLimit`)",
            headers(("Retry-After" = String, description = "Seconds until one more request is allowed"),
                ("RateLimit-Policy" = String, description = "The group's quota and window, e.g. `\"login\";q=5;w=60`"),
                ("RateLimit" = String, description = "What is left and when the quota is whole again, e.g. `\"login\";r=0;t=60`"))),
    ),
    security((), ("bearer" = []), ("oauth2" = [])))]
pub async fn register(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: JsonBody<RegisterBody>,
) -> Result<HttpResponse, ApiError> {
    // `Authorization` is ignored unless an admin account is asked for.
    let caller = if body.0.is_admin == Some(true) {
        Some(authenticate_request(&req).await?)
    } else {
        None
    };
    let account = NewAccount::try_from(body.0)?;
    let user = state.users.register(account, caller.as_ref()).await?;
    Ok(created(
        &format!("/api/v1/users/{}", user.id),
        &UserResponse::from(user),
    ))
}

/// `POST /login`: JSON `{email|username, password}` or the OAuth2 password form.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", operation_id = "login",
    request_body(content(
        (LoginBody = "application/json"),
        (LoginForm = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "Logged in", body = TokenResponse, headers(("Cache-Control" = String, description = "no-store"))),
        (status = 401, description = "Wrong email, username or password (one answer for all)"),
        (status = 403, description = "Correct password, inactive account"),
        (status = 429, description = "Too many logins from this client (per client IP), or too many failed logins for this identifier (its wait runs; the right password gets 429 too). Every answer of this route carries `RateLimit-Policy` and `RateLimit`",
            headers(("Retry-After" = String, description = "Seconds until one more request is allowed"),
                ("RateLimit-Policy" = String, description = "The group's quota and window, e.g. `\"login\";q=5;w=60`"),
                ("RateLimit" = String, description = "What is left and when the quota is whole again, e.g. `\"login\";r=0;t=60`"))),
    ))]
pub async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.trim()
                .to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    if !is_form && is_json(&req) != Some(true) {
        return Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "send application/json or application/x-www-form-urlencoded",
        ));
    }
    let body = read_body(&req, &mut payload.into_inner()).await?;
    let (identifier, password) = if is_form {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::new(
                ErrorCode::BadRequest,
                "the request body is empty",
            ));
        }
        let form: LoginForm = serde_urlencoded::from_bytes(&body)
            .map_err(|err| ApiError::validation(vec![field_error(".", &err.to_string())]))?;
        form.refuse_nul()?;
        (form.username, form.password)
    } else {
        let login: LoginBody = parse_json(&body)?;
        let identifier = login.email.or(login.username).ok_or_else(|| {
            ApiError::from(DomainError::invalid(
                "email",
                "email or username is required",
            ))
        })?;
        (identifier, login.password)
    };
    let pair = state
        .auth
        .login_from(&identifier, &password, &client_of(&req))
        .await?;
    Ok(HttpResponse::Ok().json(TokenResponse::from(pair)))
}

/// Where a login comes from: its `User-Agent` and its address by the rate limiter's
/// rule (`X-Forwarded-For` only from a trusted proxy).
fn client_of(req: &HttpRequest) -> ClientInfo {
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let ip = req
        .app_data::<web::Data<ClientIp>>()
        .and_then(|rule| rule.of_request(req))
        .or_else(|| req.peer_addr().map(|a| a.ip()))
        .map(|ip| ip.to_string());
    ClientInfo::new(user_agent.as_deref(), ip)
}

/// A refused refresh token is an invalid token, for `WWW-Authenticate`.
fn token_error(err: DomainError) -> ApiError {
    match err {
        DomainError::Unauthorized(detail) => ApiError::unauthorized(detail, true),
        other => other.into(),
    }
}

/// `POST /refresh`: spends the refresh token for a new pair.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", operation_id = "refresh",
    request_body = RefreshBody,
    responses(
        (status = 200, description = "A new pair; the presented token is spent", body = TokenResponse),
        (status = 401, description = "Invalid, expired, revoked or reused refresh token (reuse revokes the session)"),
        (status = 429, description = "Too many refreshes from this client (limits are per client IP; every answer of this route carries `RateLimit-Policy` and `RateLimit`)",
            headers(("Retry-After" = String, description = "Seconds until one more request is allowed"),
                ("RateLimit-Policy" = String, description = "The group's quota and window, e.g. `\"login\";q=5;w=60`"),
                ("RateLimit" = String, description = "What is left and when the quota is whole again, e.g. `\"login\";r=0;t=60`"))),
    ))]
pub async fn refresh(
    state: web::Data<AppState>,
    body: JsonBody<RefreshBody>,
) -> Result<HttpResponse, ApiError> {
    let pair = state
        .auth
        .refresh(&body.0.refresh_token)
        .await
        .map_err(token_error)?;
    Ok(HttpResponse::Ok().json(TokenResponse::from(pair)))
}

/// `POST /logout`: 204 for any refresh token string; `?all=true` with a bearer token
/// ends every session of the bearer's user (the body may then be omitted).
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", operation_id = "logout",
    params(("all" = Option<bool>, Query, description = "With a bearer token: end every session of the bearer's user")),
    request_body(content = RefreshBody, description = "Required unless `all=true`"),
    responses(
        (status = 204, description = "Logged out (also for unknown tokens)"),
        (status = 401, description = "`all=true` without a valid bearer token"),
        (status = 429, description = "Too many logouts from this client (limits are per client IP; every answer of this route carries `RateLimit-Policy` and `RateLimit`)",
            headers(("Retry-After" = String, description = "Seconds until one more request is allowed"),
                ("RateLimit-Policy" = String, description = "The group's quota and window, e.g. `\"login\";q=5;w=60`"),
                ("RateLimit" = String, description = "What is left and when the quota is whole again, e.g. `\"login\";r=0;t=60`"))),
    ),
    security((), ("bearer" = []), ("oauth2" = [])))]
pub async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    mut query: QueryParams,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let all = query.bool("all").unwrap_or(false);
    query.finish()?;
    let mut payload = payload.into_inner();
    if all {
        let user = authenticate_request(&req).await?;
        let body = read_body(&req, &mut payload).await?;
        if !body.iter().all(u8::is_ascii_whitespace) {
            let parsed: RefreshBody = parse_json(&body)?;
            state.auth.logout(&parsed.refresh_token).await?;
        }
        state.auth.logout_everywhere(user.id).await?;
    } else {
        let body = JsonBody::<RefreshBody>::from_payload(&req, &mut payload).await?;
        state.auth.logout(&body.0.refresh_token).await?;
    }
    Ok(HttpResponse::NoContent().finish())
}

/// Registers `/api/v1/auth/*` and the compatibility paths, all with `Cache-Control: no-store`.
pub fn configure(limits: &RateLimits) -> impl FnOnce(&mut web::ServiceConfig) {
    let limits = limits.clone();
    move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(web::Data::new(limits.client_ip.clone()));
        let (register_, login_) = (&limits.register, &limits.login);
        auth_route(cfg, register_, "/api/v1/auth/register", post().to(register));
        auth_route(cfg, register_, "/api/v1/auth/signup", post().to(register));
        auth_route(cfg, login_, "/api/v1/auth/login", post().to(login));
        auth_route(
            cfg,
            &limits.refresh,
            "/api/v1/auth/refresh",
            post().to(refresh),
        );
        auth_route(
            cfg,
            &limits.logout,
            "/api/v1/auth/logout",
            post().to(logout),
        );
        auth_route(
            cfg,
            &None,
            "/api/v1/auth/sessions",
            get().to(sessions::list_sessions),
        );
        auth_route(
            cfg,
            &None,
            "/api/v1/auth/sessions/{id}",
            delete().to(sessions::delete_session),
        );
        auth_route(
            cfg,
            &limits.reset,
            "/api/v1/auth/password-reset",
            post().to(reset::request_password_reset),
        );
        auth_route(
            cfg,
            &None,
            "/api/v1/auth/password-reset/confirm",
            post().to(reset::confirm_password_reset),
        );
        // Compatibility paths, counted with their groups.
        auth_route(cfg, register_, "/api/auth/signup", post().to(register));
        auth_route(cfg, login_, "/api/auth/login", post().to(login));
        auth_route(cfg, register_, "/auth/register", post().to(register));
        auth_route(cfg, login_, "/auth/login", post().to(login));
    }
}

/// Registers one auth route behind its group's limiter (when limits are on); every
/// answer, the limiter's 429 and the 405 of another method included, carries
/// `Cache-Control: no-store`.
fn auth_route(cfg: &mut web::ServiceConfig, group: &Option<GroupLimit>, path: &str, route: Route) {
    let no_store = || DefaultHeaders::new().add((header::CACHE_CONTROL, "no-store"));
    let resource = web::resource(path)
        .route(route)
        .wrap(from_fn(deadline::deadline));
    match group {
        Some(limit) => {
            let limit = limit.clone();
            let check = move |req: ServiceRequest, next: Next<BoxBody>| {
                let limit = limit.clone();
                async move { limit.check(req, next).await }
            };
            cfg.service(resource.wrap(from_fn(check)).wrap(no_store()))
        }
        None => cfg.service(resource.wrap(no_store())),
    };
}
