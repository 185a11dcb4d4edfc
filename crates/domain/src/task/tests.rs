//! Unit tests of the task rules, against mockall mocks of the ports, one file per rule
//! family; this file holds what they share.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};

use super::changes::WriteLog;
use super::model::{Description, Priority, Task, TaskStatus, Title};
use super::ports::{MockTaskChangeLog, MockTaskRepository};
use super::service::{Precondition, TaskDraft, TaskPatch, TaskScope, TaskService, Written};
use crate::DomainError;
use crate::idempotency::{Idempotency, IdempotencyKey, MockIdempotencyRepository};
use crate::testing::{SequentialIds, TaskBuilder};
use crate::tests::fixtures::{clock, now};
use crate::user::{MockUserRepository, User};

mod changes;
mod create;
mod delete;
mod feed;
mod idempotency;
mod if_match;
mod list;
mod precision;
mod read;
mod toggle;
mod values;
mod write;

/// The mocked ports of one [`TaskService`]; new ids come from a fresh
/// [`SequentialIds`], so the first task created is [`SequentialIds::nth`]`(1)`.
///
/// A mock without an expectation panics when called: a test that sets none on
/// `changes` or `keys` proves the service never reads the change log or touches an
/// idempotency key.
#[derive(Default)]
struct Ports {
    tasks: MockTaskRepository,
    users: MockUserRepository,
    changes: MockTaskChangeLog,
    keys: MockIdempotencyRepository,
}

impl Ports {
    fn service(self) -> TaskService {
        TaskService::new(
            Arc::new(self.tasks),
            Arc::new(self.users),
            Arc::new(self.changes),
            Arc::new(self.keys),
            clock(),
            Arc::new(SequentialIds::new()),
        )
    }

    /// `find_by_id` answers `task` for its id, once.
    fn stored(&mut self, task: &Task) {
        let found = task.clone();
        let id = task.id;
        self.tasks
            .expect_find_by_id()
            .withf(move |task_id| *task_id == id)
            .times(1)
            .returning(move |_| Ok(Some(found.clone())));
    }

    /// No task is written or deleted, so no change is logged either: a change is only
    /// ever stored with its write (the `WriteLog` of `insert`, `update` and `delete`).
    fn never_writes(&mut self) {
        self.tasks.expect_insert().never();
        self.tasks.expect_update().never();
        self.tasks.expect_delete().never();
    }

    /// `update` succeeds once, expecting `version`.
    fn update_succeeds_from(&mut self, version: i64) {
        self.tasks
            .expect_update()
            .withf(move |_, expected, _| *expected == version)
            .times(1)
            .returning(|_, _, _| Ok(()));
    }
}

/// The value of a write done now (not the replay of an earlier one); panics on an error.
fn fresh<T: std::fmt::Debug>(result: Result<Written<T>, DomainError>) -> T {
    let written = result.unwrap();
    assert!(!written.replayed, "a first write is no replay: {written:?}");
    written.value
}

/// An idempotency key `raw` for a request digested as `fingerprint`.
fn once(raw: &str, fingerprint: &str) -> Idempotency {
    Idempotency {
        key: IdempotencyKey::parse(raw).unwrap(),
        fingerprint: fingerprint.to_owned(),
    }
}

/// The five writes, to prove a rule of each of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Write {
    Create,
    Replace,
    Patch,
    Toggle,
    Delete,
}

impl Write {
    const ALL: [Write; 5] = [
        Write::Create,
        Write::Replace,
        Write::Patch,
        Write::Toggle,
        Write::Delete,
    ];

    /// The writes that leave a task (all but delete).
    const OF_A_TASK: [Write; 4] = [Write::Create, Write::Replace, Write::Patch, Write::Toggle];

    /// The writes of a stored task (all but create).
    const OF_A_STORED_TASK: [Write; 4] =
        [Write::Replace, Write::Patch, Write::Toggle, Write::Delete];

    /// Runs this write by `actor` in the actor's scope: a new task titled "Created", or
    /// a change of `stored` under `precondition`; with `key`. The task it returns, if any.
    async fn run(
        self,
        service: &TaskService,
        actor: &User,
        stored: &Task,
        precondition: Option<Precondition>,
        key: Option<&Idempotency>,
    ) -> Result<Written<Option<Task>>, DomainError> {
        let scope = TaskScope::Visible;
        let id = stored.id;
        let some = |written: Written<Task>| Written {
            value: Some(written.value),
            replayed: written.replayed,
        };
        match self {
            Write::Create => service
                .create(actor, scope, TaskDraft::new(title("Created")), key)
                .await
                .map(some),
            Write::Replace => service
                .replace(
                    actor,
                    scope,
                    id,
                    precondition,
                    TaskDraft::new(title("Replaced")),
                    key,
                )
                .await
                .map(some),
            Write::Patch => service
                .patch(actor, scope, id, precondition, rename(), key)
                .await
                .map(some),
            Write::Toggle => service
                .toggle_complete(actor, scope, id, precondition, key)
                .await
                .map(some),
            Write::Delete => service
                .delete(actor, scope, id, precondition, key)
                .await
                .map(|written| Written {
                    value: None,
                    replayed: written.replayed,
                }),
        }
    }

    /// Storage takes this write: `stored` is read once (not for create) and written
    /// from its version. What is written is kept in the returned [`Writes`].
    fn succeeds(self, ports: &mut Ports, stored: &Task) -> Writes {
        let writes = Writes::default();
        let sink = writes.clone();
        match self {
            Write::Create => {
                ports
                    .tasks
                    .expect_insert()
                    .times(1)
                    .returning(move |task, log| {
                        sink.push(Some(task.clone()), log);
                        Ok(())
                    });
            }
            Write::Delete => {
                ports.stored(stored);
                let id = stored.id;
                ports
                    .tasks
                    .expect_delete()
                    .withf(move |task_id, _, _| *task_id == id)
                    .times(1)
                    .returning(move |_, _, log| {
                        sink.push(None, log);
                        Ok(())
                    });
            }
            Write::Replace | Write::Patch | Write::Toggle => {
                ports.stored(stored);
                let version = stored.version;
                ports
                    .tasks
                    .expect_update()
                    .withf(move |_, expected, _| *expected == version)
                    .times(1)
                    .returning(move |task, _, log| {
                        sink.push(Some(task.clone()), log);
                        Ok(())
                    });
            }
        }
        writes
    }

    /// Storage refuses this write with `error()`, after `stored` is read (not for create).
    fn fails(self, ports: &mut Ports, stored: &Task, error: fn() -> DomainError) {
        match self {
            Write::Create => {
                ports
                    .tasks
                    .expect_insert()
                    .times(1)
                    .returning(move |_, _| Err(error()));
            }
            Write::Delete => {
                ports.stored(stored);
                ports
                    .tasks
                    .expect_delete()
                    .times(1)
                    .returning(move |_, _, _| Err(error()));
            }
            Write::Replace | Write::Patch | Write::Toggle => {
                ports.stored(stored);
                ports
                    .tasks
                    .expect_update()
                    .times(1)
                    .returning(move |_, _, _| Err(error()));
            }
        }
    }
}

/// What mocked storage was asked to write, in order: the task (none for a deletion)
/// and what goes with it.
#[derive(Debug, Clone, Default)]
struct Writes(Arc<Mutex<Vec<Logged>>>);

/// One write asked of storage: the task (none for a deletion) and its log.
type Logged = (Option<Task>, WriteLog);

impl Writes {
    fn push(&self, task: Option<Task>, log: &WriteLog) {
        self.0.lock().unwrap().push((task, log.clone()));
    }

    /// Every write asked for, in order.
    fn all(&self) -> Vec<Logged> {
        self.0.lock().unwrap().clone()
    }

    /// The one write asked for; panics unless there was exactly one.
    fn only(&self) -> Logged {
        let all = self.all();
        assert_eq!(all.len(), 1, "exactly one write: {all:?}");
        all.into_iter().next().unwrap()
    }
}

fn title(raw: &str) -> Title {
    Title::parse(raw).unwrap()
}

fn description(raw: &str) -> Description {
    Description::parse(raw).unwrap()
}

fn due() -> DateTime<Utc> {
    now() + Duration::days(3)
}

/// A stored task of `owner` at `version` in `status`, with every optional field set,
/// created (and, when done, completed) at [`crate::tests::fixtures::earlier`].
fn task_of(owner: &User, version: i64, status: TaskStatus) -> Task {
    TaskBuilder::new(owner.id)
        .title("Write the report")
        .description("for the board")
        .priority(Priority::High)
        .due(due())
        .status(status)
        .version(version)
        .build()
}

fn assert_forbidden<T: std::fmt::Debug>(result: Result<T, DomainError>) {
    assert!(
        matches!(result, Err(DomainError::Forbidden(_))),
        "{result:?}"
    );
}

fn assert_not_found<T: std::fmt::Debug>(result: Result<T, DomainError>) {
    assert!(
        matches!(result, Err(DomainError::NotFound(_))),
        "{result:?}"
    );
}

fn assert_stale<T: std::fmt::Debug>(result: Result<T, DomainError>) {
    assert!(
        matches!(result, Err(DomainError::PreconditionFailed(_))),
        "{result:?}"
    );
}

fn rename() -> TaskPatch {
    TaskPatch {
        title: Some(title("Renamed")),
        ..TaskPatch::default()
    }
}
