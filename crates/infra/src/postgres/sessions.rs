//! [`SessionRepository`] on the fast path: the per-request session check is batched
//! with the lookups of concurrent requests; everything else is the plain adapter's.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use taskforge_domain::DomainError;
use taskforge_domain::auth::{ClientInfo, Rotation, Session, SessionRepository, SessionSummary};
use taskforge_domain::page::{Page, PageRequest};
use taskforge_domain::user::User;
use uuid::Uuid;

use super::lookups::{Found, Lookup, Lookups};
use crate::SeaSessionRepository;
use crate::error::db_error;
use crate::user_repository::user_from_row;

/// The fast path's session repository: [`SeaSessionRepository`] with the session check
/// of [`SessionRepository::find_session_user`] batched.
#[derive(Clone)]
pub struct PgSessionRepository {
    plain: SeaSessionRepository,
    lookups: Arc<Lookups>,
}

impl std::fmt::Debug for PgSessionRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgSessionRepository")
            .field("plain", &self.plain)
            .finish_non_exhaustive()
    }
}

impl PgSessionRepository {
    pub(super) fn new(plain: SeaSessionRepository, lookups: Arc<Lookups>) -> Self {
        Self { plain, lookups }
    }
}

#[async_trait]
impl SessionRepository for PgSessionRepository {
    async fn insert(&self, session: &Session) -> Result<(), DomainError> {
        self.plain.insert(session).await
    }

    async fn start(&self, session: &Session, client: &ClientInfo) -> Result<(), DomainError> {
        self.plain.start(session, client).await
    }

    async fn list_live(
        &self,
        user_id: Uuid,
        now: DateTime<Utc>,
        page: PageRequest,
    ) -> Result<Page<SessionSummary>, DomainError> {
        self.plain.list_live(user_id, now, page).await
    }

    async fn revoke_own(
        &self,
        user_id: Uuid,
        session_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<bool, DomainError> {
        self.plain.revoke_own(user_id, session_id, now).await
    }

    async fn rotate(
        &self,
        session_id: Uuid,
        presented_jti: Uuid,
        new_jti: Uuid,
        new_expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Rotation, DomainError> {
        self.plain
            .rotate(session_id, presented_jti, new_jti, new_expires_at, now)
            .await
    }

    #[tracing::instrument(level = "debug", name = "PgSessionRepository::find_session_user", skip_all, fields(session.id = %session_id, batch.id = tracing::field::Empty, batch.size = tracing::field::Empty))]
    async fn find_session_user(&self, session_id: Uuid) -> Result<Option<User>, DomainError> {
        match self
            .lookups
            .load(Lookup::SessionUser(session_id))
            .await
            .map_err(db_error)?
        {
            Some(Found::User(row)) => user_from_row(*row).map(Some),
            Some(Found::Task(_)) => Err(DomainError::unexpected(
                "a batch of lookups answered a session with a task",
            )),
            None => Ok(None),
        }
    }

    async fn revoke(&self, session_id: Uuid, now: DateTime<Utc>) -> Result<(), DomainError> {
        self.plain.revoke(session_id, now).await
    }

    async fn revoke_all(&self, user_id: Uuid, now: DateTime<Utc>) -> Result<(), DomainError> {
        self.plain.revoke_all(user_id, now).await
    }

    async fn purge(&self, now: DateTime<Utc>) -> Result<u64, DomainError> {
        self.plain.purge(now).await
    }
}
