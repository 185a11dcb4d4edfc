//! Optimistic concurrency of writes: `If-Match` preconditions and lost races.

use mockall::Sequence;

use super::{Ports, assert_not_found, assert_stale, fresh, rename, task_of, title};
use crate::DomainError;
use crate::task::{Precondition, Priority, Task, TaskDraft, TaskScope, TaskStatus};
use crate::tests::fixtures::member;

#[tokio::test]
async fn stale_if_match_is_precondition_failed_and_never_writes() {
    let actor = member();
    let stored = task_of(&actor, 3, TaskStatus::Todo);
    let mut ports = Ports::default();
    ports.stored(&stored);
    ports.never_writes();
    let result = ports
        .service()
        .patch(
            &actor,
            TaskScope::Visible,
            stored.id,
            Some(Precondition::Versions(vec![2])),
            rename(),
            None,
        )
        .await;
    assert_stale(result);
}

#[tokio::test]
async fn if_match_that_is_no_version_is_precondition_failed() {
    let actor = member();
    let stored = task_of(&actor, 3, TaskStatus::Todo);
    let mut ports = Ports::default();
    ports.stored(&stored);
    ports.never_writes();
    let result = ports
        .service()
        .replace(
            &actor,
            TaskScope::Visible,
            stored.id,
            Some(Precondition::Versions(vec![])),
            TaskDraft::new(title("t")),
            None,
        )
        .await;
    assert_stale(result);
}

#[tokio::test]
async fn if_match_star_writes_from_the_current_version() {
    let actor = member();
    let stored = task_of(&actor, 7, TaskStatus::Todo);
    let mut ports = Ports::default();
    ports.stored(&stored);
    ports.update_succeeds_from(7);
    let task = fresh(
        ports
            .service()
            .patch(
                &actor,
                TaskScope::Visible,
                stored.id,
                Some(Precondition::Any),
                rename(),
                None,
            )
            .await,
    );
    assert_eq!(task.version, 8);
}

#[tokio::test]
async fn matching_if_match_writes_from_that_version() {
    let actor = member();
    let stored = task_of(&actor, 3, TaskStatus::Todo);
    let mut ports = Ports::default();
    ports.stored(&stored);
    ports.update_succeeds_from(3);
    let task = fresh(
        ports
            .service()
            .patch(
                &actor,
                TaskScope::Visible,
                stored.id,
                Some(Precondition::Versions(vec![1, 3])),
                rename(),
                None,
            )
            .await,
    );
    assert_eq!((task.version, task.title.as_str()), (4, "Renamed"));
}

#[tokio::test]
async fn a_write_without_if_match_that_loses_a_race_retries_on_the_re_read_version() {
    let actor = member();
    let first = task_of(&actor, 3, TaskStatus::Todo);
    let second = Task {
        version: 4,
        priority: Priority::Low,
        ..first.clone()
    };
    let mut seq = Sequence::new();
    let mut ports = Ports::default();
    for (read, outcome) in [(first.clone(), false), (second, true)] {
        let expected = read.version;
        ports
            .tasks
            .expect_find_by_id()
            .times(1)
            .in_sequence(&mut seq)
            .returning(move |_| Ok(Some(read.clone())));
        ports
            .tasks
            .expect_update()
            .withf(move |t, v, _| {
                *v == expected && t.version == expected + 1 && t.status == TaskStatus::Done
            })
            .times(1)
            .in_sequence(&mut seq)
            .returning(move |_, _, _| {
                if outcome {
                    Ok(())
                } else {
                    Err(DomainError::PreconditionFailed("version moved".into()))
                }
            });
    }
    let task = fresh(
        ports
            .service()
            .toggle_complete(&actor, TaskScope::Visible, first.id, None, None)
            .await,
    );
    // The change was applied to what the winner wrote, not to the stale copy.
    assert_eq!(
        (task.version, task.priority, task.status),
        (5, Priority::Low, TaskStatus::Done)
    );
}

#[tokio::test]
async fn a_write_with_if_match_star_that_loses_a_race_reapplies_the_change_to_the_re_read_task() {
    let actor = member();
    let first = task_of(&actor, 4, TaskStatus::Todo);
    let second = Task {
        version: 5,
        priority: Priority::Low,
        ..first.clone()
    };
    let mut seq = Sequence::new();
    let mut ports = Ports::default();
    ports
        .tasks
        .expect_find_by_id()
        .times(1)
        .in_sequence(&mut seq)
        .returning(move |_| Ok(Some(first.clone())));
    ports
        .tasks
        .expect_update()
        .withf(|_, expected, _| *expected == 4)
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _, _| Err(DomainError::PreconditionFailed("version moved".into())));
    let id = second.id;
    ports
        .tasks
        .expect_find_by_id()
        .times(1)
        .in_sequence(&mut seq)
        .returning(move |_| Ok(Some(second.clone())));
    ports
        .tasks
        .expect_update()
        .withf(|t, expected, _| {
            *expected == 5
                && t.version == 6
                && t.title.as_str() == "Renamed"
                && t.priority == Priority::Low
        })
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _, _| Ok(()));
    let task = fresh(
        ports
            .service()
            .patch(
                &actor,
                TaskScope::Visible,
                id,
                Some(Precondition::Any),
                rename(),
                None,
            )
            .await,
    );
    assert_eq!(
        (task.version, task.title.as_str(), task.priority),
        (6, "Renamed", Priority::Low)
    );
}

#[tokio::test]
async fn a_write_with_a_specific_if_match_that_loses_a_race_is_precondition_failed() {
    let actor = member();
    let stored = task_of(&actor, 3, TaskStatus::Todo);
    let mut ports = Ports::default();
    ports.stored(&stored);
    ports
        .tasks
        .expect_update()
        .times(1)
        .returning(|_, _, _| Err(DomainError::PreconditionFailed("version moved".into())));
    let result = ports
        .service()
        .patch(
            &actor,
            TaskScope::Visible,
            stored.id,
            Some(Precondition::Versions(vec![3])),
            rename(),
            None,
        )
        .await;
    assert_stale(result);
}

#[tokio::test]
async fn a_write_that_never_wins_a_race_gives_up_with_a_conflict() {
    let actor = member();
    let stored = task_of(&actor, 3, TaskStatus::Todo);
    let found = stored.clone();
    let mut ports = Ports::default();
    ports
        .tasks
        .expect_find_by_id()
        .times(32)
        .returning(move |_| Ok(Some(found.clone())));
    ports
        .tasks
        .expect_update()
        .times(32)
        .returning(|_, _, _| Err(DomainError::PreconditionFailed("version moved".into())));
    let result = ports
        .service()
        .patch(&actor, TaskScope::Visible, stored.id, None, rename(), None)
        .await;
    assert!(
        matches!(result, Err(DomainError::Conflict(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn an_update_of_a_task_deleted_meanwhile_is_not_found() {
    let actor = member();
    let stored = task_of(&actor, 3, TaskStatus::Todo);
    let mut ports = Ports::default();
    ports.stored(&stored);
    ports
        .tasks
        .expect_update()
        .times(1)
        .returning(|_, _, _| Err(DomainError::NotFound("gone".into())));
    let result = ports
        .service()
        .patch(&actor, TaskScope::Visible, stored.id, None, rename(), None)
        .await;
    assert_not_found(result);
}
