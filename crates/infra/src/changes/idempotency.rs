//! Idempotency keys in SQL, as the domain's [`IdempotencyRepository`] port. A key's
//! outcome is stored by the writing repository, in the write's transaction
//! ([`super::log::record`]); this claims, gives back and purges.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, FromQueryResult};
use taskforge_domain::DomainError;
use taskforge_domain::idempotency::{Claim, IdempotencyKey, IdempotencyRepository};
use uuid::Uuid;

use super::log::statement;
use super::rows::{KEY_DONE, KEY_RUNNING, outcome_from_json};
use crate::db::Database;
use crate::entities::idempotency_key;
use crate::error::db_error;
use crate::purge;

/// [`IdempotencyRepository`] on PostgreSQL or SQLite through SeaORM.
#[derive(Debug, Clone)]
pub struct SeaIdempotencyRepository {
    db: Database,
}

impl SeaIdempotencyRepository {
    /// The keys on `db` (a pool from [`crate::db::connect`], migrated).
    pub fn new(db: impl Into<Database>) -> Self {
        Self { db: db.into() }
    }
}

/// Takes a key that is free, expired, or claimed by a request that never finished, in
/// one statement: of parallel claims exactly one inserts or updates the row. `$7` is
/// the running state.
const CLAIM_SQL: &str = "INSERT INTO idempotency_keys \
     (user_id, key, fingerprint, state, outcome, created_at, expires_at) \
     VALUES ($1, $2, $3, $7, NULL, $4, $5) \
     ON CONFLICT (user_id, key) DO UPDATE SET fingerprint = excluded.fingerprint, \
       state = excluded.state, outcome = NULL, created_at = excluded.created_at, \
       expires_at = excluded.expires_at \
     WHERE idempotency_keys.expires_at <= $4 \
       OR (idempotency_keys.state = $7 AND idempotency_keys.created_at < $6) \
     RETURNING user_id";

/// What a key holds, when it was not free.
#[derive(Debug, FromQueryResult)]
struct Held {
    fingerprint: String,
    state: String,
    outcome: Option<String>,
}

/// How often a claim is tried again when the key it found taken was given back
/// before it could be read.
const CLAIM_ATTEMPTS: usize = 3;

#[async_trait]
impl IdempotencyRepository for SeaIdempotencyRepository {
    #[tracing::instrument(level = "debug", name = "SeaIdempotencyRepository::claim", skip_all, fields(user.id = %user_id))]
    async fn claim(
        &self,
        user_id: Uuid,
        key: &IdempotencyKey,
        fingerprint: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> Result<Claim, DomainError> {
        let backend = self.db.get_database_backend();
        for _ in 0..CLAIM_ATTEMPTS {
            let claimed = self
                .db
                .query_one_raw(statement(
                    backend,
                    CLAIM_SQL,
                    vec![
                        user_id.into(),
                        key.as_str().into(),
                        fingerprint.into(),
                        now.into(),
                        expires_at.into(),
                        stale_before.into(),
                        KEY_RUNNING.into(),
                    ],
                ))
                .await
                .map_err(db_error)?;
            if claimed.is_some() {
                return Ok(Claim::Claimed);
            }
            let held = Held::find_by_statement(statement(
                backend,
                "SELECT fingerprint, state, outcome FROM idempotency_keys \
                 WHERE user_id = $1 AND key = $2",
                vec![user_id.into(), key.as_str().into()],
            ))
            .one(&self.db)
            .await
            .map_err(db_error)?;
            let Some(held) = held else {
                // Given back between the two statements: try again.
                continue;
            };
            return Ok(if held.fingerprint != fingerprint {
                Claim::Mismatch
            } else if let (KEY_DONE, Some(outcome)) = (held.state.as_str(), &held.outcome) {
                Claim::Done(outcome_from_json(outcome)?)
            } else {
                Claim::InProgress
            });
        }
        Ok(Claim::InProgress)
    }

    #[tracing::instrument(level = "debug", name = "SeaIdempotencyRepository::release", skip_all, fields(user.id = %user_id))]
    async fn release(&self, user_id: Uuid, key: &IdempotencyKey) -> Result<(), DomainError> {
        let backend = self.db.get_database_backend();
        self.db
            .execute_raw(statement(
                backend,
                "DELETE FROM idempotency_keys \
                 WHERE user_id = $1 AND key = $2 AND state = $3",
                vec![user_id.into(), key.as_str().into(), KEY_RUNNING.into()],
            ))
            .await
            .map_err(db_error)?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", name = "SeaIdempotencyRepository::purge", skip_all)]
    async fn purge(&self, now: DateTime<Utc>) -> Result<u64, DomainError> {
        purge::in_batches::<idempotency_key::Entity, _>(
            &self.db,
            Condition::all().add(idempotency_key::Column::ExpiresAt.lte(now)),
        )
        .await
        .map_err(db_error)
    }
}
