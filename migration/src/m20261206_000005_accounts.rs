//! Accounts a product can ship: where each login session comes from and when it was
//! last used, single-use password reset tokens (stored only as hashes), and the
//! per-account login throttle that every instance shares.

use sea_orm_migration::{prelude::*, schema::*};

/// Adds `user_agent`, `ip` and `last_used_at` to `sessions`; creates `password_resets`
/// and `login_throttles`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite's ALTER TABLE takes one change at a time.
        // All nullable, so existing sessions stay valid (a missing `last_used_at`
        // reads as the session's start).
        for column in [
            string_len_null(Sessions::UserAgent, 256),
            string_len_null(Sessions::Ip, 45),
            timestamp_with_time_zone_null(Sessions::LastUsedAt),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Sessions::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(PasswordResets::Table)
                    // SHA-256 of the token, hex: the token itself is never stored.
                    .col(string_len(PasswordResets::TokenHash, 64).primary_key())
                    .col(uuid(PasswordResets::UserId))
                    .col(timestamp_with_time_zone(PasswordResets::CreatedAt))
                    .col(timestamp_with_time_zone(PasswordResets::ExpiresAt))
                    .col(timestamp_with_time_zone_null(PasswordResets::UsedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_password_resets_user_id")
                            .from(PasswordResets::Table, PasswordResets::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // Killing every token of a user when their password changes.
        manager
            .create_index(
                Index::create()
                    .name("idx_password_resets_user_id")
                    .table(PasswordResets::Table)
                    .col(PasswordResets::UserId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(LoginThrottles::Table)
                    // The normalised login identifier, whether or not an account has it.
                    .col(string(LoginThrottles::Identifier).primary_key())
                    .col(integer(LoginThrottles::Failures))
                    .col(timestamp_with_time_zone(LoginThrottles::WindowStartedAt))
                    .col(timestamp_with_time_zone(LoginThrottles::LastFailureAt))
                    .col(timestamp_with_time_zone_null(LoginThrottles::BlockedUntil))
                    .to_owned(),
            )
            .await?;
        // The purge of throttles whose window has passed.
        manager
            .create_index(
                Index::create()
                    .name("idx_login_throttles_last_failure_at")
                    .table(LoginThrottles::Table)
                    .col(LoginThrottles::LastFailureAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(LoginThrottles::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(PasswordResets::Table).to_owned())
            .await?;
        for column in [Sessions::LastUsedAt, Sessions::Ip, Sessions::UserAgent] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Sessions::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    UserAgent,
    Ip,
    LastUsedAt,
}

#[derive(DeriveIden)]
enum PasswordResets {
    Table,
    TokenHash,
    UserId,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}

#[derive(DeriveIden)]
enum LoginThrottles {
    Table,
    Identifier,
    Failures,
    WindowStartedAt,
    LastFailureAt,
    BlockedUntil,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}
