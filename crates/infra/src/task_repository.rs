//! Tasks in SQL, as the domain's [`TaskRepository`] port.

use std::sync::Arc;

use async_trait::async_trait;
use sea_orm::ActiveValue::NotSet;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait,
    PaginatorTrait, QueryFilter,
};
use taskforge_domain::DomainError;
use taskforge_domain::page::{Slice, Window};
use taskforge_domain::task::{
    Description, Priority, Task, TaskFilter, TaskPosition, TaskRepository, TaskSort, TaskStatus,
    Title, WriteLog,
};
use uuid::Uuid;

use crate::changes;
use crate::db::Database;
use crate::entities::task;
use crate::error::{corrupt_row, db_error};

pub(crate) mod kept_boundaries;
pub(crate) mod kept_counts;
pub(crate) mod pages;
mod search;

pub use kept_counts::KEEP_COUNTS_FROM;

/// [`TaskRepository`] on PostgreSQL or SQLite through SeaORM: one statement per call.
/// Large lists' counts are kept between pages ([`kept_counts`]), and where deep pages
/// by offset start ([`kept_boundaries`]).
#[derive(Debug, Clone)]
pub struct SeaTaskRepository {
    db: Database,
    kept: Arc<kept_counts::KeptCounts>,
    boundaries: Arc<kept_boundaries::KeptBoundaries>,
}

impl SeaTaskRepository {
    /// A repository on `db` (a pool from [`crate::db::connect`], migrated).
    pub fn new(db: impl Into<Database>) -> Self {
        Self {
            db: db.into(),
            kept: Arc::default(),
            boundaries: Arc::default(),
        }
    }
}

/// What a conditional write of one task did.
#[derive(Debug)]
pub(crate) enum WriteOutcome {
    /// The row had the expected version (if one was expected) and is written.
    Written,
    /// The row is there with another version.
    Stale,
    /// There is no such row.
    Gone,
}

fn task_not_found(id: Uuid) -> DomainError {
    DomainError::NotFound(format!("task {id} not found"))
}

/// The domain's word for what a conditional write of task `id` did.
pub(crate) fn write_result(id: Uuid, outcome: WriteOutcome) -> Result<(), DomainError> {
    match outcome {
        WriteOutcome::Written => Ok(()),
        WriteOutcome::Stale => Err(DomainError::PreconditionFailed(
            "task version changed".to_owned(),
        )),
        WriteOutcome::Gone => Err(task_not_found(id)),
    }
}

/// The row of `task`, including the lower-cased search copies of its texts.
/// Lower-casing happens here, in Rust, because SQLite's `LOWER()` folds ASCII only:
/// "ÉCOLE" must find "école" on both databases.
pub(crate) fn to_row(task: &Task) -> task::Model {
    let description = task.description.as_ref().map(|d| d.as_str().to_owned());
    task::Model {
        id: task.id,
        owner_id: task.owner_id,
        title: task.title.as_str().to_owned(),
        title_search: task.title.as_str().to_lowercase(),
        description_search: description.as_deref().map(str::to_lowercase),
        description,
        status: task.status.as_str().to_owned(),
        priority: task.priority.rank(),
        due_date: task.due_date,
        completed_at: task.completed_at,
        created_at: task.created_at,
        updated_at: task.updated_at,
        version: task.version,
    }
}

/// The domain task of a row; a row the value objects reject is a storage failure.
pub(crate) fn to_task(row: task::Model) -> Result<Task, DomainError> {
    let id = row.id;
    let corrupt = |err| corrupt_row("tasks", id, err);
    let priority = Priority::from_rank(row.priority).ok_or_else(|| {
        corrupt(DomainError::invalid(
            "priority",
            format!("unknown rank {}", row.priority),
        ))
    })?;
    Ok(Task {
        id,
        owner_id: row.owner_id,
        title: Title::parse(&row.title).map_err(corrupt)?,
        description: row
            .description
            .as_deref()
            .map(Description::parse)
            .transpose()
            .map_err(corrupt)?,
        status: TaskStatus::parse(&row.status).map_err(corrupt)?,
        priority,
        due_date: row.due_date,
        completed_at: row.completed_at,
        created_at: row.created_at,
        updated_at: row.updated_at,
        version: row.version,
    })
}

/// Inserts one row.
pub(crate) async fn insert_one(db: &impl ConnectionTrait, row: task::Model) -> Result<(), DbErr> {
    task::Entity::insert(task::ActiveModel::from(row).reset_all())
        .exec_without_returning(db)
        .await
        .map(|_| ())
}

/// Writes every column of `row` only while the stored version is `expected`.
async fn update_one(
    db: &impl ConnectionTrait,
    row: task::Model,
    expected: i64,
) -> Result<WriteOutcome, DbErr> {
    let id = row.id;
    let mut active = task::ActiveModel::from(row).reset_all();
    active.id = NotSet;
    let done = task::Entity::update_many()
        .set(active)
        .filter(task::Column::Id.eq(id))
        .filter(task::Column::Version.eq(expected))
        .exec(db)
        .await?;
    if done.rows_affected > 0 {
        return Ok(WriteOutcome::Written);
    }
    explain_miss(db, id).await
}

/// What a conditional write that matched no row means: the task is there with another
/// version, or it is gone.
async fn explain_miss(db: &impl ConnectionTrait, id: Uuid) -> Result<WriteOutcome, DbErr> {
    match task::Entity::find_by_id(id).count(db).await? {
        0 => Ok(WriteOutcome::Gone),
        _ => Ok(WriteOutcome::Stale),
    }
}

/// Commits `txn` with `log` when the write in it succeeded; rolls it back (on drop)
/// otherwise.
async fn commit_logged(
    txn: DatabaseTransaction,
    id: Uuid,
    outcome: WriteOutcome,
    log: &WriteLog,
) -> Result<(), DomainError> {
    if matches!(outcome, WriteOutcome::Written) {
        changes::log::record(&txn, log).await?;
        txn.commit().await.map_err(db_error)?;
        changes::signal::committed();
    }
    write_result(id, outcome)
}

#[async_trait]
impl TaskRepository for SeaTaskRepository {
    #[tracing::instrument(level = "debug", name = "SeaTaskRepository::insert", skip_all, fields(task.id = %task.id))]
    async fn insert(&self, task: &Task, log: &WriteLog) -> Result<(), DomainError> {
        let txn = self.db.begin().await.map_err(db_error)?;
        insert_one(&txn, to_row(task)).await.map_err(db_error)?;
        commit_logged(txn, task.id, WriteOutcome::Written, log).await
    }

    #[tracing::instrument(level = "debug", name = "SeaTaskRepository::find_by_id", skip_all, fields(task.id = %id))]
    async fn find_by_id(&self, id: Uuid) -> Result<Option<Task>, DomainError> {
        task::Entity::find_by_id(id)
            .one(&self.db)
            .await
            .map_err(db_error)?
            .map(to_task)
            .transpose()
    }

    #[tracing::instrument(level = "debug", name = "SeaTaskRepository::list", skip_all)]
    async fn list(
        &self,
        filter: &TaskFilter,
        sort: TaskSort,
        window: Window<TaskPosition>,
    ) -> Result<Slice<Task>, DomainError> {
        let ticket = self.kept.ticket(filter, window.count_cap).await;
        let rows = self
            .boundaries
            .page_rows(&self.db, filter, sort, &window, ticket.counting())
            .await
            .map_err(db_error)?;
        ticket.learn(&rows);
        rows.into_slice(&window)
    }

    #[tracing::instrument(level = "debug", name = "SeaTaskRepository::update", skip_all, fields(task.id = %task.id))]
    async fn update(
        &self,
        task: &Task,
        expected_version: i64,
        log: &WriteLog,
    ) -> Result<(), DomainError> {
        // One conditional statement: of parallel writers holding the same version, the
        // first to commit changes the version and every other matches no row.
        let txn = self.db.begin().await.map_err(db_error)?;
        let outcome = update_one(&txn, to_row(task), expected_version)
            .await
            .map_err(db_error)?;
        commit_logged(txn, task.id, outcome, log).await
    }

    #[tracing::instrument(level = "debug", name = "SeaTaskRepository::delete", skip_all, fields(task.id = %id))]
    async fn delete(
        &self,
        id: Uuid,
        expected_version: Option<i64>,
        log: &WriteLog,
    ) -> Result<(), DomainError> {
        let txn = self.db.begin().await.map_err(db_error)?;
        let mut query = task::Entity::delete_many().filter(task::Column::Id.eq(id));
        if let Some(version) = expected_version {
            query = query.filter(task::Column::Version.eq(version));
        }
        let result = query.exec(&txn).await.map_err(db_error)?;
        let outcome = if result.rows_affected > 0 {
            WriteOutcome::Written
        } else if expected_version.is_some() {
            explain_miss(&txn, id).await.map_err(db_error)?
        } else {
            WriteOutcome::Gone
        };
        commit_logged(txn, id, outcome, log).await
    }
}
