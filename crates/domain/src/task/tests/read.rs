//! Reading one task: who sees what ("not found" rather than "forbidden").

use uuid::Uuid;

use super::{Ports, assert_forbidden, assert_not_found, task_of};
use crate::task::{TaskScope, TaskStatus};
use crate::testing::UserBuilder;
use crate::tests::fixtures::{admin, member};

#[tokio::test]
async fn get_returns_an_own_task() {
    let actor = member();
    let task = task_of(&actor, 1, TaskStatus::Todo);
    let mut ports = Ports::default();
    ports.stored(&task);
    assert_eq!(
        ports
            .service()
            .get(&actor, TaskScope::Visible, task.id)
            .await
            .unwrap(),
        task
    );
}

#[tokio::test]
async fn get_of_another_users_task_is_not_found_for_a_non_admin() {
    let task = task_of(&UserBuilder::new("bob").build(), 1, TaskStatus::Todo);
    let mut ports = Ports::default();
    ports.stored(&task);
    assert_not_found(
        ports
            .service()
            .get(&member(), TaskScope::Visible, task.id)
            .await,
    );
}

#[tokio::test]
async fn get_of_another_users_task_is_allowed_for_an_admin() {
    let task = task_of(&member(), 1, TaskStatus::Todo);
    let mut ports = Ports::default();
    ports.stored(&task);
    assert_eq!(
        ports
            .service()
            .get(&admin(), TaskScope::Visible, task.id)
            .await
            .unwrap(),
        task
    );
}

#[tokio::test]
async fn get_of_a_missing_task_is_not_found() {
    let mut ports = Ports::default();
    ports
        .tasks
        .expect_find_by_id()
        .times(1)
        .returning(|_| Ok(None));
    assert_not_found(
        ports
            .service()
            .get(&admin(), TaskScope::Visible, Uuid::now_v7())
            .await,
    );
}

#[tokio::test]
async fn scoped_get_of_someone_elses_task_is_not_found_even_for_an_admin() {
    let alice = member();
    let task = task_of(&UserBuilder::new("bob").build(), 1, TaskStatus::Todo);
    let mut ports = Ports::default();
    ports.stored(&task);
    let result = ports
        .service()
        .get(&admin(), TaskScope::OwnedBy(alice.id), task.id)
        .await;
    assert_not_found(result);
}

#[tokio::test]
async fn scoped_get_of_the_scoped_users_task_is_allowed_for_an_admin() {
    let alice = member();
    let task = task_of(&alice, 1, TaskStatus::Todo);
    let mut ports = Ports::default();
    ports.stored(&task);
    let result = ports
        .service()
        .get(&admin(), TaskScope::OwnedBy(alice.id), task.id)
        .await;
    assert_eq!(result.unwrap(), task);
}

#[tokio::test]
async fn scoped_get_under_another_user_by_a_non_admin_is_forbidden_and_reads_nothing() {
    let mut ports = Ports::default();
    ports.tasks.expect_find_by_id().never();
    let result = ports
        .service()
        .get(
            &member(),
            TaskScope::OwnedBy(Uuid::now_v7()),
            Uuid::now_v7(),
        )
        .await;
    assert_forbidden(result);
}
