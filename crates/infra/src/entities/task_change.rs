//! The `task_changes` row: one change of one task (see the migration
//! `m20261206_000006_task_changes` for how positions work).

use sea_orm::entity::prelude::*;

/// One logged change. `seq` and `txid` are the database's: an insert leaves both unset.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "task_changes")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub seq: i64,
    /// The writing transaction's id on PostgreSQL; 0 on SQLite.
    pub txid: i64,
    pub task_id: Uuid,
    pub owner_id: Uuid,
    pub previous_owner_id: Option<Uuid>,
    /// `created`, `updated` or `deleted`.
    pub op: String,
    pub version: i64,
    pub at: DateTimeUtc,
    pub actor_id: Uuid,
    /// The changed fields, as JSON (`super::super::changes::stored`).
    pub changes: String,
    /// The task right after the change, as JSON; NULL for a deletion.
    pub task: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
