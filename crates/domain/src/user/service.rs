//! Account rules: registration, profile changes, and user administration.

use std::sync::Arc;

use uuid::Uuid;

use super::model::{
    Email, FullName, Password, PasswordHash, Role, SessionEffect, User, UserFilter, Username,
};
use super::ports::UserRepository;
use super::position::UserPosition;
use crate::DomainError;
use crate::auth::PasswordHasher;
use crate::clock::Clock;
use crate::ids::IdSource;
use crate::page::{DEFAULT_MAX_EXACT_COUNT, KeysetPage, ListRequest, Window};

/// A new account, validated.
#[derive(Debug, Clone)]
pub struct NewAccount {
    /// Normalised email.
    pub email: Email,
    /// The initial password.
    pub password: Password,
    /// Optional username.
    pub username: Option<Username>,
    /// Optional display name.
    pub full_name: Option<FullName>,
    /// `user` unless an admin asks otherwise.
    pub role: Role,
}

/// A partial change to an account. `None` leaves a field alone; for the nullable
/// fields `Some(None)` clears them.
#[derive(Debug, Clone, Default)]
pub struct UserChanges {
    /// New email.
    pub email: Option<Email>,
    /// New username, or `Some(None)` to remove it.
    pub username: Option<Option<Username>>,
    /// New display name, or `Some(None)` to remove it.
    pub full_name: Option<Option<FullName>>,
    /// New password.
    pub password: Option<Password>,
    /// New role (admins only).
    pub role: Option<Role>,
    /// Activate or deactivate (admins only).
    pub is_active: Option<bool>,
}

/// Users and their accounts.
pub struct UserService {
    users: Arc<dyn UserRepository>,
    hasher: Arc<dyn PasswordHasher>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdSource>,
    max_exact_count: u64,
}

impl UserService {
    /// Wires the service to its ports.
    pub fn new(
        users: Arc<dyn UserRepository>,
        hasher: Arc<dyn PasswordHasher>,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdSource>,
    ) -> Self {
        Self {
            users,
            hasher,
            clock,
            ids,
            max_exact_count: DEFAULT_MAX_EXACT_COUNT,
        }
    }

    /// Counts the matches of a list exactly up to `max` (default
    /// [`DEFAULT_MAX_EXACT_COUNT`]); beyond it a page's total is `max`, not exact.
    #[must_use]
    pub fn with_max_exact_count(mut self, max: u64) -> Self {
        self.max_exact_count = max;
        self
    }

    /// Self-service registration. Only an admin caller may register an admin.
    ///
    /// # Errors
    /// [`DomainError::Forbidden`] for an admin account without an admin caller;
    /// [`DomainError::Conflict`] for a taken email or username.
    #[tracing::instrument(level = "debug", name = "UserService::register", skip_all, fields(created.id = tracing::field::Empty))]
    pub async fn register(
        &self,
        account: NewAccount,
        caller: Option<&User>,
    ) -> Result<User, DomainError> {
        if account.role == Role::Admin && !caller.is_some_and(User::is_admin) {
            return Err(DomainError::Forbidden(
                "only an admin may create an admin account".into(),
            ));
        }
        self.insert(account).await
    }

    /// An admin creates an account with any role.
    ///
    /// # Errors
    /// [`DomainError::Forbidden`] for a non-admin actor; [`DomainError::Conflict`] for a
    /// taken email or username.
    #[tracing::instrument(level = "debug", name = "UserService::create", skip_all, fields(user.id = %actor.id, created.id = tracing::field::Empty))]
    pub async fn create(&self, actor: &User, account: NewAccount) -> Result<User, DomainError> {
        require_admin(actor)?;
        self.insert(account).await
    }

    /// Makes `email` an active admin: creates the account with `password`, or promotes
    /// and reactivates an existing one, leaving its password and sessions alone (the
    /// `create-admin` command and the first-admin bootstrap run at every start-up, so
    /// this must be idempotent and cheap when nothing is to do).
    ///
    /// # Errors
    /// [`DomainError::Unexpected`] on storage failure.
    #[tracing::instrument(level = "debug", name = "UserService::ensure_admin", skip_all)]
    pub async fn ensure_admin(
        &self,
        email: Email,
        password: Password,
    ) -> Result<User, DomainError> {
        // Two rounds: if another instance creates the same admin between our lookup
        // and our insert, the second round finds and promotes it.
        for _ in 0..2 {
            if let Some(user) = self.users.find_by_email(email.as_str()).await? {
                match self.promote(user).await {
                    // Changed meanwhile (another instance promoting it): look again.
                    Err(DomainError::Conflict(_)) => continue,
                    other => return other,
                }
            }
            let account = NewAccount {
                email: email.clone(),
                password: password.clone(),
                username: None,
                full_name: None,
                role: Role::Admin,
            };
            match self.insert(account).await {
                Err(DomainError::Conflict(_)) => continue,
                other => return other,
            }
        }
        Err(DomainError::Conflict(format!(
            "{} is being created concurrently; retry",
            email.as_str()
        )))
    }

    async fn promote(&self, mut user: User) -> Result<User, DomainError> {
        if user.is_active_admin() {
            return Ok(user);
        }
        user.role = Role::Admin;
        user.is_active = true;
        self.users
            .update(&user, None, SessionEffect::Keep, self.clock.now())
            .await
    }

    /// A user by id (admins only; users read themselves through their token).
    ///
    /// # Errors
    /// [`DomainError::Forbidden`] for a non-admin actor; [`DomainError::NotFound`].
    #[tracing::instrument(level = "debug", name = "UserService::get", skip_all, fields(user.id = %actor.id, target.id = %id))]
    pub async fn get(&self, actor: &User, id: Uuid) -> Result<User, DomainError> {
        require_admin(actor)?;
        self.users
            .find_by_id(id)
            .await?
            .ok_or_else(|| user_not_found(id))
    }

    /// A page of users, newest first (admins only).
    ///
    /// # Errors
    /// [`DomainError::Forbidden`] for a non-admin actor; [`DomainError::Validation`]
    /// on `cursor` for a cursor of another list.
    #[tracing::instrument(level = "debug", name = "UserService::list", skip_all, fields(user.id = %actor.id))]
    pub async fn list(
        &self,
        actor: &User,
        filter: &UserFilter,
        request: &ListRequest,
    ) -> Result<KeysetPage<User>, DomainError> {
        require_admin(actor)?;
        let mut window = Window::at(request.page(), self.max_exact_count);
        if let Some(cursor) = request.cursor() {
            window = window.after(UserPosition::from_cursor(cursor, filter)?);
        }
        let slice = self.users.list(filter, window.clone()).await?;
        Ok(KeysetPage::of(slice, &window, |last| {
            UserPosition::cursor_after(last, filter)
        }))
    }

    /// A user changes their own account. Changing email or password needs the right
    /// `current_password` (admins are exempt); role and active flag cannot change here.
    ///
    /// # Errors
    /// [`DomainError::Forbidden`] for a missing or wrong `current_password`, or an
    /// attempt to change role or active flag; [`DomainError::Conflict`] for a taken
    /// email or username.
    #[tracing::instrument(level = "debug", name = "UserService::update_me", skip_all, fields(user.id = %actor.id))]
    pub async fn update_me(
        &self,
        actor: &User,
        changes: UserChanges,
        current_password: Option<&str>,
    ) -> Result<User, DomainError> {
        if changes.role.is_some() || changes.is_active.is_some() {
            return Err(DomainError::Forbidden(
                "role and is_active can only be changed by an admin".into(),
            ));
        }
        let email_changes = changes.email.as_ref().is_some_and(|e| *e != actor.email);
        if (email_changes || changes.password.is_some()) && !actor.is_admin() {
            self.check_current_password(actor.id, current_password)
                .await?;
        }
        self.apply(actor.clone(), changes).await
    }

    /// An admin changes any account, their own included (role and active flag too).
    ///
    /// # Errors
    /// [`DomainError::Forbidden`] for a non-admin actor; [`DomainError::NotFound`];
    /// [`DomainError::Conflict`] for the last active admin or a taken email/username.
    #[tracing::instrument(level = "debug", name = "UserService::update", skip_all, fields(user.id = %actor.id, target.id = %id))]
    pub async fn update(
        &self,
        actor: &User,
        id: Uuid,
        changes: UserChanges,
    ) -> Result<User, DomainError> {
        require_admin(actor)?;
        let user = self
            .users
            .find_by_id(id)
            .await?
            .ok_or_else(|| user_not_found(id))?;
        self.apply(user, changes).await
    }

    /// A user deletes their own account with all their tasks and sessions.
    ///
    /// # Errors
    /// [`DomainError::Conflict`] for the last active admin.
    #[tracing::instrument(level = "debug", name = "UserService::delete_me", skip_all, fields(user.id = %actor.id))]
    pub async fn delete_me(&self, actor: &User) -> Result<(), DomainError> {
        self.users
            .delete(actor.id, actor.id, self.clock.now())
            .await
    }

    /// An admin deletes an account with all its tasks and sessions.
    ///
    /// # Errors
    /// [`DomainError::Forbidden`] for a non-admin actor; [`DomainError::NotFound`];
    /// [`DomainError::Conflict`] for the last active admin.
    #[tracing::instrument(level = "debug", name = "UserService::delete", skip_all, fields(user.id = %actor.id, target.id = %id))]
    pub async fn delete(&self, actor: &User, id: Uuid) -> Result<(), DomainError> {
        require_admin(actor)?;
        match self.users.delete(id, actor.id, self.clock.now()).await {
            Err(DomainError::NotFound(_)) => Err(user_not_found(id)),
            other => other,
        }
    }

    async fn insert(&self, account: NewAccount) -> Result<User, DomainError> {
        let hash = self.hasher.hash(&account.password).await?;
        let now = self.clock.now();
        let user = User {
            id: self.ids.new_id(),
            email: account.email,
            username: account.username,
            full_name: account.full_name,
            role: account.role,
            is_active: true,
            created_at: now,
            updated_at: now,
        };
        self.users.insert(&user, &hash).await?;
        tracing::Span::current().record("created.id", tracing::field::display(user.id));
        Ok(user)
    }

    async fn check_current_password(
        &self,
        id: Uuid,
        current: Option<&str>,
    ) -> Result<(), DomainError> {
        let wrong = || DomainError::Forbidden("current_password is missing or wrong".into());
        let current = current.ok_or_else(wrong)?;
        let hash = self
            .users
            .password_hash(id)
            .await?
            .ok_or_else(|| user_not_found(id))?;
        if self.hasher.verify(current, Some(&hash)).await? {
            Ok(())
        } else {
            Err(wrong())
        }
    }

    /// Applies changes to `user` and stores them, revoking every session when the
    /// password changes or the account is deactivated; a [`changed_meanwhile`]
    /// conflict when another write to the user came after `user` was read.
    async fn apply(&self, mut user: User, changes: UserChanges) -> Result<User, DomainError> {
        let deactivated = user.is_active && changes.is_active == Some(false);
        let hash: Option<PasswordHash> = match &changes.password {
            Some(password) => Some(self.hasher.hash(password).await?),
            None => None,
        };
        if let Some(email) = changes.email {
            user.email = email;
        }
        if let Some(username) = changes.username {
            user.username = username;
        }
        if let Some(full_name) = changes.full_name {
            user.full_name = full_name;
        }
        if let Some(role) = changes.role {
            user.role = role;
        }
        if let Some(is_active) = changes.is_active {
            user.is_active = is_active;
        }
        let sessions = if hash.is_some() || deactivated {
            SessionEffect::RevokeAll
        } else {
            SessionEffect::Keep
        };
        self.users
            .update(&user, hash, sessions, self.clock.now())
            .await
    }
}

fn require_admin(actor: &User) -> Result<(), DomainError> {
    if actor.is_admin() {
        Ok(())
    } else {
        Err(DomainError::Forbidden("admin role required".into()))
    }
}

fn user_not_found(id: Uuid) -> DomainError {
    DomainError::NotFound(format!("user {id} not found"))
}
