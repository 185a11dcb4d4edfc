//! Password reset tokens in SQL, as the domain's [`PasswordResetRepository`] port.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};
use taskforge_domain::DomainError;
use taskforge_domain::auth::{PasswordReset, PasswordResetRepository};
use taskforge_domain::user::PasswordHash;
use uuid::Uuid;

use crate::db::Database;
use crate::entities::{password_reset, user};
use crate::error::db_error;
use crate::purge;
use crate::session_repository::revoke_all_sessions;

/// [`PasswordResetRepository`] on PostgreSQL or SQLite through SeaORM.
#[derive(Debug, Clone)]
pub struct SeaPasswordResetRepository {
    db: Database,
}

impl SeaPasswordResetRepository {
    /// A repository on `db` (a pool from [`crate::db::connect`], migrated).
    pub fn new(db: impl Into<Database>) -> Self {
        Self { db: db.into() }
    }
}

/// Deletes every reset of `user_id` on `db` — in the transaction of a password change.
pub(crate) async fn delete_resets_of<C: ConnectionTrait>(
    db: &C,
    user_id: Uuid,
) -> Result<(), DomainError> {
    password_reset::Entity::delete_many()
        .filter(password_reset::Column::UserId.eq(user_id))
        .exec(db)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// The user of the live reset with this digest, whose account is active, read on `db`
/// (locking the reset row on PostgreSQL when `lock` is set).
async fn live_user<C: ConnectionTrait>(
    db: &C,
    token_digest: &str,
    now: DateTime<Utc>,
    lock: bool,
) -> Result<Option<Uuid>, DomainError> {
    let mut query = password_reset::Entity::find()
        .inner_join(user::Entity)
        .filter(password_reset::Column::TokenHash.eq(token_digest))
        .filter(password_reset::Column::UsedAt.is_null())
        .filter(password_reset::Column::ExpiresAt.gt(now))
        .filter(user::Column::IsActive.eq(true));
    if lock {
        query = query.lock_exclusive();
    }
    Ok(query
        .one(db)
        .await
        .map_err(db_error)?
        .map(|row| row.user_id))
}

#[async_trait]
impl PasswordResetRepository for SeaPasswordResetRepository {
    #[tracing::instrument(level = "debug", name = "SeaPasswordResetRepository::insert", skip_all, fields(user.id = %reset.user_id))]
    async fn insert(&self, reset: &PasswordReset) -> Result<(), DomainError> {
        let row = password_reset::ActiveModel {
            token_hash: Set(reset.token_digest.clone()),
            user_id: Set(reset.user_id),
            created_at: Set(reset.created_at),
            expires_at: Set(reset.expires_at),
            used_at: Set(None),
        };
        password_reset::Entity::insert(row)
            .exec_without_returning(&self.db)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    #[tracing::instrument(
        level = "debug",
        name = "SeaPasswordResetRepository::find_live",
        skip_all
    )]
    async fn find_live(
        &self,
        token_digest: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Uuid>, DomainError> {
        live_user(&self.db, token_digest, now, false).await
    }

    #[tracing::instrument(
        level = "debug",
        name = "SeaPasswordResetRepository::complete",
        skip_all
    )]
    async fn complete(
        &self,
        token_digest: &str,
        password_hash: &PasswordHash,
        now: DateTime<Utc>,
    ) -> Result<bool, DomainError> {
        let txn = self.db.begin().await.map_err(db_error)?;
        let Some(user_id) = live_user(&txn, token_digest, now, true).await? else {
            return Ok(false);
        };
        // The conditional update spends the token: of parallel completions, the one
        // that finds it unused wins; the others wait for its row and match nothing.
        let spent = password_reset::Entity::update_many()
            .col_expr(password_reset::Column::UsedAt, Expr::value(Some(now)))
            .filter(password_reset::Column::TokenHash.eq(token_digest))
            .filter(password_reset::Column::UsedAt.is_null())
            .exec(&txn)
            .await
            .map_err(db_error)?
            .rows_affected;
        if spent != 1 {
            return Ok(false);
        }
        user::Entity::update_many()
            .col_expr(
                user::Column::PasswordHash,
                Expr::value(password_hash.as_str()),
            )
            .col_expr(user::Column::UpdatedAt, Expr::value(now))
            .filter(user::Column::Id.eq(user_id))
            .exec(&txn)
            .await
            .map_err(db_error)?;
        revoke_all_sessions(&txn, user_id, now).await?;
        // Every other token of the user dies with the old password.
        password_reset::Entity::delete_many()
            .filter(password_reset::Column::UserId.eq(user_id))
            .filter(password_reset::Column::TokenHash.ne(token_digest))
            .exec(&txn)
            .await
            .map_err(db_error)?;
        txn.commit().await.map_err(db_error)?;
        Ok(true)
    }

    #[tracing::instrument(level = "debug", name = "SeaPasswordResetRepository::purge", skip_all)]
    async fn purge(&self, now: DateTime<Utc>) -> Result<u64, DomainError> {
        purge::in_batches::<password_reset::Entity, _>(
            &self.db,
            Condition::any()
                .add(password_reset::Column::ExpiresAt.lte(now))
                .add(password_reset::Column::UsedAt.is_not_null()),
        )
        .await
        .map_err(db_error)
    }
}
