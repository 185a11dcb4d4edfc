//! Replacing and patching a task, giving it to another owner, and the scope rule
//! shared by every write.

use chrono::Duration;
use uuid::Uuid;

use super::{
    Ports, assert_forbidden, assert_not_found, description, due, fresh, rename, task_of, title,
};
use crate::task::{
    Description, Precondition, Priority, TaskDraft, TaskPatch, TaskScope, TaskStatus,
};
use crate::testing::UserBuilder;
use crate::tests::fixtures::{admin, invalid_fields, member, now};

#[tokio::test]
async fn replace_resets_absent_fields_to_defaults_and_bumps_the_version() {
    let actor = member();
    let stored = task_of(&actor, 3, TaskStatus::InProgress);
    let before = stored.clone();
    let mut ports = Ports::default();
    ports.stored(&stored);
    ports
        .tasks
        .expect_update()
        .withf(move |t, expected, _| {
            *expected == 3
                && t.id == before.id
                && t.owner_id == before.owner_id
                && t.title.as_str() == "Replaced"
                && t.description.is_none()
                && t.status == TaskStatus::Todo
                && t.priority == Priority::Medium
                && t.due_date.is_none()
                && t.completed_at.is_none()
                && t.created_at == before.created_at
                && t.updated_at == now()
                && t.version == 4
        })
        .times(1)
        .returning(|_, _, _| Ok(()));

    let task = fresh(
        ports
            .service()
            .replace(
                &actor,
                TaskScope::Visible,
                stored.id,
                None,
                TaskDraft::new(title("Replaced")),
                None,
            )
            .await,
    );
    assert_eq!(
        (task.version, task.updated_at, task.priority),
        (4, now(), Priority::Medium)
    );
    assert_eq!((task.description, task.due_date), (None, None));
}

#[tokio::test]
async fn replace_with_status_done_sets_completed_at() {
    let actor = member();
    let stored = task_of(&actor, 1, TaskStatus::Todo);
    let mut ports = Ports::default();
    ports.stored(&stored);
    ports
        .tasks
        .expect_update()
        .withf(|t, _, _| t.status == TaskStatus::Done && t.completed_at == Some(now()))
        .times(1)
        .returning(|_, _, _| Ok(()));
    let draft = TaskDraft {
        status: TaskStatus::Done,
        ..TaskDraft::new(title("t"))
    };
    let task = fresh(
        ports
            .service()
            .replace(&actor, TaskScope::Visible, stored.id, None, draft, None)
            .await,
    );
    assert_eq!(task.completed_at, Some(now()));
}

#[tokio::test]
async fn patch_with_explicit_null_clears_description_and_due_date_and_leaves_the_rest() {
    let actor = member();
    let stored = task_of(&actor, 2, TaskStatus::InProgress);
    let before = stored.clone();
    let mut ports = Ports::default();
    ports.stored(&stored);
    ports
        .tasks
        .expect_update()
        .withf(move |t, expected, _| {
            *expected == 2
                && t.description.is_none()
                && t.due_date.is_none()
                && t.title == before.title
                && t.priority == before.priority
                && t.status == before.status
                && t.completed_at.is_none()
                && t.version == 3
                && t.updated_at == now()
        })
        .times(1)
        .returning(|_, _, _| Ok(()));
    let patch = TaskPatch {
        description: Some(None),
        due_date: Some(None),
        ..TaskPatch::default()
    };
    let task = fresh(
        ports
            .service()
            .patch(&actor, TaskScope::Visible, stored.id, None, patch, None)
            .await,
    );
    assert_eq!(
        (task.description, task.due_date, task.version),
        (None, None, 3)
    );
    assert_eq!(task.priority, Priority::High);
}

#[tokio::test]
async fn patch_sets_the_fields_it_names() {
    let actor = member();
    let stored = task_of(&actor, 1, TaskStatus::Todo);
    let later = due() + Duration::days(1);
    let mut ports = Ports::default();
    ports.stored(&stored);
    ports
        .tasks
        .expect_update()
        .withf(move |t, _, _| {
            t.title.as_str() == "Renamed"
                && t.description.as_ref().map(Description::as_str) == Some("new words")
                && t.priority == Priority::Low
                && t.due_date == Some(later)
                && t.status == TaskStatus::Done
                && t.completed_at == Some(now())
        })
        .times(1)
        .returning(|_, _, _| Ok(()));
    let patch = TaskPatch {
        title: Some(title("Renamed")),
        description: Some(Some(description("new words"))),
        status: Some(TaskStatus::Done),
        priority: Some(Priority::Low),
        due_date: Some(Some(later)),
        owner_id: None,
    };
    fresh(
        ports
            .service()
            .patch(&actor, TaskScope::Visible, stored.id, None, patch, None)
            .await,
    );
}

#[tokio::test]
async fn patch_of_another_users_task_is_not_found_before_if_match_is_looked_at() {
    let task = task_of(&UserBuilder::new("bob").build(), 5, TaskStatus::Todo);
    let mut ports = Ports::default();
    ports.stored(&task);
    ports.never_writes();
    let result = ports
        .service()
        .patch(
            &member(),
            TaskScope::Visible,
            task.id,
            Some(Precondition::Versions(vec![1])),
            rename(),
            None,
        )
        .await;
    assert_not_found(result);
}

#[tokio::test]
async fn patch_of_a_missing_task_is_not_found() {
    let mut ports = Ports::default();
    ports
        .tasks
        .expect_find_by_id()
        .times(1)
        .returning(|_| Ok(None));
    ports.never_writes();
    let result = ports
        .service()
        .patch(
            &admin(),
            TaskScope::Visible,
            Uuid::now_v7(),
            None,
            rename(),
            None,
        )
        .await;
    assert_not_found(result);
}

// ---------------------------------------------------------------- reassignment

#[tokio::test]
async fn reassigning_a_task_by_a_non_admin_is_forbidden_and_never_writes() {
    let actor = member();
    let stored = task_of(&actor, 1, TaskStatus::Todo);
    let mut ports = Ports::default();
    ports.stored(&stored);
    ports.never_writes();
    ports.users.expect_find_by_id().never();
    let patch = TaskPatch {
        owner_id: Some(Uuid::now_v7()),
        ..TaskPatch::default()
    };
    assert_forbidden(
        ports
            .service()
            .patch(&actor, TaskScope::Visible, stored.id, None, patch, None)
            .await,
    );
}

#[tokio::test]
async fn naming_oneself_as_owner_is_no_reassignment() {
    let actor = member();
    let stored = task_of(&actor, 1, TaskStatus::Todo);
    let owner = actor.id;
    let mut ports = Ports::default();
    ports.stored(&stored);
    ports.users.expect_find_by_id().never();
    ports
        .tasks
        .expect_update()
        .withf(move |t, _, _| t.owner_id == owner)
        .times(1)
        .returning(|_, _, _| Ok(()));
    let draft = TaskDraft {
        owner_id: Some(actor.id),
        ..TaskDraft::new(title("t"))
    };
    fresh(
        ports
            .service()
            .replace(&actor, TaskScope::Visible, stored.id, None, draft, None)
            .await,
    );
}

#[tokio::test]
async fn reassigning_a_task_by_an_admin_to_a_missing_user_is_a_validation_error_on_owner_id() {
    let stored = task_of(&member(), 1, TaskStatus::Todo);
    let missing = Uuid::now_v7();
    let mut ports = Ports::default();
    ports.stored(&stored);
    ports
        .users
        .expect_find_by_id()
        .withf(move |id| *id == missing)
        .times(1)
        .returning(|_| Ok(None));
    ports.never_writes();
    let patch = TaskPatch {
        owner_id: Some(missing),
        ..TaskPatch::default()
    };
    let result = ports
        .service()
        .patch(&admin(), TaskScope::Visible, stored.id, None, patch, None)
        .await;
    assert_eq!(invalid_fields(result), ["owner_id"]);
}

#[tokio::test]
async fn reassigning_a_task_by_an_admin_to_an_existing_user_moves_it() {
    let stored = task_of(&member(), 1, TaskStatus::Todo);
    let bob = UserBuilder::new("bob").build();
    let bob_id = bob.id;
    let mut ports = Ports::default();
    ports.stored(&stored);
    ports
        .users
        .expect_find_by_id()
        .withf(move |id| *id == bob_id)
        .times(1)
        .returning(move |_| Ok(Some(bob.clone())));
    ports
        .tasks
        .expect_update()
        .withf(move |t, _, _| t.owner_id == bob_id && t.version == 2)
        .times(1)
        .returning(|_, _, _| Ok(()));
    let draft = TaskDraft {
        owner_id: Some(bob_id),
        ..TaskDraft::new(title("t"))
    };
    let task = fresh(
        ports
            .service()
            .replace(&admin(), TaskScope::Visible, stored.id, None, draft, None)
            .await,
    );
    assert_eq!(task.owner_id, bob_id);
}

// ---------------------------------------------------------------- scope

#[tokio::test]
async fn scoped_writes_under_another_user_by_a_non_admin_are_forbidden() {
    let scope = TaskScope::OwnedBy(Uuid::now_v7());
    let id = Uuid::now_v7();
    let actor = member();
    let mut ports = Ports::default();
    ports.tasks.expect_find_by_id().never();
    ports.never_writes();
    let service = ports.service();
    assert_forbidden(
        service
            .replace(&actor, scope, id, None, TaskDraft::new(title("t")), None)
            .await,
    );
    assert_forbidden(service.patch(&actor, scope, id, None, rename(), None).await);
    assert_forbidden(service.toggle_complete(&actor, scope, id, None, None).await);
    assert_forbidden(service.delete(&actor, scope, id, None, None).await);
}
