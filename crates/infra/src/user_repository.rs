//! Users in SQL, as the domain's [`UserRepository`] port.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::{NotSet, Set, Unchanged};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use taskforge_domain::DomainError;
use taskforge_domain::page::{Slice, Window};
use taskforge_domain::user::{
    Email, FullName, LoginIdentifier, PasswordHash, Role, SessionEffect, User, UserCredentials,
    UserFilter, UserPosition, UserRepository, Username, changed_meanwhile,
};
use uuid::Uuid;

use crate::changes;
use crate::db::Database;
use crate::entities::{session, task, user};
use crate::error::{corrupt_row, db_error};
use crate::session_repository::revoke_all_sessions;
use crate::{like, paging};

/// [`UserRepository`] on PostgreSQL or SQLite through SeaORM.
#[derive(Debug, Clone)]
pub struct SeaUserRepository {
    db: Database,
}

impl SeaUserRepository {
    /// A repository on `db` (a pool from [`crate::db::connect`], migrated).
    pub fn new(db: impl Into<Database>) -> Self {
        Self { db: db.into() }
    }
}

fn user_not_found(id: Uuid) -> DomainError {
    DomainError::NotFound(format!("user {id} not found"))
}

/// The domain user of a row; a row the value objects reject is a storage failure.
pub(crate) fn user_from_row(row: user::Model) -> Result<User, DomainError> {
    let id = row.id;
    let corrupt = |err| corrupt_row("users", id, err);
    let full_name = match row.full_name.as_deref() {
        Some(name) => FullName::parse(name).map_err(corrupt)?,
        None => None,
    };
    Ok(User {
        id,
        email: Email::parse(&row.email).map_err(corrupt)?,
        username: row
            .username
            .as_deref()
            .map(Username::parse)
            .transpose()
            .map_err(corrupt)?,
        full_name,
        role: Role::parse(&row.role).map_err(corrupt)?,
        is_active: row.is_active,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

/// Every column of `user` but the password hash, which callers set or leave.
fn to_active_model(user: &User) -> user::ActiveModel {
    user::ActiveModel {
        id: Set(user.id),
        email: Set(user.email.as_str().to_owned()),
        username: Set(user.username.as_ref().map(|u| u.as_str().to_owned())),
        username_key: Set(user.username.as_ref().map(Username::key)),
        full_name: Set(user.full_name.as_ref().map(|n| n.as_str().to_owned())),
        role: Set(user.role.as_str().to_owned()),
        is_active: Set(user.is_active),
        password_hash: NotSet,
        created_at: Set(user.created_at),
        updated_at: Set(user.updated_at),
    }
}

fn is_active_admin(row: &user::Model) -> bool {
    row.role == Role::Admin.as_str() && row.is_active
}

/// Whether an active admin other than `except` exists, inside `txn`.
///
/// On PostgreSQL every active admin row is locked (`FOR UPDATE`, in id order), so two
/// transactions demoting or deleting different admins queue up instead of both seeing
/// the other still in place — and, locking in one order, never deadlock. The second
/// one re-reads the rows after the first commits and no longer counts the demoted
/// admin. SQLite needs no lock: its single connection runs one transaction at a time.
async fn another_active_admin_exists(
    txn: &DatabaseTransaction,
    except: Uuid,
) -> Result<bool, DomainError> {
    let mut query = user::Entity::find()
        .select_only()
        .column(user::Column::Id)
        .filter(user::Column::Role.eq(Role::Admin.as_str()))
        .filter(user::Column::IsActive.eq(true))
        .order_by_asc(user::Column::Id);
    if txn.get_database_backend() == DbBackend::Postgres {
        query = query.lock_exclusive();
    }
    let admins: Vec<Uuid> = query.into_tuple().all(txn).await.map_err(db_error)?;
    Ok(admins.iter().any(|id| *id != except))
}

/// How many times a user's deletion starts again when a task write that committed
/// after it began is ordered after it in the change log (see [`delete_in`]).
const DELETE_ATTEMPTS: usize = 3;

/// How a deletion attempt ended.
enum Deletion {
    Done,
    /// A write to the user's tasks is ordered after this transaction in the change log:
    /// its deletions would read as older than that write. Start again.
    Overtaken,
}

/// Deletes user `id`, their tasks (each deletion in the change log, of the version
/// deleted) and their sessions, inside `txn`.
///
/// On PostgreSQL the user's row is locked first: a task cannot be created for them or
/// handed to them meanwhile (the foreign-key check shares that lock). Then their tasks
/// are locked, waiting for writes in flight. The change log orders writes by
/// transaction id, and a write that got its id after this transaction but committed
/// before the locks were granted would be read as newer than the deletion: in that
/// case the attempt is given up, to start again with a newer id. SQLite runs one
/// writer at a time, so none of this can happen there.
async fn delete_in(
    txn: &DatabaseTransaction,
    id: Uuid,
    actor_id: Uuid,
    at: DateTime<Utc>,
) -> Result<Deletion, DomainError> {
    let backend = txn.get_database_backend();
    let stored = user::Entity::find_by_id(id)
        .one(txn)
        .await
        .map_err(db_error)?
        .ok_or_else(|| user_not_found(id))?;
    // The admins are locked in id order first (see `another_active_admin_exists`), the
    // user's row, if an admin, with them.
    if is_active_admin(&stored) && !another_active_admin_exists(txn, id).await? {
        return Err(DomainError::Conflict(
            "cannot delete the last active admin".to_owned(),
        ));
    }
    if backend == DbBackend::Postgres {
        let locked = user::Entity::find_by_id(id)
            .lock_exclusive()
            .one(txn)
            .await
            .map_err(db_error)?
            .ok_or_else(|| user_not_found(id))?;
        if !is_active_admin(&stored)
            && is_active_admin(&locked)
            && !another_active_admin_exists(txn, id).await?
        {
            return Err(DomainError::Conflict(
                "cannot delete the last active admin".to_owned(),
            ));
        }
        let _: Vec<Uuid> = task::Entity::find()
            .select_only()
            .column(task::Column::Id)
            .filter(task::Column::OwnerId.eq(id))
            .order_by_asc(task::Column::Id)
            .lock_exclusive()
            .into_tuple()
            .all(txn)
            .await
            .map_err(db_error)?;
        if changes::log::changed_after_this_transaction(txn, id).await? {
            return Ok(Deletion::Overtaken);
        }
    }
    // Each task leaves its deletion in the change log, in this transaction.
    changes::log::delete_owned_tasks(txn, id, actor_id, at).await?;
    session::Entity::delete_many()
        .filter(session::Column::UserId.eq(id))
        .exec(txn)
        .await
        .map_err(db_error)?;
    user::Entity::delete_by_id(id)
        .exec(txn)
        .await
        .map_err(db_error)?;
    Ok(Deletion::Done)
}

#[async_trait]
impl UserRepository for SeaUserRepository {
    #[tracing::instrument(level = "debug", name = "SeaUserRepository::insert", skip_all, fields(user.id = %user.id))]
    async fn insert(&self, user: &User, password_hash: &PasswordHash) -> Result<(), DomainError> {
        let mut row = to_active_model(user);
        row.password_hash = Set(password_hash.as_str().to_owned());
        user::Entity::insert(row)
            .exec_without_returning(&self.db)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", name = "SeaUserRepository::find_by_id", skip_all, fields(user.id = %id))]
    async fn find_by_id(&self, id: Uuid) -> Result<Option<User>, DomainError> {
        user::Entity::find_by_id(id)
            .one(&self.db)
            .await
            .map_err(db_error)?
            .map(user_from_row)
            .transpose()
    }

    #[tracing::instrument(level = "debug", name = "SeaUserRepository::find_by_email", skip_all)]
    async fn find_by_email(&self, email: &str) -> Result<Option<User>, DomainError> {
        user::Entity::find()
            .filter(user::Column::Email.eq(email))
            .one(&self.db)
            .await
            .map_err(db_error)?
            .map(user_from_row)
            .transpose()
    }

    #[tracing::instrument(
        level = "debug",
        name = "SeaUserRepository::find_credentials",
        skip_all
    )]
    async fn find_credentials(
        &self,
        identifier: &LoginIdentifier,
    ) -> Result<Option<UserCredentials>, DomainError> {
        let condition = match identifier {
            LoginIdentifier::Email(email) => user::Column::Email.eq(email.as_str()),
            // Usernames are ASCII; the key column holds their ASCII lower case.
            LoginIdentifier::Username(name) => {
                user::Column::UsernameKey.eq(name.to_ascii_lowercase())
            }
        };
        let Some(row) = user::Entity::find()
            .filter(condition)
            .one(&self.db)
            .await
            .map_err(db_error)?
        else {
            return Ok(None);
        };
        let password_hash = PasswordHash::new(row.password_hash.clone());
        Ok(Some(UserCredentials {
            user: user_from_row(row)?,
            password_hash,
        }))
    }

    #[tracing::instrument(level = "debug", name = "SeaUserRepository::password_hash", skip_all, fields(user.id = %id))]
    async fn password_hash(&self, id: Uuid) -> Result<Option<PasswordHash>, DomainError> {
        let hash: Option<String> = user::Entity::find_by_id(id)
            .select_only()
            .column(user::Column::PasswordHash)
            .into_tuple()
            .one(&self.db)
            .await
            .map_err(db_error)?;
        Ok(hash.map(PasswordHash::new))
    }

    #[tracing::instrument(level = "debug", name = "SeaUserRepository::list", skip_all)]
    async fn list(
        &self,
        filter: &UserFilter,
        window: Window<UserPosition>,
    ) -> Result<Slice<User>, DomainError> {
        let mut condition = Condition::all();
        if let Some(q) = &filter.q {
            // Emails are stored Unicode-lower-cased, username keys ASCII-lower-cased.
            let needle = q.to_lowercase();
            condition = condition.add(
                Condition::any()
                    .add(user::Column::Email.like(like::contains(&needle)))
                    .add(user::Column::UsernameKey.like(like::contains(&needle))),
            );
        }
        if let Some(role) = filter.role {
            condition = condition.add(user::Column::Role.eq(role.as_str()));
        }
        if let Some(is_active) = filter.is_active {
            condition = condition.add(user::Column::IsActive.eq(is_active));
        }

        // Newest first, ties by id: a range of `idx_users_created_at_id` read
        // backwards from the position, and a count that stops after the cap.
        let count = paging::capped_count(user::Entity, condition.clone(), window.count_cap);
        let mut query = user::Entity::find().filter(condition);
        if let Some(position) = &window.after {
            query = query.filter(paging::after(
                Expr::col(user::Column::CreatedAt),
                Expr::col(user::Column::Id),
                Expr::val(position.created_at),
                Expr::val(position.id),
                true,
            ));
        }
        let rows = query
            .order_by_desc(user::Column::CreatedAt)
            .order_by_desc(user::Column::Id)
            .limit(window.limit.saturating_add(1))
            .offset(window.offset)
            .all(&self.db)
            .await
            .map_err(db_error)?;
        let proved = paging::past_the_cap(&window).filter(|_| !rows.is_empty());
        let matching = match proved {
            Some(matching) => matching,
            None => match self.db.query_one(&count).await.map_err(db_error)? {
                Some(row) => u64::try_from(row.try_get_by_index::<i64>(0).map_err(db_error)?)
                    .unwrap_or_default(),
                None => 0,
            },
        };
        let (total, total_exact) = window.total_of(matching);
        let limit = usize::try_from(window.limit).unwrap_or(usize::MAX);
        Ok(Slice {
            more: rows.len() > limit,
            items: rows
                .into_iter()
                .take(limit)
                .map(user_from_row)
                .collect::<Result<_, _>>()?,
            total,
            total_exact,
        })
    }

    #[tracing::instrument(level = "debug", name = "SeaUserRepository::update", skip_all, fields(user.id = %user.id))]
    async fn update(
        &self,
        user: &User,
        password_hash: Option<PasswordHash>,
        sessions: SessionEffect,
        now: DateTime<Utc>,
    ) -> Result<User, DomainError> {
        let txn = self.db.begin().await.map_err(db_error)?;
        let stored = user::Entity::find_by_id(user.id)
            .one(&txn)
            .await
            .map_err(db_error)?
            .ok_or_else(|| user_not_found(user.id))?;
        if is_active_admin(&stored)
            && !user.is_active_admin()
            && !another_active_admin_exists(&txn, user.id).await?
        {
            return Err(DomainError::Conflict(
                "cannot demote or deactivate the last active admin".to_owned(),
            ));
        }

        let mut row = to_active_model(user);
        row.id = Unchanged(user.id);
        row.updated_at = Set(now);
        let password_changes = password_hash.is_some();
        if let Some(hash) = password_hash {
            row.password_hash = Set(hash.as_str().to_owned());
        }
        // Written only over the version `user` was read from: a write that came
        // between (an admin's demotion, say) is never undone by this one.
        let updated = user::Entity::update_many()
            .set(row)
            .filter(user::Column::Id.eq(user.id))
            .filter(user::Column::UpdatedAt.eq(user.updated_at))
            .exec_with_returning(&txn)
            .await
            .map_err(db_error)?
            .into_iter()
            .next()
            .ok_or_else(|| changed_meanwhile(user.id))?;
        if password_changes {
            // A reset token must not outlive the password it was sent to replace.
            crate::password_reset_repository::delete_resets_of(&txn, user.id).await?;
        }
        if sessions == SessionEffect::RevokeAll {
            revoke_all_sessions(&txn, user.id, now).await?;
        }
        txn.commit().await.map_err(db_error)?;
        user_from_row(updated)
    }

    #[tracing::instrument(level = "debug", name = "SeaUserRepository::delete", skip_all, fields(user.id = %id))]
    async fn delete(&self, id: Uuid, actor_id: Uuid, at: DateTime<Utc>) -> Result<(), DomainError> {
        for _ in 0..DELETE_ATTEMPTS {
            let txn = self.db.begin().await.map_err(db_error)?;
            match delete_in(&txn, id, actor_id, at).await? {
                Deletion::Done => {
                    txn.commit().await.map_err(db_error)?;
                    changes::signal::committed();
                    return Ok(());
                }
                Deletion::Overtaken => txn.rollback().await.map_err(db_error)?,
            }
        }
        Err(DomainError::Unavailable(
            "the user's tasks kept changing while they were being deleted".to_owned(),
        ))
    }
}
