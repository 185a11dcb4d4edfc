//! The `tasks` row.

use sea_orm::entity::prelude::*;

/// One task, with the lower-cased search copies of its texts: the one definition of the
/// row, from which the fast path's batched statements derive theirs (`postgres::rows`).
/// As JSON (the change log's copy of a task) it leaves the search copies out: they are
/// made again from the texts.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
#[sea_orm(table_name = "tasks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub owner_id: Uuid,
    pub title: String,
    pub description: Option<String>,
    /// Unicode `to_lowercase()` of `title`, what `q` searches.
    #[serde(skip)]
    pub title_search: String,
    /// Unicode `to_lowercase()` of `description`, what `q` searches.
    #[serde(skip)]
    pub description_search: Option<String>,
    pub status: String,
    /// The priority's rank (1 low, 2 medium, 3 high).
    pub priority: i16,
    pub due_date: Option<DateTimeUtc>,
    pub completed_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub version: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::user::Entity",
        from = "Column::OwnerId",
        to = "super::user::Column::Id",
        on_delete = "Cascade"
    )]
    Owner,
}

impl Related<super::user::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Owner.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
