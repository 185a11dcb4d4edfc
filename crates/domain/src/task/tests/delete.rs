//! Deleting a task.

use mockall::Sequence;

use super::{Ports, assert_not_found, assert_stale, fresh, task_of};
use crate::DomainError;
use crate::task::{Precondition, Task, TaskScope, TaskStatus};
use crate::testing::UserBuilder;
use crate::tests::fixtures::{admin, member};

#[tokio::test]
async fn delete_without_if_match_deletes_only_the_version_it_read() {
    // So the deletion it logs names the version (and owner) it really removed.
    let actor = member();
    let stored = task_of(&actor, 3, TaskStatus::Todo);
    let id = stored.id;
    let mut ports = Ports::default();
    ports.stored(&stored);
    ports
        .tasks
        .expect_delete()
        .withf(move |task_id, expected, log| {
            *task_id == id && *expected == Some(3) && log.change.version == 3
        })
        .times(1)
        .returning(|_, _, _| Ok(()));
    fresh(
        ports
            .service()
            .delete(&actor, TaskScope::Visible, id, None, None)
            .await,
    );
}

#[tokio::test]
async fn delete_with_a_matching_if_match_deletes_only_that_version() {
    let actor = member();
    let stored = task_of(&actor, 3, TaskStatus::Todo);
    let mut ports = Ports::default();
    ports.stored(&stored);
    ports
        .tasks
        .expect_delete()
        .withf(|_, expected, _| *expected == Some(3))
        .times(1)
        .returning(|_, _, _| Ok(()));
    let result = ports
        .service()
        .delete(
            &actor,
            TaskScope::Visible,
            stored.id,
            Some(Precondition::Versions(vec![3])),
            None,
        )
        .await;
    fresh(result);
}

#[tokio::test]
async fn delete_with_a_stale_if_match_is_precondition_failed_and_never_deletes() {
    let actor = member();
    let stored = task_of(&actor, 3, TaskStatus::Todo);
    let mut ports = Ports::default();
    ports.stored(&stored);
    ports.never_writes();
    let result = ports
        .service()
        .delete(
            &actor,
            TaskScope::Visible,
            stored.id,
            Some(Precondition::Versions(vec![2])),
            None,
        )
        .await;
    assert_stale(result);
}

#[tokio::test]
async fn delete_losing_a_race_with_a_specific_if_match_is_precondition_failed() {
    let actor = member();
    let stored = task_of(&actor, 3, TaskStatus::Todo);
    let mut ports = Ports::default();
    ports.stored(&stored);
    ports
        .tasks
        .expect_delete()
        .times(1)
        .returning(|_, _, _| Err(DomainError::PreconditionFailed("version moved".into())));
    let result = ports
        .service()
        .delete(
            &actor,
            TaskScope::Visible,
            stored.id,
            Some(Precondition::Versions(vec![3])),
            None,
        )
        .await;
    assert_stale(result);
}

/// `find_by_id` answers `reads` in turn, and `delete` refuses each but the last
/// (`wins`) as a lost race, each expecting the version just read.
fn race(ports: &mut Ports, seq: &mut Sequence, reads: Vec<Task>, wins: bool) {
    let last = reads.len() - 1;
    for (i, read) in reads.into_iter().enumerate() {
        let (id, expected) = (read.id, read.version);
        let outcome = wins && i == last;
        ports
            .tasks
            .expect_find_by_id()
            .times(1)
            .in_sequence(seq)
            .returning(move |_| Ok(Some(read.clone())));
        ports
            .tasks
            .expect_delete()
            .withf(move |task_id, version, _| *task_id == id && *version == Some(expected))
            .times(1)
            .in_sequence(seq)
            .returning(move |_, _, _| {
                if outcome {
                    Ok(())
                } else {
                    Err(DomainError::PreconditionFailed("version moved".into()))
                }
            });
    }
}

#[tokio::test]
async fn delete_without_if_match_that_loses_a_race_retries_on_the_re_read_version() {
    let actor = member();
    let first = task_of(&actor, 3, TaskStatus::Todo);
    let second = Task {
        version: 4,
        ..first.clone()
    };
    let id = first.id;
    let mut ports = Ports::default();
    race(&mut ports, &mut Sequence::new(), vec![first, second], true);
    fresh(
        ports
            .service()
            .delete(&actor, TaskScope::Visible, id, None, None)
            .await,
    );
}

#[tokio::test]
async fn delete_without_if_match_that_loses_a_race_to_a_reassignment_is_not_found() {
    let actor = member();
    let first = task_of(&actor, 3, TaskStatus::Todo);
    let given_away = Task {
        version: 4,
        owner_id: UserBuilder::new("bob").build().id,
        ..first.clone()
    };
    let id = first.id;
    let mut seq = Sequence::new();
    let mut ports = Ports::default();
    race(&mut ports, &mut seq, vec![first], false);
    ports
        .tasks
        .expect_find_by_id()
        .times(1)
        .in_sequence(&mut seq)
        .returning(move |_| Ok(Some(given_away.clone())));
    assert_not_found(
        ports
            .service()
            .delete(&actor, TaskScope::Visible, id, None, None)
            .await,
    );
}

#[tokio::test]
async fn delete_that_never_wins_a_race_gives_up_with_a_conflict() {
    let actor = member();
    let stored = task_of(&actor, 3, TaskStatus::Todo);
    let id = stored.id;
    let mut ports = Ports::default();
    race(&mut ports, &mut Sequence::new(), vec![stored; 32], false);
    let result = ports
        .service()
        .delete(&actor, TaskScope::Visible, id, None, None)
        .await;
    assert!(
        matches!(result, Err(DomainError::Conflict(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn delete_with_if_match_star_that_loses_a_race_retries_on_the_re_read_version() {
    let actor = member();
    let first = task_of(&actor, 3, TaskStatus::Todo);
    let second = Task {
        version: 4,
        ..first.clone()
    };
    let id = first.id;
    let mut seq = Sequence::new();
    let mut ports = Ports::default();
    for (read, outcome) in [(first, false), (second, true)] {
        let expected = read.version;
        ports
            .tasks
            .expect_find_by_id()
            .times(1)
            .in_sequence(&mut seq)
            .returning(move |_| Ok(Some(read.clone())));
        ports
            .tasks
            .expect_delete()
            .withf(move |task_id, version, _| *task_id == id && *version == Some(expected))
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
    let result = ports
        .service()
        .delete(
            &actor,
            TaskScope::Visible,
            id,
            Some(Precondition::Any),
            None,
        )
        .await;
    fresh(result);
}

#[tokio::test]
async fn delete_that_finds_nothing_in_the_repository_is_not_found() {
    let actor = member();
    let stored = task_of(&actor, 3, TaskStatus::Todo);
    let mut ports = Ports::default();
    ports.stored(&stored);
    ports
        .tasks
        .expect_delete()
        .times(1)
        .returning(|_, _, _| Err(DomainError::NotFound("gone".into())));
    assert_not_found(
        ports
            .service()
            .delete(&actor, TaskScope::Visible, stored.id, None, None)
            .await,
    );
}

#[tokio::test]
async fn delete_of_another_users_task_is_not_found_and_never_deletes() {
    let stored = task_of(&UserBuilder::new("bob").build(), 1, TaskStatus::Todo);
    let mut ports = Ports::default();
    ports.stored(&stored);
    ports.never_writes();
    assert_not_found(
        ports
            .service()
            .delete(&member(), TaskScope::Visible, stored.id, None, None)
            .await,
    );
}

#[tokio::test]
async fn scoped_delete_of_someone_elses_task_is_not_found_even_for_an_admin() {
    let stored = task_of(&UserBuilder::new("bob").build(), 1, TaskStatus::Todo);
    let mut ports = Ports::default();
    ports.stored(&stored);
    ports.never_writes();
    let result = ports
        .service()
        .delete(
            &admin(),
            TaskScope::OwnedBy(member().id),
            stored.id,
            None,
            None,
        )
        .await;
    assert_not_found(result);
}
