//! Task updates that PostgreSQL can make HOT (heap-only): no index entry per update.
//!
//! Every write of a task sets `updated_at`. While an index holds that column, each
//! update writes a new entry into every index of `tasks`, and a task edited often leaves
//! hundreds of dead entries behind under its owner's key and its id until autovacuum
//! comes by: a benchmark of PATCHes made the next list of 20 tasks visit ~1,400 pages.
//! Without an index on `updated_at` an update that leaves the indexed columns alone
//! (owner, status, due date, created) stays on its page and is pruned there.
//!
//! The price: sorting by `updated_at` is no longer served by an index. A user's list is
//! found through the owner-leading indexes and sorted in memory, which is cheap at the
//! size of one user's tasks; an admin's list over all tasks sorted by `updated_at`
//! sorts the matching rows (a top-N sort for a page).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

/// Drops the `updated_at` indexes; on PostgreSQL leaves room on each page for the new
/// version of a row (fillfactor) and vacuums `tasks` sooner.
#[derive(DeriveMigrationName)]
pub struct Migration;

/// The indexes `m20261125_000002_create_tasks` made on `updated_at`: name and whether
/// the owner leads.
const UPDATED_AT_INDEXES: [(&str, bool); 2] = [
    ("idx_tasks_owner_id_updated_at", true),
    ("idx_tasks_updated_at", false),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, _) in UPDATED_AT_INDEXES {
            manager
                .drop_index(Index::drop().name(name).table(Tasks::Table).to_owned())
                .await?;
        }
        if manager.get_database_backend() == DbBackend::Postgres {
            // 80%: a page keeps room for the new versions of its rows, so an update
            // stays on the page. The vacuum thresholds make autovacuum visit `tasks`
            // after 2% of its rows changed rather than 20%.
            manager
                .get_connection()
                .execute_unprepared(
                    "ALTER TABLE tasks SET (fillfactor = 80, \
                     autovacuum_vacuum_scale_factor = 0.02, \
                     autovacuum_analyze_scale_factor = 0.05)",
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Postgres {
            manager
                .get_connection()
                .execute_unprepared(
                    "ALTER TABLE tasks RESET (fillfactor, \
                     autovacuum_vacuum_scale_factor, \
                     autovacuum_analyze_scale_factor)",
                )
                .await?;
        }
        for (name, owner_leads) in UPDATED_AT_INDEXES {
            let mut index = Index::create();
            index.name(name).table(Tasks::Table);
            if owner_leads {
                index.col(Tasks::OwnerId);
            }
            index.col(Tasks::UpdatedAt);
            manager.create_index(index.to_owned()).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Tasks {
    Table,
    OwnerId,
    UpdatedAt,
}
