//! The user aggregate and its value objects.

use std::fmt;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::DomainError;

/// What a user may administer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
#[non_exhaustive]
pub enum Role {
    /// Sees and changes only their own tasks and account.
    User,
    /// Manages users and sees every task.
    Admin,
}

impl Role {
    /// The wire and storage name: `user` or `admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
        }
    }

    /// Parses the wire name.
    ///
    /// # Errors
    /// [`DomainError::Validation`] on `role` for anything but `user` or `admin`.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        match s {
            "user" => Ok(Role::User),
            "admin" => Ok(Role::Admin),
            _ => Err(DomainError::invalid("role", "must be one of: user, admin")),
        }
    }
}

/// A syntactically valid email address, trimmed and lower-cased.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// Normalises (trim, lower-case) and validates an address.
    ///
    /// # Errors
    /// [`DomainError::Validation`] on `email` when it is not a plausible address.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let email = raw.trim().to_lowercase();
        if is_valid_email(&email) {
            Ok(Self(email))
        } else {
            Err(DomainError::invalid(
                "email",
                "must be a valid email address",
            ))
        }
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A pragmatic syntax check: `local@domain.tld`, no spaces or control characters,
/// at most 254 bytes, a local part of 1–64 bytes, and domain labels of letters,
/// digits and inner hyphens.
fn is_valid_email(email: &str) -> bool {
    if email.len() > 254 {
        return false;
    }
    let Some((local, domain)) = email.rsplit_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        });
    local_ok && domain_ok
}

/// A login name: 3–32 characters of `A–Z a–z 0–9 _ . -`, unique case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    /// Validates a username (case is kept for display).
    ///
    /// # Errors
    /// [`DomainError::Validation`] on `username` when the rule above is broken.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let count = raw.chars().count();
        let charset_ok = raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if (3..=32).contains(&count) && charset_ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(DomainError::invalid(
                "username",
                "must be 3 to 32 characters of A-Z, a-z, 0-9, '_', '.', '-'",
            ))
        }
    }

    /// The username as chosen.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The case-folded form uniqueness is decided on.
    pub fn key(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

/// A display name: at most 100 characters after trimming; blank means none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FullName(String);

impl FullName {
    /// Maximum length in characters.
    pub const MAX_CHARS: usize = 100;

    /// Trims and validates; a blank name becomes `None`.
    ///
    /// # Errors
    /// [`DomainError::Validation`] on `full_name` when longer than 100 characters or
    /// holding a NUL character.
    pub fn parse(raw: &str) -> Result<Option<Self>, DomainError> {
        crate::error::refuse_nul("full_name", raw)?;
        let name = raw.trim();
        if name.chars().count() > Self::MAX_CHARS {
            return Err(DomainError::invalid(
                "full_name",
                "must be at most 100 characters",
            ));
        }
        Ok((!name.is_empty()).then(|| Self(name.to_owned())))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A new password in plain text: 8–72 bytes (bcrypt's limit; never truncated).
/// Its `Debug` never prints the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Validates the length rule.
    ///
    /// # Errors
    /// [`DomainError::Validation`] on `password` when shorter than 8 or longer than 72 bytes.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        if (8..=72).contains(&raw.len()) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(DomainError::invalid("password", "must be 8 to 72 bytes"))
        }
    }

    /// The secret, for the hasher only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// A stored bcrypt hash. Its `Debug` never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Wraps a hash produced by a [`crate::auth::PasswordHasher`] or read from storage.
    pub fn new(hash: impl Into<String>) -> Self {
        Self(hash.into())
    }

    /// The encoded hash.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(***)")
    }
}

/// A user account. The password hash is kept apart (see [`UserCredentials`]) so
/// that a `User` can be handed anywhere without leaking it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// UUID v7.
    pub id: Uuid,
    /// Normalised, unique.
    pub email: Email,
    /// Optional, unique case-insensitively.
    pub username: Option<Username>,
    /// Optional display name.
    pub full_name: Option<FullName>,
    /// `user` or `admin`.
    pub role: Role,
    /// Inactive users cannot log in and their tokens are revoked.
    pub is_active: bool,
    /// Creation instant (microseconds).
    pub created_at: DateTime<Utc>,
    /// Last change instant (microseconds).
    pub updated_at: DateTime<Utc>,
}

impl User {
    /// `role == admin`.
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// An admin who is active: the kind the system must never run out of.
    pub fn is_active_admin(&self) -> bool {
        self.is_admin() && self.is_active
    }
}

/// A user together with their password hash, for login and re-authentication only.
#[derive(Debug, Clone)]
pub struct UserCredentials {
    /// The account.
    pub user: User,
    /// Its bcrypt hash.
    pub password_hash: PasswordHash,
}

/// How a login names the account: an identifier with `@` is an email, otherwise a username.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginIdentifier {
    /// Normalised email (trimmed, lower-cased; not syntax-checked: an invalid one simply matches nobody).
    Email(String),
    /// Username, lower-cased (usernames are unique case-insensitively).
    Username(String),
}

impl LoginIdentifier {
    /// Classifies a raw identifier.
    pub fn parse(raw: &str) -> Self {
        let trimmed = raw.trim();
        if trimmed.contains('@') {
            Self::Email(trimmed.to_lowercase())
        } else {
            Self::Username(trimmed.to_ascii_lowercase())
        }
    }
}

/// Filters of the admin user list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserFilter {
    /// Literal, case-insensitive substring of email or username.
    pub q: Option<String>,
    /// Only users of this role.
    pub role: Option<Role>,
    /// Only active (or inactive) users.
    pub is_active: Option<bool>,
}

/// What a user change does to the user's sessions, decided by the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEffect {
    /// Sessions stay valid.
    Keep,
    /// Every session (refresh and access token) of the user is revoked in the same
    /// transaction: password change, deactivation.
    RevokeAll,
}
