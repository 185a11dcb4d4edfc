//! The task change log and the idempotency keys of task writes.
//!
//! `task_changes` holds one row per task write (created, updated, deleted), appended in
//! the same transaction as the write. Readers follow it by position: on PostgreSQL the
//! writing transaction's id (`txid`) then `seq`, because sequence numbers are handed out
//! before commit and so commit out of order, while a reader can know which transaction
//! ids are finished for good (every id below its snapshot's `xmin`); on SQLite, where
//! one writer commits at a time, `seq` alone orders them and `txid` is always 0. Each
//! insert into the log notifies the channel `task_changes` on PostgreSQL, so that live
//! streams on every instance wake up.
//!
//! `task_change_horizon` remembers the last position purged, so that a reader whose
//! cursor is older is told the log no longer goes back that far.
//!
//! `idempotency_keys` holds each key a user sent with a task write: the request it was
//! sent with (a fingerprint), whether that request is still running, and what it did.

use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};
use sea_orm_migration::{prelude::*, schema::*};

/// Creates `task_changes`, `task_change_horizon` and `idempotency_keys`.
#[derive(DeriveMigrationName)]
pub struct Migration;

/// On PostgreSQL the position is the primary key: the log is read and purged in that
/// order, and one index fewer is one write fewer per task write.
const POSTGRES_TABLE: &str = "CREATE TABLE task_changes (\
     txid bigint NOT NULL DEFAULT (pg_current_xact_id()::text::bigint), \
     seq bigint GENERATED ALWAYS AS IDENTITY, \
     task_id uuid NOT NULL, \
     owner_id uuid NOT NULL, \
     previous_owner_id uuid NULL, \
     op text NOT NULL, \
     version bigint NOT NULL, \
     at timestamptz NOT NULL, \
     actor_id uuid NOT NULL, \
     changes text NOT NULL, \
     task text NULL, \
     PRIMARY KEY (txid, seq))";

/// `AUTOINCREMENT`: a position is never handed out twice, even after the newest rows
/// were purged.
const SQLITE_TABLE: &str = "CREATE TABLE task_changes (\
     seq integer PRIMARY KEY AUTOINCREMENT, \
     txid bigint NOT NULL DEFAULT 0, \
     task_id uuid_text NOT NULL, \
     owner_id uuid_text NOT NULL, \
     previous_owner_id uuid_text NULL, \
     op text NOT NULL, \
     version bigint NOT NULL, \
     at timestamp_with_timezone_text NOT NULL, \
     actor_id uuid_text NOT NULL, \
     changes text NOT NULL, \
     task text NULL)";

/// The indexes both databases need: a viewer's changes (as owner, and as the owner a
/// task was taken from), a task's history. The partial index holds reassignments only.
const INDEXES: [&str; 3] = [
    "CREATE INDEX idx_task_changes_owner ON task_changes (owner_id, txid, seq)",
    "CREATE INDEX idx_task_changes_previous_owner ON task_changes \
     (previous_owner_id, txid, seq) WHERE previous_owner_id IS NOT NULL",
    "CREATE INDEX idx_task_changes_task ON task_changes (task_id, seq)",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if manager.get_database_backend() == DbBackend::Postgres {
            db.execute_unprepared(POSTGRES_TABLE).await?;
        } else {
            db.execute_unprepared(SQLITE_TABLE).await?;
            db.execute_unprepared(
                "CREATE INDEX idx_task_changes_position ON task_changes (txid, seq)",
            )
            .await?;
        }
        for statement in INDEXES {
            db.execute_unprepared(statement).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(TaskChangeHorizon::Table)
                    .col(small_integer(TaskChangeHorizon::Id).primary_key())
                    .col(big_integer(TaskChangeHorizon::Txid))
                    .col(big_integer(TaskChangeHorizon::Seq))
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(TaskChangeHorizon::Table)
                    .columns([
                        TaskChangeHorizon::Id,
                        TaskChangeHorizon::Txid,
                        TaskChangeHorizon::Seq,
                    ])
                    .values_panic([1.into(), 0.into(), 0.into()])
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(IdempotencyKeys::Table)
                    .col(uuid(IdempotencyKeys::UserId))
                    .col(text(IdempotencyKeys::Key))
                    .col(text(IdempotencyKeys::Fingerprint))
                    // `running` until the write completes, then `done` with its outcome.
                    .col(text(IdempotencyKeys::State))
                    .col(text_null(IdempotencyKeys::Outcome))
                    .col(timestamp_with_time_zone(IdempotencyKeys::CreatedAt))
                    .col(timestamp_with_time_zone(IdempotencyKeys::ExpiresAt))
                    .primary_key(
                        Index::create()
                            .col(IdempotencyKeys::UserId)
                            .col(IdempotencyKeys::Key),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_idempotency_keys_user_id")
                            .from(IdempotencyKeys::Table, IdempotencyKeys::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // The periodic purge of expired keys.
        manager
            .create_index(
                Index::create()
                    .name("idx_idempotency_keys_expires_at")
                    .table(IdempotencyKeys::Table)
                    .col(IdempotencyKeys::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(IdempotencyKeys::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(TaskChangeHorizon::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(TaskChanges::Table).to_owned())
            .await?;
        Ok(())
    }
}

#[derive(DeriveIden)]
enum TaskChanges {
    Table,
}

#[derive(DeriveIden)]
enum TaskChangeHorizon {
    Table,
    Id,
    Txid,
    Seq,
}

#[derive(DeriveIden)]
enum IdempotencyKeys {
    Table,
    UserId,
    Key,
    Fingerprint,
    State,
    Outcome,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}
