//! Tasks in SQL, as the domain's [`TaskRepository`] port.

use async_trait::async_trait;
use sea_orm::ActiveValue::NotSet;
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, DbErr,
    EntityTrait, FromQueryResult, Order, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use taskforge_domain::DomainError;
use taskforge_domain::page::{Page, PageRequest};
use taskforge_domain::task::{
    Description, Priority, Task, TaskFilter, TaskRepository, TaskSort, TaskSortKey, TaskStatus,
    Title, WriteLog,
};
use uuid::Uuid;

use crate::changes;
use crate::db::Database;
use crate::entities::task;
use crate::error::{corrupt_row, db_error};
use crate::like;

/// [`TaskRepository`] on PostgreSQL or SQLite through SeaORM: one statement per call.
#[derive(Debug, Clone)]
pub struct SeaTaskRepository {
    db: Database,
}

/// A page of task rows and how many rows match in all.
pub(crate) type PageRows = (Vec<task::Model>, u64);

impl SeaTaskRepository {
    /// A repository on `db` (a pool from [`crate::db::connect`], migrated).
    pub fn new(db: impl Into<Database>) -> Self {
        Self { db: db.into() }
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

/// A task row of a page, with how many rows match the whole query.
#[derive(Debug, FromQueryResult)]
struct CountedTask {
    #[sea_orm(nested)]
    task: task::Model,
    total_matching: i64,
}

fn filter_condition(filter: &TaskFilter) -> Condition {
    let mut condition = Condition::all();
    if let Some(owner_id) = filter.owner_id {
        condition = condition.add(task::Column::OwnerId.eq(owner_id));
    }
    if let Some(status) = filter.status {
        condition = condition.add(task::Column::Status.eq(status.as_str()));
    }
    if let Some(completed) = filter.completed {
        let done = TaskStatus::Done.as_str();
        condition = condition.add(if completed {
            task::Column::Status.eq(done)
        } else {
            task::Column::Status.ne(done)
        });
    }
    if let Some(priority) = filter.priority {
        condition = condition.add(task::Column::Priority.eq(priority.rank()));
    }
    if let Some(q) = &filter.q {
        let needle = q.to_lowercase();
        condition = condition.add(
            Condition::any()
                .add(task::Column::TitleSearch.like(like::contains(&needle)))
                .add(task::Column::DescriptionSearch.like(like::contains(&needle))),
        );
    }
    if let Some(before) = filter.due_before {
        condition = condition.add(task::Column::DueDate.lt(before));
    }
    if let Some(after) = filter.due_after {
        condition = condition.add(task::Column::DueDate.gt(after));
    }
    condition
}

/// The rows of one page and how many rows match in all.
pub(crate) async fn page_rows(
    db: &Database,
    filter: &TaskFilter,
    sort: TaskSort,
    page: PageRequest,
) -> Result<PageRows, DbErr> {
    let condition = filter_condition(filter);
    let query = task::Entity::find().filter(condition.clone());

    let order = if sort.descending {
        Order::Desc
    } else {
        Order::Asc
    };
    let query = match sort.key {
        TaskSortKey::CreatedAt => query.order_by(task::Column::CreatedAt, order.clone()),
        TaskSortKey::UpdatedAt => query.order_by(task::Column::UpdatedAt, order.clone()),
        // `due_date IS NULL` first (false < true on both databases) puts tasks
        // without a deadline last in either direction; portable, unlike NULLS LAST.
        TaskSortKey::DueDate => query
            .order_by(task::Column::DueDate.is_null(), Order::Asc)
            .order_by(task::Column::DueDate, order.clone()),
        // The column holds the rank, so this sorts low < medium < high.
        TaskSortKey::Priority => query.order_by(task::Column::Priority, order.clone()),
        // Code-point order: SQLite's BINARY collation, PostgreSQL's "C" on this column.
        TaskSortKey::Title => query.order_by(task::Column::Title, order.clone()),
    };
    // The id breaks ties in the same direction, so pages never repeat or skip a row.
    // The total rides along with the page as a scalar subquery: one statement
    // instead of a count and a select. (`COUNT(*) OVER ()` did the same, but made
    // PostgreSQL fetch and sort every matching row; the subquery counts index
    // entries, and the page is read in index order up to LIMIT.) Only a page past
    // the end, which has no row to carry the total, needs a separate count.
    let total_matching = Query::select()
        .expr(Expr::cust("COUNT(*)"))
        .from(task::Entity)
        .cond_where(condition)
        .to_owned();
    let rows: Vec<CountedTask> = query
        .clone()
        .order_by(task::Column::Id, order)
        .limit(page.limit())
        .offset(page.offset())
        .column_as(Expr::from(total_matching), "total_matching")
        .into_model()
        .all(db)
        .await?;
    let total = match rows.first() {
        Some(row) => u64::try_from(row.total_matching).unwrap_or_default(),
        None if page.offset() == 0 => 0,
        None => query.count(db).await?,
    };
    Ok((rows.into_iter().map(|row| row.task).collect(), total))
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
        page: PageRequest,
    ) -> Result<Page<Task>, DomainError> {
        let (rows, total) = page_rows(&self.db, filter, sort, page)
            .await
            .map_err(db_error)?;
        to_page(rows, total, page)
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

/// The domain page of some rows.
pub(crate) fn to_page(
    rows: Vec<task::Model>,
    total: u64,
    page: PageRequest,
) -> Result<Page<Task>, DomainError> {
    Ok(Page {
        items: rows.into_iter().map(to_task).collect::<Result<_, _>>()?,
        total,
        limit: page.limit(),
        offset: page.offset(),
    })
}
