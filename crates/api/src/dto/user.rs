//! User bodies and the User response.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use taskforge_domain::DomainError;
use taskforge_domain::Validator;
use taskforge_domain::user::{
    Email, FullName, NewAccount, Password, Role, User, UserChanges, Username,
};
use utoipa::ToSchema;
use uuid::Uuid;

use super::enums::RoleDto;
use super::{not_null, nullable};

/// The User of the contract. Never a password hash.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = User)]
pub struct UserResponse {
    /// UUID.
    pub id: Uuid,
    /// Normalised email.
    pub email: String,
    /// Username or null.
    #[schema(required = true)]
    pub username: Option<String>,
    /// Display name or null.
    #[schema(required = true)]
    pub full_name: Option<String>,
    /// `user` or `admin` (the domain's own wire name).
    #[schema(value_type = RoleDto)]
    pub role: &'static str,
    /// `role == admin`.
    pub is_admin: bool,
    /// Whether the account can log in.
    pub is_active: bool,
    /// Creation instant.
    #[serde(serialize_with = "super::rfc3339::serialize")]
    pub created_at: DateTime<Utc>,
    /// Last change instant.
    #[serde(serialize_with = "super::rfc3339::serialize")]
    pub updated_at: DateTime<Utc>,
}

impl From<User> for UserResponse {
    fn from(user: User) -> Self {
        Self {
            id: user.id,
            is_admin: user.is_admin(),
            email: user.email.as_str().to_owned(),
            username: user.username.map(|u| u.as_str().to_owned()),
            full_name: user.full_name.map(|n| n.as_str().to_owned()),
            role: user.role.as_str(),
            is_active: user.is_active,
            created_at: user.created_at,
            updated_at: user.updated_at,
        }
    }
}

/// `POST /auth/register`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterBody {
    /// Email (trimmed and lower-cased).
    #[schema(format = Email, example = "ada@example.com")]
    pub email: String,
    /// Password, 8–72 bytes.
    #[schema(min_length = 8, max_length = 72, example = "correct horse")]
    pub password: String,
    /// Optional username: 3–32 of `A–Z a–z 0–9 _ . -`, unique case-insensitively.
    #[schema(pattern = "^[A-Za-z0-9_.-]{3,32}$", example = "ada")]
    pub username: Option<String>,
    /// Optional display name, ≤ 100 characters.
    #[schema(max_length = 100)]
    pub full_name: Option<String>,
    /// Ask for an admin account (needs an admin's token).
    pub is_admin: Option<bool>,
}

/// `POST /users` (admin).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserBody {
    /// Email (trimmed and lower-cased).
    #[schema(format = Email, example = "ada@example.com")]
    pub email: String,
    /// Password, 8–72 bytes.
    #[schema(min_length = 8, max_length = 72, example = "correct horse")]
    pub password: String,
    /// Optional username: 3–32 of `A–Z a–z 0–9 _ . -`, unique case-insensitively.
    #[schema(pattern = "^[A-Za-z0-9_.-]{3,32}$", example = "ada")]
    pub username: Option<String>,
    /// Optional display name, ≤ 100 characters.
    #[schema(max_length = 100)]
    pub full_name: Option<String>,
    /// Default `user`.
    pub role: Option<RoleDto>,
}

fn new_account(
    email: &str,
    password: &str,
    username: Option<&str>,
    full_name: Option<&str>,
    role: Role,
) -> Result<NewAccount, DomainError> {
    let mut v = Validator::new();
    let email = v.check(Email::parse(email));
    let password = v.check(Password::parse(password));
    let username = username.and_then(|u| v.check(Username::parse(u)));
    let full_name = full_name
        .and_then(|n| v.check(FullName::parse(n)))
        .flatten();
    v.finish()?;
    match (email, password) {
        (Some(email), Some(password)) => Ok(NewAccount {
            email,
            password,
            username,
            full_name,
            role,
        }),
        _ => Err(DomainError::invalid("body", "is invalid")),
    }
}

impl TryFrom<RegisterBody> for NewAccount {
    type Error = DomainError;

    fn try_from(body: RegisterBody) -> Result<Self, DomainError> {
        let role = if body.is_admin == Some(true) {
            Role::Admin
        } else {
            Role::User
        };
        new_account(
            &body.email,
            &body.password,
            body.username.as_deref(),
            body.full_name.as_deref(),
            role,
        )
    }
}

impl TryFrom<CreateUserBody> for NewAccount {
    type Error = DomainError;

    fn try_from(body: CreateUserBody) -> Result<Self, DomainError> {
        let role = body.role.map_or(Role::User, Role::from);
        new_account(
            &body.email,
            &body.password,
            body.username.as_deref(),
            body.full_name.as_deref(),
            role,
        )
    }
}

/// `PATCH /users/me`. Role and active flag are not fields here (422 if sent).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMeBody {
    /// New email (needs `current_password`).
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, format = Email)]
    pub email: Option<Option<String>>,
    /// New username, or null to remove it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, pattern = "^[A-Za-z0-9_.-]{3,32}$")]
    pub username: Option<Option<String>>,
    /// New display name, or null to remove it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 100)]
    pub full_name: Option<Option<String>>,
    /// New password (needs `current_password`).
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, min_length = 8, max_length = 72)]
    pub password: Option<Option<String>>,
    /// The password in use now.
    pub current_password: Option<String>,
}

/// `PATCH /users/{user_id}` (admin).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserBody {
    /// New email.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, format = Email)]
    pub email: Option<Option<String>>,
    /// New username, or null to remove it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, pattern = "^[A-Za-z0-9_.-]{3,32}$")]
    pub username: Option<Option<String>>,
    /// New display name, or null to remove it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 100)]
    pub full_name: Option<Option<String>>,
    /// New password (revokes every session of the user).
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, min_length = 8, max_length = 72)]
    pub password: Option<Option<String>>,
    /// New role.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<RoleDto>)]
    pub role: Option<Option<RoleDto>>,
    /// Activate or deactivate (deactivation revokes every session).
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<bool>)]
    pub is_active: Option<Option<bool>>,
    /// Accepted and ignored: admins never need it.
    pub current_password: Option<String>,
}

/// The shared part of both PATCH bodies.
struct ProfileFields {
    email: Option<Option<String>>,
    username: Option<Option<String>>,
    full_name: Option<Option<String>>,
    password: Option<Option<String>>,
}

fn profile_changes(fields: ProfileFields, v: &mut Validator) -> UserChanges {
    UserChanges {
        email: not_null("email", fields.email, v).and_then(|e| v.check(Email::parse(&e))),
        username: fields
            .username
            .map(|u| u.and_then(|u| v.check(Username::parse(&u)))),
        full_name: fields
            .full_name
            .map(|n| n.and_then(|n| v.check(FullName::parse(&n)).flatten())),
        password: not_null("password", fields.password, v)
            .and_then(|p| v.check(Password::parse(&p))),
        role: None,
        is_active: None,
    }
}

impl TryFrom<UpdateMeBody> for (UserChanges, Option<String>) {
    type Error = DomainError;

    fn try_from(body: UpdateMeBody) -> Result<Self, DomainError> {
        let mut v = Validator::new();
        let fields = ProfileFields {
            email: body.email,
            username: body.username,
            full_name: body.full_name,
            password: body.password,
        };
        let changes = profile_changes(fields, &mut v);
        v.finish()?;
        Ok((changes, body.current_password))
    }
}

impl TryFrom<UpdateUserBody> for UserChanges {
    type Error = DomainError;

    fn try_from(body: UpdateUserBody) -> Result<Self, DomainError> {
        let mut v = Validator::new();
        let fields = ProfileFields {
            email: body.email,
            username: body.username,
            full_name: body.full_name,
            password: body.password,
        };
        let mut changes = profile_changes(fields, &mut v);
        changes.role = not_null("role", body.role, &mut v).map(Role::from);
        changes.is_active = not_null("is_active", body.is_active, &mut v);
        v.finish()?;
        Ok(changes)
    }
}
