//! The password reset and login throttle ports over an [`InMemoryStore`], with the
//! SQL adapters' contract.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{InMemoryLoginThrottle, InMemoryPasswordResetRepository, revoke_where};
use crate::DomainError;
use crate::auth::throttle::{FAILURE_WINDOW, ThrottleState};
use crate::auth::{LoginThrottleRepository, PasswordReset, PasswordResetRepository};
use crate::user::PasswordHash;

#[async_trait]
impl PasswordResetRepository for InMemoryPasswordResetRepository {
    async fn insert(&self, reset: &PasswordReset) -> Result<(), DomainError> {
        let mut state = self.0.lock();
        if !state.users.contains_key(&reset.user_id) {
            return Err(DomainError::NotFound("user not found".into()));
        }
        if state.resets.contains_key(&reset.token_digest) {
            return Err(DomainError::Conflict("already exists".into()));
        }
        state
            .resets
            .insert(reset.token_digest.clone(), (reset.clone(), None));
        Ok(())
    }

    async fn find_live(
        &self,
        token_digest: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Uuid>, DomainError> {
        let state = self.0.lock();
        Ok(state
            .resets
            .get(token_digest)
            .filter(|(r, used)| used.is_none() && r.expires_at > now)
            .map(|(r, _)| r.user_id)
            .filter(|id| state.users.get(id).is_some_and(|(u, _)| u.is_active)))
    }

    async fn complete(
        &self,
        token_digest: &str,
        password_hash: &PasswordHash,
        now: DateTime<Utc>,
    ) -> Result<bool, DomainError> {
        let mut state = self.0.lock();
        let Some(user_id) = state
            .resets
            .get(token_digest)
            .filter(|(r, used)| used.is_none() && r.expires_at > now)
            .map(|(r, _)| r.user_id)
        else {
            return Ok(false);
        };
        let Some((user, hash)) = state.users.get_mut(&user_id).filter(|(u, _)| u.is_active) else {
            return Ok(false);
        };
        *hash = password_hash.clone();
        user.updated_at = now;
        revoke_where(&mut state, now, |s| s.user_id == user_id);
        state
            .resets
            .retain(|digest, (r, _)| r.user_id != user_id || digest == token_digest);
        if let Some((_, used)) = state.resets.get_mut(token_digest) {
            *used = Some(now);
        }
        Ok(true)
    }

    async fn purge(&self, now: DateTime<Utc>) -> Result<u64, DomainError> {
        let mut state = self.0.lock();
        let before = state.resets.len();
        state
            .resets
            .retain(|_, (r, used)| used.is_none() && r.expires_at > now);
        Ok((before - state.resets.len()) as u64)
    }
}

#[async_trait]
impl LoginThrottleRepository for InMemoryLoginThrottle {
    async fn find(&self, identifier: &str) -> Result<Option<ThrottleState>, DomainError> {
        Ok(self.0.lock().throttles.get(identifier).cloned())
    }

    async fn record_failure(
        &self,
        identifier: &str,
        now: DateTime<Utc>,
    ) -> Result<ThrottleState, DomainError> {
        let mut state = self.0.lock();
        let next = ThrottleState::after_failure(state.throttles.get(identifier), now);
        state.throttles.insert(identifier.to_owned(), next.clone());
        Ok(next)
    }

    async fn clear(&self, identifier: &str) -> Result<(), DomainError> {
        self.0.lock().throttles.remove(identifier);
        Ok(())
    }

    async fn purge(&self, now: DateTime<Utc>) -> Result<u64, DomainError> {
        let mut state = self.0.lock();
        let before = state.throttles.len();
        state.throttles.retain(|_, t| {
            t.last_failure_at + FAILURE_WINDOW > now
                || t.blocked_until.is_some_and(|until| until > now)
        });
        Ok((before - state.throttles.len()) as u64)
    }
}
