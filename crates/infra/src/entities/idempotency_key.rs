//! The `idempotency_keys` row: one key a user sent with a task write.

use sea_orm::entity::prelude::*;

/// A key, the request it came with, and what that request did once it is done.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "idempotency_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub key: String,
    /// A digest of the request (method, path, body).
    pub fingerprint: String,
    /// `running` or `done`.
    pub state: String,
    /// What the write did, as JSON, once `done`.
    pub outcome: Option<String>,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
