//! The `users` table: accounts, roles and password hashes.

use sea_orm_migration::{prelude::*, schema::*};

/// Creates `users` with its unique email and case-insensitive unique username.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(pk_uuid(Users::Id))
                    // Stored already trimmed and lower-cased by the domain.
                    .col(text(Users::Email))
                    // Display case, as the user chose it.
                    .col(text_null(Users::Username))
                    // ASCII-lower-cased username: uniqueness is case-insensitive, decided
                    // by a plain unique index that works the same on both databases.
                    .col(text_null(Users::UsernameKey))
                    .col(text_null(Users::FullName))
                    .col(text(Users::Role))
                    .col(boolean(Users::IsActive))
                    .col(text(Users::PasswordHash))
                    .col(timestamp_with_time_zone(Users::CreatedAt))
                    .col(timestamp_with_time_zone(Users::UpdatedAt))
                    .to_owned(),
            )
            .await?;

        // Named unique indexes: the adapter tells "email taken" from "username taken"
        // by the index or column name in the database's error message.
        manager
            .create_index(
                Index::create()
                    .name("uq_users_email")
                    .table(Users::Table)
                    .col(Users::Email)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_users_username_key")
                    .table(Users::Table)
                    .col(Users::UsernameKey)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // The admin list pages newest first, ties by id.
        manager
            .create_index(
                Index::create()
                    .name("idx_users_created_at_id")
                    .table(Users::Table)
                    .col(Users::CreatedAt)
                    .col(Users::Id)
                    .to_owned(),
            )
            .await?;
        // The last-admin check looks for other admins.
        manager
            .create_index(
                Index::create()
                    .name("idx_users_role")
                    .table(Users::Table)
                    .col(Users::Role)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Dropping the table drops its indexes on both databases.
        manager
            .drop_table(Table::drop().table(Users::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Email,
    Username,
    UsernameKey,
    FullName,
    Role,
    IsActive,
    PasswordHash,
    CreatedAt,
    UpdatedAt,
}
