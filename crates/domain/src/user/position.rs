//! Where a page of the user list ends: the position a cursor carries to the next page.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::model::{User, UserFilter};
use crate::DomainError;
use crate::page::cursor;

/// A user's place in the user list (newest first, ties by id descending).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UserPosition {
    /// When the user was created.
    pub created_at: DateTime<Utc>,
    /// The user's id.
    pub id: Uuid,
}

impl UserPosition {
    /// The cursor of the page after `user` in the list of `filter`.
    pub fn cursor_after(user: &User, filter: &UserFilter) -> String {
        cursor::encode(
            &list_of(filter),
            user.id,
            &user.created_at.timestamp_micros().to_string(),
        )
    }

    /// The position a cursor made by [`UserPosition::cursor_after`] for the same
    /// filter carries.
    ///
    /// # Errors
    /// [`DomainError::Validation`] on `cursor` for a malformed cursor or one of
    /// another list.
    pub fn from_cursor(raw: &str, filter: &UserFilter) -> Result<Self, DomainError> {
        let (id, value) = cursor::decode(raw, &list_of(filter))?;
        let created_at = value
            .parse::<i64>()
            .ok()
            .and_then(DateTime::from_timestamp_micros)
            .ok_or_else(cursor::malformed)?;
        Ok(Self { created_at, id })
    }
}

/// The canonical description of a user list, which its cursors are bound to.
fn list_of(filter: &UserFilter) -> String {
    format!(
        "users role={:?} is_active={:?} q={:?}",
        filter.role.map(|r| r.as_str()),
        filter.is_active,
        filter.q.as_ref().map(|q| (q.len(), q)),
    )
}
