//! Login sessions in SQL, as the domain's [`SessionRepository`] port.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use taskforge_domain::DomainError;
use taskforge_domain::auth::{ClientInfo, Rotation, Session, SessionRepository, SessionSummary};
use taskforge_domain::page::{Page, PageRequest};
use taskforge_domain::user::User;
use uuid::Uuid;

use crate::db::Database;
use crate::entities::{session, user};
use crate::error::db_error;
use crate::purge;

/// [`SessionRepository`] on PostgreSQL or SQLite through SeaORM.
#[derive(Debug, Clone)]
pub struct SeaSessionRepository {
    db: Database,
}

impl SeaSessionRepository {
    /// A repository on `db` (a pool from [`crate::db::connect`], migrated).
    pub fn new(db: impl Into<Database>) -> Self {
        Self { db: db.into() }
    }
}

fn to_session(row: session::Model) -> Session {
    Session {
        id: row.id,
        user_id: row.user_id,
        refresh_jti: row.refresh_jti,
        created_at: row.created_at,
        expires_at: row.expires_at,
        revoked_at: row.revoked_at,
    }
}

fn to_summary(row: session::Model) -> SessionSummary {
    SessionSummary {
        id: row.id,
        created_at: row.created_at,
        last_used_at: row.last_used_at.unwrap_or(row.created_at),
        expires_at: row.expires_at,
        user_agent: row.user_agent,
        ip: row.ip,
    }
}

/// The live sessions of `user_id` at `now`.
fn live_of(user_id: Uuid, now: DateTime<Utc>) -> Condition {
    Condition::all()
        .add(session::Column::UserId.eq(user_id))
        .add(session::Column::RevokedAt.is_null())
        .add(session::Column::ExpiresAt.gt(now))
}

/// Revokes every live session of `user_id` on `db` — a connection or the transaction
/// of a user change that must revoke in the same commit.
pub(crate) async fn revoke_all_sessions<C: ConnectionTrait>(
    db: &C,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), DomainError> {
    revoke_where(db, session::Column::UserId.eq(user_id).into(), now).await
}

/// Sets `revoked_at = now` on the unrevoked sessions matching `condition`; an earlier
/// revocation instant is kept.
async fn revoke_where<C: ConnectionTrait>(
    db: &C,
    condition: Condition,
    now: DateTime<Utc>,
) -> Result<(), DomainError> {
    session::Entity::update_many()
        .col_expr(session::Column::RevokedAt, Expr::value(now))
        .filter(condition)
        .filter(session::Column::RevokedAt.is_null())
        .exec(db)
        .await
        .map_err(db_error)?;
    Ok(())
}

#[async_trait]
impl SessionRepository for SeaSessionRepository {
    #[tracing::instrument(level = "debug", name = "SeaSessionRepository::insert", skip_all, fields(session.id = %session.id))]
    async fn insert(&self, session: &Session) -> Result<(), DomainError> {
        self.start(session, &ClientInfo::default()).await
    }

    #[tracing::instrument(level = "debug", name = "SeaSessionRepository::start", skip_all, fields(session.id = %session.id))]
    async fn start(&self, session: &Session, client: &ClientInfo) -> Result<(), DomainError> {
        let row = session::ActiveModel {
            id: Set(session.id),
            user_id: Set(session.user_id),
            refresh_jti: Set(session.refresh_jti),
            created_at: Set(session.created_at),
            expires_at: Set(session.expires_at),
            revoked_at: Set(session.revoked_at),
            user_agent: Set(client.user_agent.clone()),
            ip: Set(client.ip.clone()),
            last_used_at: Set(Some(session.created_at)),
        };
        session::Entity::insert(row)
            .exec_without_returning(&self.db)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", name = "SeaSessionRepository::rotate", skip_all, fields(session.id = %session_id))]
    async fn rotate(
        &self,
        session_id: Uuid,
        presented_jti: Uuid,
        new_jti: Uuid,
        new_expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Rotation, DomainError> {
        let txn = self.db.begin().await.map_err(db_error)?;
        // The conditional update is the whole race: on PostgreSQL a parallel rotation
        // of the same token waits for this row, then re-checks the condition against
        // the committed row and matches nothing; on SQLite the single connection runs
        // one rotation at a time.
        let rotated = session::Entity::update_many()
            .col_expr(session::Column::RefreshJti, Expr::value(new_jti))
            .col_expr(session::Column::ExpiresAt, Expr::value(new_expires_at))
            .col_expr(session::Column::LastUsedAt, Expr::value(Some(now)))
            .filter(session::Column::Id.eq(session_id))
            .filter(session::Column::RefreshJti.eq(presented_jti))
            .filter(session::Column::RevokedAt.is_null())
            .filter(session::Column::ExpiresAt.gt(now))
            .exec(&txn)
            .await
            .map_err(db_error)?
            .rows_affected;

        let stored = session::Entity::find_by_id(session_id)
            .one(&txn)
            .await
            .map_err(db_error)?;
        let outcome = match stored {
            Some(row) if rotated == 1 => Rotation::Rotated(to_session(row)),
            // A live session whose current token is another one: the presented token
            // was spent before. Whoever holds it may be a thief — end the session.
            Some(row)
                if row.revoked_at.is_none()
                    && row.expires_at > now
                    && row.refresh_jti != presented_jti =>
            {
                revoke_where(&txn, session::Column::Id.eq(session_id).into(), now).await?;
                Rotation::ReuseDetected
            }
            _ => Rotation::Rejected,
        };
        txn.commit().await.map_err(db_error)?;
        if outcome == Rotation::ReuseDetected {
            // A security event; the domain has no logger, so the adapter reports it.
            tracing::warn!(%session_id, "refresh token reuse detected; session revoked");
        }
        Ok(outcome)
    }

    #[tracing::instrument(level = "debug", name = "SeaSessionRepository::find_session_user", skip_all, fields(session.id = %session_id))]
    async fn find_session_user(&self, session_id: Uuid) -> Result<Option<User>, DomainError> {
        // One round trip: the user row, joined to the live session.
        let row = user::Entity::find()
            .inner_join(session::Entity)
            .filter(session::Column::Id.eq(session_id))
            .filter(session::Column::RevokedAt.is_null())
            .limit(1)
            .one(&self.db)
            .await
            .map_err(db_error)?;
        row.map(crate::user_repository::user_from_row).transpose()
    }

    #[tracing::instrument(level = "debug", name = "SeaSessionRepository::list_live", skip_all, fields(user.id = %user_id))]
    async fn list_live(
        &self,
        user_id: Uuid,
        now: DateTime<Utc>,
        page: PageRequest,
    ) -> Result<Page<SessionSummary>, DomainError> {
        let live = session::Entity::find().filter(live_of(user_id, now));
        let total = live.clone().count(&self.db).await.map_err(db_error)?;
        let rows = live
            .order_by_desc(session::Column::CreatedAt)
            .order_by_desc(session::Column::Id)
            .offset(page.offset())
            .limit(page.limit())
            .all(&self.db)
            .await
            .map_err(db_error)?;
        Ok(Page {
            items: rows.into_iter().map(to_summary).collect(),
            total,
            limit: page.limit(),
            offset: page.offset(),
        })
    }

    #[tracing::instrument(level = "debug", name = "SeaSessionRepository::revoke_own", skip_all, fields(user.id = %user_id, session.id = %session_id))]
    async fn revoke_own(
        &self,
        user_id: Uuid,
        session_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<bool, DomainError> {
        let revoked = session::Entity::update_many()
            .col_expr(session::Column::RevokedAt, Expr::value(now))
            .filter(live_of(user_id, now))
            .filter(session::Column::Id.eq(session_id))
            .exec(&self.db)
            .await
            .map_err(db_error)?
            .rows_affected;
        Ok(revoked == 1)
    }

    #[tracing::instrument(level = "debug", name = "SeaSessionRepository::revoke", skip_all, fields(session.id = %session_id))]
    async fn revoke(&self, session_id: Uuid, now: DateTime<Utc>) -> Result<(), DomainError> {
        revoke_where(&self.db, session::Column::Id.eq(session_id).into(), now).await
    }

    #[tracing::instrument(level = "debug", name = "SeaSessionRepository::revoke_all", skip_all, fields(user.id = %user_id))]
    async fn revoke_all(&self, user_id: Uuid, now: DateTime<Utc>) -> Result<(), DomainError> {
        revoke_all_sessions(&self.db, user_id, now).await
    }

    #[tracing::instrument(level = "debug", name = "SeaSessionRepository::purge", skip_all)]
    async fn purge(&self, now: DateTime<Utc>) -> Result<u64, DomainError> {
        purge::in_batches::<session::Entity, _>(
            &self.db,
            Condition::any()
                .add(session::Column::ExpiresAt.lte(now))
                .add(session::Column::RevokedAt.is_not_null()),
        )
        .await
        .map_err(db_error)
    }
}
