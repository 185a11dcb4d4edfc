//! The one error type of the domain, in domain words. Adapters translate their own
//! failures into it; the HTTP layer alone maps it to status codes.

use std::error::Error as StdError;

/// A problem with one input field, named by the key a client sent it under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The input key at fault (`title`, `email`, `limit`, ...).
    pub field: String,
    /// What is wrong with it, for a human.
    pub message: String,
}

impl FieldError {
    /// A field error from anything string-like.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Everything a domain operation can fail with.
///
/// Non-exhaustive: new kinds of failure may be added in minor versions, so match with
/// a wildcard arm.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DomainError {
    /// Input broke a rule; never empty.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// The caller is not who they claim, or their credentials are no longer valid.
    #[error("{0}")]
    Unauthorized(String),
    /// The caller is known but may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// Nothing the caller may see exists there.
    #[error("{0}")]
    NotFound(String),
    /// The change clashes with existing state (duplicate email, last admin, ...).
    #[error("{0}")]
    Conflict(String),
    /// The caller's precondition (an `If-Match` version) no longer holds.
    #[error("{0}")]
    PreconditionFailed(String),
    /// What was asked for existed once but is gone for good (a change-log cursor from
    /// before the log's retention).
    #[error("{0}")]
    Gone(String),
    /// A one-time credential (a password reset token) that is unknown, already used
    /// or expired. Says nothing about which.
    #[error("{0}")]
    InvalidToken(String),
    /// Too many failed attempts: nothing is tried until `retry_after_secs` have passed
    /// (the per-account login throttle).
    #[error("too many failed attempts; retry in {retry_after_secs} s")]
    Throttled {
        /// Whole seconds to wait, rounded up.
        retry_after_secs: u64,
    },
    /// Something the operation needs is unavailable for now — storage unreachable, a
    /// deadline passed, a row held too long by another transaction — and nothing was
    /// changed, or whether it was is unknown and it must not be repeated blindly. A
    /// later retry may succeed.
    #[error("{0}")]
    Unavailable(String),
    /// Something outside the domain failed; the source is for logs, never for clients.
    #[error("unexpected error")]
    Unexpected(#[source] Box<dyn StdError + Send + Sync>),
}

impl DomainError {
    /// A validation error on a single field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }

    /// Wraps an adapter's error as [`DomainError::Unexpected`].
    pub fn unexpected(source: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        Self::Unexpected(source.into())
    }
}

/// Collects field errors from several parses, so a client hears about every bad
/// field at once instead of one per round trip.
#[derive(Debug, Default)]
pub struct Validator {
    errors: Vec<FieldError>,
}

impl Validator {
    /// An empty collector.
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps the value of a successful parse; records the field errors of a failed one.
    pub fn check<T>(&mut self, result: Result<T, DomainError>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(DomainError::Validation(errors)) => {
                self.errors.extend(errors);
                None
            }
            Err(other) => {
                self.errors.push(FieldError::new("body", other.to_string()));
                None
            }
        }
    }

    /// Records one field error directly.
    pub fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, message));
    }

    /// `Ok(())` when nothing was recorded, else [`DomainError::Validation`] with all of it.
    ///
    /// # Errors
    /// [`DomainError::Validation`] listing every recorded field error.
    pub fn finish(self) -> Result<(), DomainError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(DomainError::Validation(self.errors))
        }
    }
}

/// Text may hold any character but NUL, which no SQL database stores (PostgreSQL
/// refuses it; SQLite cuts strings at it in places).
///
/// # Errors
/// [`DomainError::Validation`] on `field` when `text` holds a NUL character.
pub(crate) fn refuse_nul(field: &str, text: &str) -> Result<(), DomainError> {
    if text.contains('\0') {
        Err(DomainError::invalid(
            field,
            "must not contain NUL characters",
        ))
    } else {
        Ok(())
    }
}
