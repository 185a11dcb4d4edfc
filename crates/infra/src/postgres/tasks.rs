//! [`TaskRepository`] on the fast path: reads, pages, inserts and updates batched with
//! those of concurrent requests; deletes one statement each. No write waits for a row
//! lock while holding a connection: a row held by another transaction is tried again
//! after a pause, until the lock deadline has passed.

use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use sea_orm::{DbErr, sqlx};
use taskforge_domain::DomainError;
use taskforge_domain::page::{Slice, Window};
use taskforge_domain::task::{Task, TaskFilter, TaskPosition, TaskRepository, TaskSort, WriteLog};
use uuid::Uuid;

use super::inserts::{self, NewTask, TaskInserts};
use super::logged::{self, Forms, LogArrays, LogRows};
use super::lookups::{Found, Lookup, Lookups};
use super::pages::{self, Pages};
use super::updates::{self, Change, TaskUpdate, TaskUpdates, UpdateOutcome};
use crate::db::Database;
use crate::error::{db_error, lock_not_available};
use crate::task_repository::{WriteOutcome, to_row, to_task, write_result};

/// The first pause between two tries at a held row; doubled up to [`MAX_LOCK_PAUSE`].
/// Short: most held rows are another batch's, free again within its statement.
const FIRST_LOCK_PAUSE: Duration = Duration::from_millis(1);
/// The longest pause between two tries at a held row.
const MAX_LOCK_PAUSE: Duration = Duration::from_millis(100);

/// The fast path's task repository; see [`super`].
#[derive(Clone)]
pub struct PgTaskRepository {
    db: Database,
    lookups: Arc<Lookups>,
    pages: Arc<Pages>,
    inserts: Arc<TaskInserts>,
    updates: Arc<TaskUpdates>,
}

impl std::fmt::Debug for PgTaskRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgTaskRepository")
            .field("db", &self.db)
            .finish_non_exhaustive()
    }
}

impl PgTaskRepository {
    pub(super) fn new(db: &Database, lookups: Arc<Lookups>) -> Self {
        Self {
            db: db.clone(),
            lookups,
            pages: pages::batcher(db),
            inserts: inserts::batcher(db),
            updates: updates::batcher(db),
        }
    }
}

/// Pauses between tries at a row another transaction holds, without a connection,
/// until the database's lock deadline ([`crate::db::Deadlines::lock`]) has passed.
struct LockWait {
    id: Uuid,
    deadline: Instant,
    pause: Duration,
}

impl LockWait {
    fn new(id: Uuid, wait: Duration) -> Self {
        Self {
            id,
            deadline: Instant::now() + wait,
            pause: FIRST_LOCK_PAUSE,
        }
    }

    /// Waits before the next try.
    ///
    /// # Errors
    /// [`DomainError::Unavailable`] once the next try would start after the deadline.
    async fn pause(&mut self) -> Result<(), DomainError> {
        if Instant::now() + self.pause > self.deadline {
            return Err(DomainError::Unavailable(format!(
                "task {} is held by another transaction; retry",
                self.id
            )));
        }
        tokio::time::sleep(self.pause).await;
        self.pause = (self.pause * 2).min(MAX_LOCK_PAUSE);
        Ok(())
    }
}

fn lost(what: &str) -> DomainError {
    DomainError::unexpected(format!("a batch of {what} lost a request"))
}

/// Deletes a task only while it is not held by another transaction (`NOWAIT`), only
/// while its version is `$2` when one is given, with its log (from `$3`) if it was
/// deleted; the version it had, and whether it was deleted. No row: the task is gone.
fn delete_sql(keys: bool) -> String {
    format!(
        "WITH locked AS MATERIALIZED (\
           SELECT id, version FROM tasks WHERE id = $1 FOR UPDATE NOWAIT\
         ), deleted AS (\
           DELETE FROM tasks USING locked \
           WHERE tasks.id = locked.id AND ($2::int8 IS NULL OR locked.version = $2::int8) \
           RETURNING tasks.id\
         ), {log} \
         SELECT locked.version AS current_version, deleted.id IS NOT NULL AS deleted \
         FROM locked LEFT JOIN deleted ON deleted.id = locked.id",
        log = logged::ctes(3, Some("deleted"), keys),
    )
}

pub(super) static DELETE_SQL: LazyLock<Forms> = LazyLock::new(|| Forms::new(delete_sql));

/// One delete attempt: `None` while another transaction holds the row.
async fn delete_once(
    db: &Database,
    id: Uuid,
    expected: Option<i64>,
    log: &LogArrays,
) -> Result<Option<WriteOutcome>, DbErr> {
    let rows = db
        .query_all_sqlx(|| log.bind(sqlx::query(DELETE_SQL.for_log(log)).bind(id).bind(expected)))
        .await;
    match rows.as_deref() {
        Ok([]) => Ok(Some(WriteOutcome::Gone)),
        Ok([row, ..]) if row.try_get::<bool>("", "deleted")? => {
            crate::changes::signal::committed();
            Ok(Some(WriteOutcome::Written))
        }
        Ok([_, ..]) => Ok(Some(WriteOutcome::Stale)),
        Err(err) if lock_not_available(err) => Ok(None),
        Err(_) => rows.map(|_| None),
    }
}

#[async_trait]
impl TaskRepository for PgTaskRepository {
    #[tracing::instrument(level = "debug", name = "PgTaskRepository::insert", skip_all, fields(task.id = %task.id, batch.id = tracing::field::Empty, batch.size = tracing::field::Empty))]
    async fn insert(&self, task: &Task, log: &WriteLog) -> Result<(), DomainError> {
        self.inserts
            .load(NewTask::new((to_row(task), LogRows::of(log)?)))
            .await
            .map_err(db_error)?
            .ok_or_else(|| lost("inserts"))?
            .map_err(db_error)
    }

    #[tracing::instrument(level = "debug", name = "PgTaskRepository::find_by_id", skip_all, fields(task.id = %id, batch.id = tracing::field::Empty, batch.size = tracing::field::Empty))]
    async fn find_by_id(&self, id: Uuid) -> Result<Option<Task>, DomainError> {
        match self
            .lookups
            .load(Lookup::Task(id))
            .await
            .map_err(db_error)?
        {
            Some(Found::Task(row)) => to_task(*row).map(Some),
            Some(Found::User(_)) => Err(lost("lookups")),
            None => Ok(None),
        }
    }

    #[tracing::instrument(level = "debug", name = "PgTaskRepository::list", skip_all, fields(batch.id = tracing::field::Empty, batch.size = tracing::field::Empty))]
    async fn list(
        &self,
        filter: &TaskFilter,
        sort: TaskSort,
        window: Window<TaskPosition>,
    ) -> Result<Slice<Task>, DomainError> {
        self.pages
            .load((filter.clone(), sort, window.clone()))
            .await
            .map_err(db_error)?
            .ok_or_else(|| lost("pages"))?
            .map_err(db_error)?
            .into_slice(&window)
    }

    #[tracing::instrument(level = "debug", name = "PgTaskRepository::update", skip_all, fields(task.id = %task.id, batch.id = tracing::field::Empty, batch.size = tracing::field::Empty))]
    async fn update(
        &self,
        task: &Task,
        expected_version: i64,
        log: &WriteLog,
    ) -> Result<(), DomainError> {
        let change = Change {
            row: to_row(task),
            expected: expected_version,
            log: LogRows::of(log)?,
        };
        // A row another transaction holds is tried again in a later batch: a batch of
        // another pool lets go within its statement, an outside transaction maybe not
        // before the lock deadline, and then only this request waits.
        let mut wait = LockWait::new(task.id, self.db.deadlines().lock);
        let outcome = loop {
            let outcome = self
                .updates
                .load(TaskUpdate::new(change.clone()))
                .await
                .map_err(db_error)?
                .ok_or_else(|| lost("updates"))?;
            match outcome {
                UpdateOutcome::Contended => wait.pause().await?,
                settled => break settled,
            }
        };
        let outcome = match outcome {
            UpdateOutcome::Updated => WriteOutcome::Written,
            UpdateOutcome::Stale => WriteOutcome::Stale,
            UpdateOutcome::Gone => WriteOutcome::Gone,
            UpdateOutcome::Failed(err) => return Err(db_error(err)),
            UpdateOutcome::Contended => return Err(lost("updates")),
        };
        write_result(task.id, outcome)
    }

    #[tracing::instrument(level = "debug", name = "PgTaskRepository::delete", skip_all, fields(task.id = %id))]
    async fn delete(
        &self,
        id: Uuid,
        expected_version: Option<i64>,
        log: &WriteLog,
    ) -> Result<(), DomainError> {
        let log = LogArrays::of(&[&LogRows::of(log)?]).map_err(db_error)?;
        let mut wait = LockWait::new(id, self.db.deadlines().lock);
        loop {
            match delete_once(&self.db, id, expected_version, &log).await {
                Ok(Some(outcome)) => return write_result(id, outcome),
                Ok(None) => wait.pause().await?,
                Err(err) => return Err(db_error(err)),
            }
        }
    }
}
