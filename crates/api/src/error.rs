//! The one place errors become HTTP: `ApiError` (a problem kind, a detail, optional
//! field errors and headers) and its mapping from [`DomainError`].
//!
//! Handlers and extractors return `ApiError`; its `ResponseError` impl only sets the
//! status and headers and stashes the [`Problem`] in the response's extensions. The
//! request-context middleware renders every error response — ours and the
//! framework's own (unknown route, wrong method) — as RFC 9457 problem+json, because
//! only it knows the request id and path.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use taskforge_domain::{DomainError, FieldError};

/// What `Retry-After` says on a 503: a database restart or a held row is usually over
/// within a second, and a client that waits longer only adds latency.
pub const RETRY_AFTER_SECS: u32 = 1;

/// The stable error codes of the contract, one per status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// 400
    BadRequest,
    /// 401
    Unauthorized,
    /// 403
    Forbidden,
    /// 404
    NotFound,
    /// 405
    MethodNotAllowed,
    /// 409
    Conflict,
    /// 410
    Gone,
    /// 412
    PreconditionFailed,
    /// 413
    PayloadTooLarge,
    /// 415
    UnsupportedMediaType,
    /// 422
    ValidationFailed,
    /// 429
    RateLimited,
    /// 500
    Internal,
    /// 503
    ServiceUnavailable,
}

impl ErrorCode {
    /// The HTTP status of this code.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::BadRequest => StatusCode::BAD_REQUEST,
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden => StatusCode::FORBIDDEN,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::Conflict => StatusCode::CONFLICT,
            ErrorCode::Gone => StatusCode::GONE,
            ErrorCode::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::ValidationFailed => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The snake_case `error` member.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::Conflict => "conflict",
            ErrorCode::Gone => "gone",
            ErrorCode::PreconditionFailed => "precondition_failed",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::ValidationFailed => "validation_failed",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Internal => "internal",
            ErrorCode::ServiceUnavailable => "service_unavailable",
        }
    }

    /// The code for a status the framework produced on its own.
    pub fn from_status(status: StatusCode) -> Self {
        match status.as_u16() {
            400 => ErrorCode::BadRequest,
            401 => ErrorCode::Unauthorized,
            403 => ErrorCode::Forbidden,
            404 => ErrorCode::NotFound,
            405 => ErrorCode::MethodNotAllowed,
            409 => ErrorCode::Conflict,
            410 => ErrorCode::Gone,
            412 => ErrorCode::PreconditionFailed,
            413 => ErrorCode::PayloadTooLarge,
            415 => ErrorCode::UnsupportedMediaType,
            422 => ErrorCode::ValidationFailed,
            429 => ErrorCode::RateLimited,
            503 => ErrorCode::ServiceUnavailable,
            _ if status.is_client_error() => ErrorCode::BadRequest,
            _ => ErrorCode::Internal,
        }
    }

    /// A default detail for responses that carry none of their own.
    pub fn default_detail(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "the request is malformed",
            ErrorCode::Unauthorized => "authentication is required",
            ErrorCode::Forbidden => "you may not do this",
            ErrorCode::NotFound => "no resource at this path",
            ErrorCode::MethodNotAllowed => "this method is not allowed on this path",
            ErrorCode::Conflict => "the request conflicts with the current state",
            ErrorCode::Gone => "what was asked for is gone for good",
            ErrorCode::PreconditionFailed => "a precondition failed",
            ErrorCode::PayloadTooLarge => "the request body is too large",
            ErrorCode::UnsupportedMediaType => "the request body must be application/json",
            ErrorCode::ValidationFailed => "the request is invalid",
            ErrorCode::RateLimited => "too many requests; retry later",
            ErrorCode::Internal => "an internal error occurred",
            ErrorCode::ServiceUnavailable => "the service is unavailable",
        }
    }
}

/// What an error response says, before the request context is added.
#[derive(Debug, Clone)]
pub struct Problem {
    /// Kind and status.
    pub code: ErrorCode,
    /// Human-readable, never empty.
    pub detail: String,
    /// Field errors (422 only, never empty there).
    pub errors: Vec<FieldError>,
    /// Extra members (readiness adds `checks`).
    pub extra: Option<(&'static str, serde_json::Value)>,
}

/// The wire form of an error (RFC 9457 problem details plus older clients' fields).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Problem)]
pub struct ProblemBody<'a> {
    /// Always `about:blank`: the status and `error` code say what happened.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The status's reason phrase.
    pub title: &'static str,
    /// HTTP status.
    pub status: u16,
    /// HTTP status again, for older clients.
    pub status_code: u16,
    /// Stable snake_case code.
    pub error: &'static str,
    /// Human-readable explanation.
    pub detail: &'a str,
    /// The request path.
    pub instance: &'a str,
    /// When the error happened (RFC 3339, UTC).
    pub timestamp: String,
    /// The request id (also in `X-Request-ID`).
    pub request_id: &'a str,
    /// Field errors, on 422 only (absent otherwise, never null).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub errors: Option<Vec<FieldErrorBody<'a>>>,
}

/// One entry of `errors`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = FieldError)]
pub struct FieldErrorBody<'a> {
    /// The JSON key or query parameter at fault.
    pub field: &'a str,
    /// What is wrong.
    pub message: &'a str,
}

impl Problem {
    /// Renders the body for one request.
    pub fn to_json(&self, instance: &str, request_id: &str) -> Vec<u8> {
        let status = self.code.status();
        let errors = (self.code == ErrorCode::ValidationFailed).then(|| {
            self.errors
                .iter()
                .map(|e| FieldErrorBody {
                    field: &e.field,
                    message: &e.message,
                })
                .collect()
        });
        let body = ProblemBody {
            kind: "about:blank",
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            status_code: status.as_u16(),
            error: self.code.as_str(),
            detail: if self.detail.is_empty() {
                self.code.default_detail()
            } else {
                &self.detail
            },
            instance,
            timestamp: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            request_id,
            errors,
        };
        let mut value = serde_json::to_value(&body).unwrap_or_default();
        if let (Some((key, extra)), Some(map)) = (&self.extra, value.as_object_mut()) {
            map.insert((*key).to_owned(), extra.clone());
        }
        serde_json::to_vec(&value).unwrap_or_default()
    }
}

/// An error a handler or extractor returns.
#[derive(Debug)]
pub struct ApiError {
    // Boxed: handlers return `Result<_, ApiError>` everywhere; keep the Ok path small.
    problem: Box<Problem>,
    headers: Vec<(HeaderName, HeaderValue)>,
    /// The cause of a 500, logged by the middleware, never sent.
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl ApiError {
    /// An error of `code` with a detail.
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self {
            problem: Box::new(Problem {
                code,
                detail: detail.into(),
                errors: Vec::new(),
                extra: None,
            }),
            headers: Vec::new(),
            source: None,
        }
    }

    /// 422 with field errors (an empty list is replaced by one naming the body).
    pub fn validation(mut errors: Vec<FieldError>) -> Self {
        if errors.is_empty() {
            errors.push(FieldError::new("body", "is invalid"));
        }
        let detail = errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ");
        let mut err = Self::new(ErrorCode::ValidationFailed, detail);
        err.problem.errors = errors;
        err
    }

    /// 401 with `WWW-Authenticate: Bearer`, plus `error="invalid_token"` when a token was sent.
    pub fn unauthorized(detail: impl Into<String>, token_sent: bool) -> Self {
        let challenge = if token_sent {
            "Bearer error=\"invalid_token\""
        } else {
            "Bearer"
        };
        Self::new(ErrorCode::Unauthorized, detail).with_header(header::WWW_AUTHENTICATE, challenge)
    }

    /// 500 that logs `source` and tells the client nothing about it.
    pub fn internal(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        let mut err = Self::new(ErrorCode::Internal, ErrorCode::Internal.default_detail());
        err.source = Some(source.into());
        err
    }

    /// 503 with `Retry-After`: the failure is temporary and nothing was changed (or
    /// what was is not to be repeated blindly); the client may retry.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::ServiceUnavailable, detail)
            .with_header(header::RETRY_AFTER, &RETRY_AFTER_SECS.to_string())
    }

    /// Adds a response header.
    pub fn with_header(mut self, name: HeaderName, value: &str) -> Self {
        if let Ok(value) = HeaderValue::from_str(value) {
            self.headers.push((name, value));
        }
        self
    }

    /// Adds an extra top-level member to the body.
    pub fn with_extra(mut self, key: &'static str, value: serde_json::Value) -> Self {
        self.problem.extra = Some((key, value));
        self
    }

    /// The problem this error renders as.
    pub fn problem(&self) -> &Problem {
        &self.problem
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.problem.code.as_str(), self.problem.detail)
    }
}

impl std::error::Error for ApiError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// The chain of causes of a 500, for the log line.
#[derive(Debug, Clone)]
pub struct InternalCause(pub String);

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.problem.code.status()
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status_code());
        for (name, value) in &self.headers {
            res.insert_header((name.clone(), value.clone()));
        }
        let mut res = res.finish();
        res.extensions_mut().insert((*self.problem).clone());
        if let Some(source) = &self.source {
            let mut chain = source.to_string();
            let mut cause = source.source();
            while let Some(inner) = cause {
                chain.push_str(": ");
                chain.push_str(&inner.to_string());
                cause = inner.source();
            }
            res.extensions_mut().insert(InternalCause(chain));
        }
        res
    }
}

impl From<DomainError> for ApiError {
    fn from(err: DomainError) -> Self {
        match err {
            DomainError::Validation(errors) => ApiError::validation(errors),
            // Whether a token was sent is known only to the extractor, which maps its
            // own errors; a domain `Unauthorized` elsewhere is a credential failure.
            DomainError::Unauthorized(detail) => ApiError::unauthorized(detail, false),
            DomainError::Forbidden(detail) => ApiError::new(ErrorCode::Forbidden, detail),
            DomainError::NotFound(detail) => ApiError::new(ErrorCode::NotFound, detail),
            DomainError::Conflict(detail) => ApiError::new(ErrorCode::Conflict, detail),
            DomainError::PreconditionFailed(detail) => {
                ApiError::new(ErrorCode::PreconditionFailed, detail)
            }
            DomainError::Gone(detail) => ApiError::new(ErrorCode::Gone, detail),
            DomainError::InvalidToken(detail) => ApiError::new(ErrorCode::BadRequest, detail),
            DomainError::Throttled { retry_after_secs } => ApiError::new(
                ErrorCode::RateLimited,
                format!("too many failed logins for this account; retry in {retry_after_secs} s"),
            )
            .with_header(header::RETRY_AFTER, &retry_after_secs.to_string()),
            DomainError::Unavailable(detail) => ApiError::unavailable(detail),
            DomainError::Unexpected(source) => ApiError::internal(source),
            // A kind of failure this version does not know: never leak it.
            other => ApiError::internal(other),
        }
    }
}
