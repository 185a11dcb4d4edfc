//! The bearer-token extractor: who is calling, read fresh from storage.

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use taskforge_domain::DomainError;
use taskforge_domain::user::User;

use crate::error::ApiError;
use crate::state::AppState;

/// The authenticated caller of a route.
#[derive(Debug, Clone)]
pub struct Authenticated(pub User);

/// The token of an `Authorization: Bearer <token>` header, if there is one.
pub fn bearer_token(req: &HttpRequest) -> Option<String> {
    // Lossy, not `to_str`: a bearer token of non-ASCII bytes was still sent, and must
    // get `error="invalid_token"` rather than be treated as missing.
    let value =
        String::from_utf8_lossy(req.headers().get(header::AUTHORIZATION)?.as_bytes()).into_owned();
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
}

/// The bearer token and the application state: 401 without a token (`WWW-Authenticate:
/// Bearer`).
fn token_and_state(req: &HttpRequest) -> Result<(String, &web::Data<AppState>), ApiError> {
    let Some(token) = bearer_token(req) else {
        return Err(ApiError::unauthorized(
            "a bearer access token is required",
            false,
        ));
    };
    let Some(state) = req.app_data::<web::Data<AppState>>() else {
        return Err(ApiError::internal("application state is not configured"));
    };
    Ok((token, state))
}

/// A refused token is a 401 with `error="invalid_token"`.
fn auth_error(err: DomainError) -> ApiError {
    match err {
        DomainError::Unauthorized(detail) => ApiError::unauthorized(detail, true),
        other => other.into(),
    }
}

/// Authenticates a request by its bearer token: 401 without one (`WWW-Authenticate:
/// Bearer`) or with a bad one (`error="invalid_token"`).
///
/// # Errors
/// As above; 500 on storage failure.
pub async fn authenticate_request(req: &HttpRequest) -> Result<User, ApiError> {
    let (token, state) = token_and_state(req)?;
    state.auth.authenticate(&token).await.map_err(auth_error)
}

/// [`authenticate_request`], also naming the bearer token's session.
///
/// # Errors
/// As [`authenticate_request`].
pub async fn authenticate_session_request(
    req: &HttpRequest,
) -> Result<(User, uuid::Uuid), ApiError> {
    let (token, state) = token_and_state(req)?;
    state
        .auth
        .authenticate_session(&token)
        .await
        .map_err(auth_error)
}

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { authenticate_request(&req).await.map(Authenticated) })
    }
}
