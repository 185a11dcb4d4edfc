//! `POST /api/v1/auth/password-reset` and `POST /api/v1/auth/password-reset/confirm`.
//!
//! A reset request is answered before anything is looked up: the lookup, the token and
//! the mail happen after the answer, in a task of their own. So the answer is the same
//! 202 in the same time whether or not the address has an account — no timing to
//! measure, however slow the database. The tasks are bounded (`reset_jobs`): when all
//! are busy the answer is 503, which says nothing about the address either.

use actix_web::{HttpResponse, web};
use serde::Serialize;
use taskforge_domain::user::Email;
use utoipa::ToSchema;

use crate::dto::account::{PasswordResetBody, PasswordResetConfirmBody};
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::state::AppState;

/// `{"status":"accepted"}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AcceptedResponse {
    /// Always `accepted`.
    #[schema(example = "accepted")]
    pub status: &'static str,
}

/// `POST /password-reset`: 202 whatever the address; a reset link goes out when it is
/// an active account's.
#[utoipa::path(post, path = "/api/v1/auth/password-reset", tag = "auth", operation_id = "request_password_reset",
    request_body = PasswordResetBody,
    responses(
        (status = 202, description = "Accepted: the same answer, in the same time, whether or not the address belongs to an active account", body = AcceptedResponse),
        (status = 422, description = "Not an email address"),
        (status = 429, description = "Too many reset requests from this client"),
        (status = 503, description = "Mail is switched off (`MAIL_TRANSPORT=off`), or too many requests are being worked on"),
    ))]
pub async fn request_password_reset(
    state: web::Data<AppState>,
    body: JsonBody<PasswordResetBody>,
) -> Result<HttpResponse, ApiError> {
    let email = Email::try_from(body.0)?;
    state.resets.ensure_available()?;
    let Ok(permit) = state.reset_jobs.clone().try_acquire_owned() else {
        return Err(ApiError::unavailable(
            "too many password reset requests are being worked on",
        ));
    };
    let resets = state.resets.clone();
    actix_web::rt::spawn(async move {
        if let Err(error) = resets.request(&email).await {
            // No address and no token in the line: only what went wrong.
            tracing::warn!(%error, "a password reset request failed after its answer");
        }
        drop(permit);
    });
    Ok(HttpResponse::Accepted().json(AcceptedResponse { status: "accepted" }))
}

/// `POST /password-reset/confirm`: sets the new password and ends every session.
#[utoipa::path(post, path = "/api/v1/auth/password-reset/confirm", tag = "auth", operation_id = "confirm_password_reset",
    request_body = PasswordResetConfirmBody,
    responses(
        (status = 204, description = "Password set; every session of the account has ended"),
        (status = 400, description = "The token is unknown, used or expired"),
        (status = 422, description = "The new password breaks the password rule (checked before the token)"),
    ))]
pub async fn confirm_password_reset(
    state: web::Data<AppState>,
    body: JsonBody<PasswordResetConfirmBody>,
) -> Result<HttpResponse, ApiError> {
    let password = body.0.password()?;
    state.resets.confirm(&body.0.token, &password).await?;
    Ok(HttpResponse::NoContent().finish())
}
