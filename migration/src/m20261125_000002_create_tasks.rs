//! The `tasks` table: what users track, with an optimistic-concurrency version.

use sea_orm_migration::sea_orm::DbBackend;
use sea_orm_migration::{prelude::*, schema::*};

/// Creates `tasks`, owned by a user and deleted with them.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut title = text(Tasks::Title);
        if manager.get_database_backend() == DbBackend::Postgres {
            // Sorting by title is by code point. SQLite's default BINARY collation
            // already compares UTF-8 bytes (= code points); PostgreSQL needs "C".
            title.extra(r#"COLLATE "C""#);
        }

        manager
            .create_table(
                Table::create()
                    .table(Tasks::Table)
                    .col(pk_uuid(Tasks::Id))
                    .col(uuid(Tasks::OwnerId))
                    .col(title)
                    .col(text_null(Tasks::Description))
                    // Unicode-lower-cased copies of title and description, written by
                    // the adapter in Rust, so a case-insensitive search gives the same
                    // answer on both databases (SQLite's LOWER() folds ASCII only).
                    .col(text(Tasks::TitleSearch))
                    .col(text_null(Tasks::DescriptionSearch))
                    .col(text(Tasks::Status))
                    // The rank (low = 1, medium = 2, high = 3): sorting the column sorts by rank.
                    .col(small_integer(Tasks::Priority))
                    .col(timestamp_with_time_zone_null(Tasks::DueDate))
                    .col(timestamp_with_time_zone_null(Tasks::CompletedAt))
                    .col(timestamp_with_time_zone(Tasks::CreatedAt))
                    .col(timestamp_with_time_zone(Tasks::UpdatedAt))
                    .col(big_integer(Tasks::Version))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_tasks_owner_id")
                            .from(Tasks::Table, Tasks::OwnerId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        // A user's list filters by owner and sorts by one of these; an admin's list
        // sorts all tasks by them; status is the most common filter.
        let indexes: [(&str, Option<Tasks>, Tasks); 8] = [
            (
                "idx_tasks_owner_id_created_at",
                Some(Tasks::OwnerId),
                Tasks::CreatedAt,
            ),
            (
                "idx_tasks_owner_id_updated_at",
                Some(Tasks::OwnerId),
                Tasks::UpdatedAt,
            ),
            (
                "idx_tasks_owner_id_due_date",
                Some(Tasks::OwnerId),
                Tasks::DueDate,
            ),
            (
                "idx_tasks_owner_id_status",
                Some(Tasks::OwnerId),
                Tasks::Status,
            ),
            ("idx_tasks_created_at", None, Tasks::CreatedAt),
            ("idx_tasks_updated_at", None, Tasks::UpdatedAt),
            ("idx_tasks_due_date", None, Tasks::DueDate),
            ("idx_tasks_status", None, Tasks::Status),
        ];
        for (name, leading, column) in indexes {
            let mut index = Index::create();
            index.name(name).table(Tasks::Table);
            if let Some(leading) = leading {
                index.col(leading);
            }
            index.col(column);
            manager.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Dropping the table drops its indexes and foreign key on both databases.
        manager
            .drop_table(Table::drop().table(Tasks::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Tasks {
    Table,
    Id,
    OwnerId,
    Title,
    Description,
    TitleSearch,
    DescriptionSearch,
    Status,
    Priority,
    DueDate,
    CompletedAt,
    CreatedAt,
    UpdatedAt,
    Version,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}
