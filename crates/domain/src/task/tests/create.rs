//! Creating a task: defaults, ids, owners and scopes.

use std::sync::{Arc, Mutex};

use uuid::Uuid;

use super::{Ports, assert_forbidden, assert_not_found, description, due, fresh, title};
use crate::DomainError;
use crate::task::{Description, Priority, TaskDraft, TaskScope, TaskStatus};
use crate::testing::SequentialIds;
use crate::tests::fixtures::{admin, invalid_fields, member, now};

#[tokio::test]
async fn create_applies_the_defaults_and_owns_the_task_to_the_actor() {
    let actor = member();
    let owner = actor.id;
    let mut ports = Ports::default();
    ports
        .tasks
        .expect_insert()
        .withf(move |t, _| {
            t.owner_id == owner
                && t.title.as_str() == "Buy milk"
                && t.description.is_none()
                && t.status == TaskStatus::Todo
                && t.priority == Priority::Medium
                && t.due_date.is_none()
                && t.completed_at.is_none()
                && t.created_at == now()
                && t.updated_at == now()
                && t.version == 1
        })
        .times(1)
        .returning(|_, _| Ok(()));

    let task = fresh(
        ports
            .service()
            .create(
                &actor,
                TaskScope::Visible,
                TaskDraft::new(title(" Buy milk ")),
                None,
            )
            .await,
    );
    assert_eq!(
        (task.owner_id, task.status, task.version),
        (owner, TaskStatus::Todo, 1)
    );
    assert_eq!(task.completed_at, None);
}

#[tokio::test]
async fn create_takes_each_new_task_id_from_the_id_source() {
    let inserted = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&inserted);
    let mut ports = Ports::default();
    ports.tasks.expect_insert().times(2).returning(move |t, _| {
        sink.lock().unwrap().push(t.id);
        Ok(())
    });
    let service = ports.service();
    let actor = member();

    let first = fresh(
        service
            .create(
                &actor,
                TaskScope::Visible,
                TaskDraft::new(title("one")),
                None,
            )
            .await,
    );
    let second = fresh(
        service
            .create(
                &actor,
                TaskScope::Visible,
                TaskDraft::new(title("two")),
                None,
            )
            .await,
    );

    let expected = [SequentialIds::nth(1), SequentialIds::nth(2)];
    assert_eq!([first.id, second.id], expected, "what is returned");
    assert_eq!(*inserted.lock().unwrap(), expected, "what is stored");
}

#[tokio::test]
async fn create_keeps_the_fields_of_the_draft() {
    let actor = member();
    let mut ports = Ports::default();
    ports
        .tasks
        .expect_insert()
        .withf(|t, _| {
            t.description.as_ref().map(Description::as_str) == Some("details")
                && t.priority == Priority::Low
                && t.status == TaskStatus::InProgress
                && t.due_date == Some(due())
                && t.completed_at.is_none()
        })
        .times(1)
        .returning(|_, _| Ok(()));
    let draft = TaskDraft {
        description: Some(description("details")),
        status: TaskStatus::InProgress,
        priority: Priority::Low,
        due_date: Some(due()),
        ..TaskDraft::new(title("t"))
    };
    fresh(
        ports
            .service()
            .create(&actor, TaskScope::Visible, draft, None)
            .await,
    );
}

#[tokio::test]
async fn create_with_status_done_sets_completed_at() {
    let mut ports = Ports::default();
    ports
        .tasks
        .expect_insert()
        .withf(|t, _| t.status == TaskStatus::Done && t.completed_at == Some(now()))
        .times(1)
        .returning(|_, _| Ok(()));
    let draft = TaskDraft {
        status: TaskStatus::Done,
        ..TaskDraft::new(title("t"))
    };
    let task = fresh(
        ports
            .service()
            .create(&member(), TaskScope::Visible, draft, None)
            .await,
    );
    assert_eq!(task.completed_at, Some(now()));
}

#[tokio::test]
async fn create_for_another_owner_by_a_non_admin_is_forbidden_and_never_inserts() {
    let mut ports = Ports::default();
    ports.never_writes();
    let draft = TaskDraft {
        owner_id: Some(Uuid::now_v7()),
        ..TaskDraft::new(title("t"))
    };
    assert_forbidden(
        ports
            .service()
            .create(&member(), TaskScope::Visible, draft, None)
            .await,
    );
}

#[tokio::test]
async fn create_naming_oneself_as_owner_is_allowed_for_a_non_admin() {
    let actor = member();
    let owner = actor.id;
    let mut ports = Ports::default();
    ports
        .tasks
        .expect_insert()
        .withf(move |t, _| t.owner_id == owner)
        .times(1)
        .returning(|_, _| Ok(()));
    let draft = TaskDraft {
        owner_id: Some(actor.id),
        ..TaskDraft::new(title("t"))
    };
    fresh(
        ports
            .service()
            .create(&actor, TaskScope::Visible, draft, None)
            .await,
    );
}

#[tokio::test]
async fn create_for_another_owner_by_an_admin_owns_it_to_them() {
    let other = Uuid::now_v7();
    let mut ports = Ports::default();
    ports
        .tasks
        .expect_insert()
        .withf(move |t, _| t.owner_id == other)
        .times(1)
        .returning(|_, _| Ok(()));
    let draft = TaskDraft {
        owner_id: Some(other),
        ..TaskDraft::new(title("t"))
    };
    let task = fresh(
        ports
            .service()
            .create(&admin(), TaskScope::Visible, draft, None)
            .await,
    );
    assert_eq!(task.owner_id, other);
}

#[tokio::test]
async fn create_for_a_missing_owner_is_a_validation_error_on_owner_id() {
    let mut ports = Ports::default();
    ports
        .tasks
        .expect_insert()
        .times(1)
        .returning(|_, _| Err(DomainError::NotFound("owner".into())));
    let draft = TaskDraft {
        owner_id: Some(Uuid::now_v7()),
        ..TaskDraft::new(title("t"))
    };
    assert_eq!(
        invalid_fields(
            ports
                .service()
                .create(&admin(), TaskScope::Visible, draft, None)
                .await
        ),
        ["owner_id"]
    );
}

#[tokio::test]
async fn scoped_create_for_another_user_by_a_non_admin_is_forbidden() {
    let mut ports = Ports::default();
    ports.never_writes();
    let result = ports
        .service()
        .create(
            &member(),
            TaskScope::OwnedBy(Uuid::now_v7()),
            TaskDraft::new(title("t")),
            None,
        )
        .await;
    assert_forbidden(result);
}

#[tokio::test]
async fn scoped_create_by_a_non_admin_for_themselves_is_allowed() {
    let actor = member();
    let owner = actor.id;
    let mut ports = Ports::default();
    ports
        .tasks
        .expect_insert()
        .withf(move |t, _| t.owner_id == owner)
        .times(1)
        .returning(|_, _| Ok(()));
    let result = ports
        .service()
        .create(
            &actor,
            TaskScope::OwnedBy(actor.id),
            TaskDraft::new(title("t")),
            None,
        )
        .await;
    fresh(result);
}

#[tokio::test]
async fn scoped_create_by_an_admin_creates_for_the_scoped_user() {
    let scoped = Uuid::now_v7();
    let mut ports = Ports::default();
    ports
        .tasks
        .expect_insert()
        .withf(move |t, _| t.owner_id == scoped)
        .times(1)
        .returning(|_, _| Ok(()));
    let task = fresh(
        ports
            .service()
            .create(
                &admin(),
                TaskScope::OwnedBy(scoped),
                TaskDraft::new(title("t")),
                None,
            )
            .await,
    );
    assert_eq!(task.owner_id, scoped);
}

#[tokio::test]
async fn scoped_create_with_a_different_owner_id_is_a_validation_error_on_owner_id() {
    let mut ports = Ports::default();
    ports.never_writes();
    let draft = TaskDraft {
        owner_id: Some(Uuid::now_v7()),
        ..TaskDraft::new(title("t"))
    };
    let result = ports
        .service()
        .create(&admin(), TaskScope::OwnedBy(Uuid::now_v7()), draft, None)
        .await;
    assert_eq!(invalid_fields(result), ["owner_id"]);
}

#[tokio::test]
async fn scoped_create_for_a_missing_user_is_not_found() {
    let mut ports = Ports::default();
    ports
        .tasks
        .expect_insert()
        .times(1)
        .returning(|_, _| Err(DomainError::NotFound("owner".into())));
    let result = ports
        .service()
        .create(
            &admin(),
            TaskScope::OwnedBy(Uuid::now_v7()),
            TaskDraft::new(title("t")),
            None,
        )
        .await;
    assert_not_found(result);
}
