//! Toggling completion.

use super::{Ports, assert_stale, fresh, task_of};
use crate::task::{Precondition, TaskScope, TaskStatus};
use crate::tests::fixtures::{member, now};

#[tokio::test]
async fn toggling_a_done_task_makes_it_todo_and_clears_completed_at() {
    let actor = member();
    let stored = task_of(&actor, 2, TaskStatus::Done);
    let mut ports = Ports::default();
    ports.stored(&stored);
    ports
        .tasks
        .expect_update()
        .withf(|t, v, _| {
            *v == 2 && t.status == TaskStatus::Todo && t.completed_at.is_none() && t.version == 3
        })
        .times(1)
        .returning(|_, _, _| Ok(()));
    let task = fresh(
        ports
            .service()
            .toggle_complete(&actor, TaskScope::Visible, stored.id, None, None)
            .await,
    );
    assert_eq!(
        (task.status, task.completed_at, task.version),
        (TaskStatus::Todo, None, 3)
    );
}

#[tokio::test]
async fn toggling_an_open_task_makes_it_done_and_sets_completed_at() {
    for from in [TaskStatus::Todo, TaskStatus::InProgress] {
        let actor = member();
        let stored = task_of(&actor, 1, from);
        let mut ports = Ports::default();
        ports.stored(&stored);
        ports
            .tasks
            .expect_update()
            .withf(|t, _, _| {
                t.status == TaskStatus::Done
                    && t.completed_at == Some(now())
                    && t.updated_at == now()
            })
            .times(1)
            .returning(|_, _, _| Ok(()));
        let task = fresh(
            ports
                .service()
                .toggle_complete(&actor, TaskScope::Visible, stored.id, None, None)
                .await,
        );
        assert_eq!(
            (task.status, task.completed_at, task.version),
            (TaskStatus::Done, Some(now()), 2)
        );
    }
}

#[tokio::test]
async fn toggling_with_a_stale_if_match_is_precondition_failed_and_never_writes() {
    let actor = member();
    let stored = task_of(&actor, 4, TaskStatus::Todo);
    let mut ports = Ports::default();
    ports.stored(&stored);
    ports.never_writes();
    let result = ports
        .service()
        .toggle_complete(
            &actor,
            TaskScope::Visible,
            stored.id,
            Some(Precondition::Versions(vec![3])),
            None,
        )
        .await;
    assert_stale(result);
}
