//! The `task_recency` row (PostgreSQL only): a task's `updated_at` and owner, indexed
//! for the list's `updated_at` sort so that `tasks` needs no index on that column and
//! its updates stay HOT. Triggers write it (`m20261206_000009_task_recency`); the
//! adapters only read it.

use sea_orm::entity::prelude::*;

/// A task's position in the `updated_at` sort.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "task_recency")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub task_id: Uuid,
    pub owner_id: Uuid,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::task::Entity",
        from = "Column::TaskId",
        to = "super::task::Column::Id"
    )]
    Task,
}

impl ActiveModelBehavior for ActiveModel {}
