//! The per-account login throttle in SQL, as the domain's [`LoginThrottleRepository`]
//! port: every instance reads and counts in the same rows.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::{ColumnTrait, Condition, EntityTrait, QuerySelect};
use taskforge_domain::DomainError;
use taskforge_domain::auth::LoginThrottleRepository;
use taskforge_domain::auth::throttle::{FAILURE_WINDOW, ThrottleState};

use crate::db::Database;
use crate::entities::login_throttle;
use crate::error::db_error;
use crate::purge;

/// [`LoginThrottleRepository`] on PostgreSQL or SQLite through SeaORM.
#[derive(Debug, Clone)]
pub struct SeaLoginThrottle {
    db: Database,
}

impl SeaLoginThrottle {
    /// A repository on `db` (a pool from [`crate::db::connect`], migrated).
    pub fn new(db: impl Into<Database>) -> Self {
        Self { db: db.into() }
    }
}

fn to_state(row: login_throttle::Model) -> ThrottleState {
    ThrottleState {
        failures: u32::try_from(row.failures).unwrap_or(0),
        window_started_at: row.window_started_at,
        last_failure_at: row.last_failure_at,
        blocked_until: row.blocked_until,
    }
}

fn to_row(identifier: &str, state: &ThrottleState) -> login_throttle::ActiveModel {
    login_throttle::ActiveModel {
        identifier: Set(identifier.to_owned()),
        failures: Set(i32::try_from(state.failures).unwrap_or(i32::MAX)),
        window_started_at: Set(state.window_started_at),
        last_failure_at: Set(state.last_failure_at),
        blocked_until: Set(state.blocked_until),
    }
}

#[async_trait]
impl LoginThrottleRepository for SeaLoginThrottle {
    #[tracing::instrument(level = "debug", name = "SeaLoginThrottle::find", skip_all)]
    async fn find(&self, identifier: &str) -> Result<Option<ThrottleState>, DomainError> {
        Ok(login_throttle::Entity::find_by_id(identifier.to_owned())
            .one(&self.db)
            .await
            .map_err(db_error)?
            .map(to_state))
    }

    #[tracing::instrument(level = "debug", name = "SeaLoginThrottle::record_failure", skip_all)]
    async fn record_failure(
        &self,
        identifier: &str,
        now: DateTime<Utc>,
    ) -> Result<ThrottleState, DomainError> {
        let txn = self.db.begin().await.map_err(db_error)?;
        // Make sure the row exists, then lock it (PostgreSQL; SQLite runs one writer
        // at a time): parallel failures of one identifier are counted one after the
        // other, none lost. The placeholder is a failure that lapsed long ago, which
        // the rule treats as no count at all.
        let lapsed = ThrottleState {
            failures: 0,
            window_started_at: now - FAILURE_WINDOW - FAILURE_WINDOW,
            last_failure_at: now - FAILURE_WINDOW - FAILURE_WINDOW,
            blocked_until: None,
        };
        login_throttle::Entity::insert(to_row(identifier, &lapsed))
            .on_conflict_do_nothing_on([login_throttle::Column::Identifier])
            .exec_without_returning(&txn)
            .await
            .map_err(db_error)?;
        let stored = login_throttle::Entity::find_by_id(identifier.to_owned())
            .lock_exclusive()
            .one(&txn)
            .await
            .map_err(db_error)?
            .map(to_state);
        let next = ThrottleState::after_failure(stored.as_ref(), now);
        login_throttle::Entity::update(to_row(identifier, &next))
            .exec(&txn)
            .await
            .map_err(db_error)?;
        txn.commit().await.map_err(db_error)?;
        Ok(next)
    }

    #[tracing::instrument(level = "debug", name = "SeaLoginThrottle::clear", skip_all)]
    async fn clear(&self, identifier: &str) -> Result<(), DomainError> {
        login_throttle::Entity::delete_by_id(identifier.to_owned())
            .exec(&self.db)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", name = "SeaLoginThrottle::purge", skip_all)]
    async fn purge(&self, now: DateTime<Utc>) -> Result<u64, DomainError> {
        // Stale by the domain's rule: the count has lapsed (at most a window after the
        // last failure) and no wait runs. A row younger than that is kept; the rule
        // decides the rest when it is next read.
        purge::in_batches::<login_throttle::Entity, _>(
            &self.db,
            Condition::all()
                .add(login_throttle::Column::LastFailureAt.lte(now - FAILURE_WINDOW))
                .add(
                    Condition::any()
                        .add(login_throttle::Column::BlockedUntil.is_null())
                        .add(login_throttle::Column::BlockedUntil.lte(now)),
                ),
        )
        .await
        .map_err(db_error)
    }
}
