//! Unit tests of the task rules, against mockall mocks of the ports, one file per rule
//! family; this file holds what they share.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use super::model::{Description, Priority, Task, TaskStatus, Title};
use super::ports::MockTaskRepository;
use super::service::{TaskPatch, TaskService};
use crate::DomainError;
use crate::testing::{SequentialIds, TaskBuilder};
use crate::tests::fixtures::{clock, now};
use crate::user::{MockUserRepository, User};

mod create;
mod delete;
mod if_match;
mod list;
mod precision;
mod read;
mod toggle;
mod values;
mod write;

/// The mocked ports of one [`TaskService`]; new ids come from a fresh
/// [`SequentialIds`], so the first task created is [`SequentialIds::nth`]`(1)`.
#[derive(Default)]
struct Ports {
    tasks: MockTaskRepository,
    users: MockUserRepository,
}

impl Ports {
    fn service(self) -> TaskService {
        TaskService::new(
            Arc::new(self.tasks),
            Arc::new(self.users),
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

    /// No task is written or deleted.
    fn never_writes(&mut self) {
        self.tasks.expect_insert().never();
        self.tasks.expect_update().never();
        self.tasks.expect_delete().never();
    }

    /// `update` succeeds once, expecting `version`.
    fn update_succeeds_from(&mut self, version: i64) {
        self.tasks
            .expect_update()
            .withf(move |_, expected| *expected == version)
            .times(1)
            .returning(|_, _| Ok(()));
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
