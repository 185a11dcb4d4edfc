//! Tasks in SQL, as the domain's [`TaskRepository`] port.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use futures_util::future::try_join_all;
use sea_orm::sea_query::{Expr, IntoCondition, Query};
use sea_orm::{
    ColumnTrait, Condition, DbErr, EntityTrait, FromQueryResult, Order, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, QueryTrait,
};
use taskforge_domain::DomainError;
use taskforge_domain::page::{Page, PageRequest};
use taskforge_domain::task::{
    Description, Priority, Task, TaskFilter, TaskRepository, TaskSort, TaskSortKey, TaskStatus,
    Title,
};
use taskforge_domain::user::User;
use uuid::Uuid;

use crate::db::Database;
use crate::db::batch::{self, Batcher};
use crate::entities::{session, task, user};
use crate::error::{corrupt_row, db_error};
use crate::like;
use crate::session_lookup::{self, SessionTasks};
use crate::task_inserts::{self, NewTask, TaskInserts};
use crate::task_updates::{self, TaskUpdate, TaskUpdates, UpdateOutcome};

/// [`TaskRepository`] on PostgreSQL or SQLite through SeaORM.
#[derive(Clone)]
pub struct SeaTaskRepository {
    db: Database,
    /// Concurrent session checks with a task answered together (PostgreSQL request
    /// pools).
    session_tasks: Option<Arc<SessionTasks>>,
    /// Identical page requests queued together answered by one statement
    /// (PostgreSQL request pools).
    pages: Option<Arc<Pages>>,
    /// New tasks of concurrent requests written by one statement (PostgreSQL request
    /// pools).
    inserts: Option<Arc<TaskInserts>>,
    /// Updates of concurrent requests written by one statement (PostgreSQL request
    /// pools).
    updates: Option<Arc<TaskUpdates>>,
}

impl std::fmt::Debug for SeaTaskRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeaTaskRepository")
            .field("db", &self.db)
            .finish_non_exhaustive()
    }
}

/// A page of task rows and how many rows match in all.
type PageRows = (Vec<task::Model>, u64);

/// What a page is: filter, order and window.
type PageKey = (TaskFilter, TaskSort, PageRequest);

/// Page requests queued on one worker, the identical ones answered once: a batch runs
/// one statement per distinct page. Several clients asking for the same page at once
/// (a dashboard polled by many) cost one statement; requests for different pages cost
/// what they cost alone.
type Pages = Batcher<PageKey, PageRows>;

/// Batches of pages that may run at once on one worker.
const CONCURRENT_PAGE_BATCHES: usize = 2;

impl SeaTaskRepository {
    /// A repository on `db` (a pool from [`crate::db::connect`], migrated).
    pub fn new(db: impl Into<Database>) -> Self {
        let db = db.into();
        let pages = batch::on_database(&db, CONCURRENT_PAGE_BATCHES, |db, keys| async move {
            load_pages(&db, keys).await
        });
        Self {
            session_tasks: session_lookup::session_tasks(&db),
            inserts: task_inserts::task_inserts(&db),
            updates: task_updates::task_updates(&db),
            pages,
            db,
        }
    }
}

fn task_not_found(id: Uuid) -> DomainError {
    DomainError::NotFound(format!("task {id} not found"))
}

/// The domain's word for what a conditional write of task `id` did.
fn write_result(id: Uuid, outcome: UpdateOutcome) -> Result<(), DomainError> {
    match outcome {
        UpdateOutcome::Updated => Ok(()),
        UpdateOutcome::Stale => Err(DomainError::PreconditionFailed(
            "task version changed".to_owned(),
        )),
        UpdateOutcome::Gone => Err(task_not_found(id)),
        UpdateOutcome::Failed(err) => Err(db_error(err)),
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
fn to_task(row: task::Model) -> Result<Task, DomainError> {
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

/// The user of a live session and a task, whoever owns it, in one statement:
/// `SELECT users.*, tasks.* FROM users JOIN sessions ON sessions.user_id = users.id
///  LEFT JOIN tasks ON tasks.id = $2 WHERE sessions.id = $1 AND revoked_at IS NULL`.
async fn find_with_session_user(
    db: &Database,
    session_id: Uuid,
    id: Uuid,
) -> Result<Option<(user::Model, Option<task::Model>)>, DbErr> {
    let mut query = user::Entity::find()
        .inner_join(session::Entity)
        .filter(session::Column::Id.eq(session_id))
        .filter(session::Column::RevokedAt.is_null())
        .select_also(task::Entity);
    QueryTrait::query(&mut query).left_join(task::Entity, task::Column::Id.eq(id).into_condition());
    query.one(db).await
}

/// The rows of one page and how many rows match in all.
async fn page_rows(
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

/// One batch of pages: each distinct page by its own statement, all at once.
async fn load_pages(
    db: &Database,
    keys: Vec<PageKey>,
) -> Result<HashMap<PageKey, PageRows>, DbErr> {
    try_join_all(keys.into_iter().map(|key| async move {
        let rows = page_rows(db, &key.0, key.1, key.2).await?;
        Ok::<_, DbErr>((key, rows))
    }))
    .await
    .map(|pages| pages.into_iter().collect())
}

#[async_trait]
impl TaskRepository for SeaTaskRepository {
    async fn insert(&self, task: &Task) -> Result<(), DomainError> {
        let row = to_row(task);
        let inserted = match &self.inserts {
            Some(inserts) => inserts.load(NewTask::new(row)).await.map_err(db_error)?,
            None => Some(task_inserts::insert_one(&self.db, row).await),
        };
        match inserted {
            Some(result) => result.map_err(db_error),
            None => Err(DomainError::unexpected("a batch of inserts lost a task")),
        }
    }

    async fn find_by_id(&self, id: Uuid) -> Result<Option<Task>, DomainError> {
        task::Entity::find_by_id(id)
            .one(&self.db)
            .await
            .map_err(db_error)?
            .map(to_task)
            .transpose()
    }

    async fn find_with_session_user(
        &self,
        session_id: Uuid,
        id: Uuid,
    ) -> Result<Option<(User, Option<Task>)>, DomainError> {
        let row = match &self.session_tasks {
            Some(batches) => batches.load((session_id, id)).await,
            None => find_with_session_user(&self.db, session_id, id).await,
        };
        let Some((user_row, task_row)) = row.map_err(db_error)? else {
            return Ok(None);
        };
        let user = crate::user_repository::user_from_row(user_row)?;
        Ok(Some((user, task_row.map(to_task).transpose()?)))
    }

    async fn list(
        &self,
        filter: &TaskFilter,
        sort: TaskSort,
        page: PageRequest,
    ) -> Result<Page<Task>, DomainError> {
        let rows = match &self.pages {
            Some(pages) => pages.load((filter.clone(), sort, page)).await,
            None => page_rows(&self.db, filter, sort, page).await.map(Some),
        };
        let Some((rows, total)) = rows.map_err(db_error)? else {
            return Err(DomainError::unexpected("a batch of pages lost a page"));
        };
        Ok(Page {
            items: rows.into_iter().map(to_task).collect::<Result<_, _>>()?,
            total,
            limit: page.limit(),
            offset: page.offset(),
        })
    }

    async fn update(&self, task: &Task, expected_version: i64) -> Result<(), DomainError> {
        // One conditional statement (or one row of a batch's): of parallel writers
        // holding the same version, the first to commit changes the version and every
        // other matches no row.
        let update = TaskUpdate::new(task_updates::Change {
            row: to_row(task),
            expected: expected_version,
        });
        let outcome = match &self.updates {
            Some(updates) => updates
                .load(update)
                .await
                .map_err(db_error)?
                .ok_or_else(|| DomainError::unexpected("a batch of updates lost a task"))?,
            None => task_updates::update_one(&self.db, &update).await,
        };
        write_result(task.id, outcome)
    }

    async fn delete(&self, id: Uuid, expected_version: Option<i64>) -> Result<(), DomainError> {
        let mut query = task::Entity::delete_many().filter(task::Column::Id.eq(id));
        if let Some(version) = expected_version {
            query = query.filter(task::Column::Version.eq(version));
        }
        let result = query.exec(&self.db).await.map_err(db_error)?;
        if result.rows_affected > 0 {
            return Ok(());
        }
        match expected_version {
            Some(_) => write_result(id, task_updates::explain_miss(&self.db, id).await),
            None => Err(task_not_found(id)),
        }
    }
}
