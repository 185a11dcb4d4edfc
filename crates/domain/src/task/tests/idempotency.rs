//! Safe retries: `Idempotency-Key` values, and how every write claims, completes,
//! answers again and gives back its key.

use chrono::Duration;
use uuid::Uuid;

use super::{Ports, Write, fresh, once, task_of, title};
use crate::DomainError;
use crate::idempotency::{Claim, Completion, Idempotency, IdempotencyKey, IdempotentOutcome};
use crate::task::{
    Precondition, Task, TaskDraft, TaskPatch, TaskScope, TaskService, TaskStatus, Written,
};
use crate::testing::TaskBuilder;
use crate::tests::fixtures::{admin, invalid_fields, member, now};
use crate::user::User;

/// The key of the writes below.
fn key() -> Idempotency {
    once("retry-7f3a-0001", "sha256:request-digest")
}

/// `claim` is asked once, for `actor`'s `key` with its fingerprint, now, to live 24
/// hours and to take over a claim older than 60 seconds; it answers `answer`.
fn claims(ports: &mut Ports, actor: &User, key: &Idempotency, answer: Claim) {
    let user = actor.id;
    let expected_key = key.key.clone();
    let fingerprint = key.fingerprint.clone();
    ports
        .keys
        .expect_claim()
        .withf(move |user_id, key, given, at, expires_at, stale_before| {
            *user_id == user
                && *key == expected_key
                && given == fingerprint
                && *at == now()
                && *expires_at == now() + Duration::hours(24)
                && *stale_before == now() - Duration::seconds(60)
        })
        .times(1)
        .returning(move |_, _, _, _, _, _| Ok(answer.clone()));
}

/// `release` is asked once, for `actor`'s `key`.
fn releases(ports: &mut Ports, actor: &User, key: &Idempotency) {
    let user = actor.id;
    let expected_key = key.key.clone();
    ports
        .keys
        .expect_release()
        .withf(move |user_id, key| *user_id == user && *key == expected_key)
        .times(1)
        .returning(|_, _| Ok(()));
}

/// The usual set-up of a write with a key: a member, a task of theirs (version 3, to
/// do), [`key`], and ports whose `claim` of it answers `answer` once.
struct KeyedWrite {
    actor: User,
    stored: Task,
    key: Idempotency,
    ports: Ports,
}

impl KeyedWrite {
    fn claiming(answer: Claim) -> Self {
        let actor = member();
        let stored = task_of(&actor, 3, TaskStatus::Todo);
        let key = key();
        let mut ports = Ports::default();
        claims(&mut ports, &actor, &key, answer);
        Self {
            actor,
            stored,
            key,
            ports,
        }
    }

    /// The service on the ports as set up so far (a test sets them up before).
    fn service(&mut self) -> TaskService {
        std::mem::take(&mut self.ports).service()
    }

    /// Runs `write` by the member on their task under `precondition`, with the key.
    async fn run(
        &mut self,
        write: Write,
        precondition: Option<Precondition>,
    ) -> Result<Written<Option<Task>>, DomainError> {
        let service = self.service();
        write
            .run(
                &service,
                &self.actor,
                &self.stored,
                precondition,
                Some(&self.key),
            )
            .await
    }
}

fn assert_conflict<T: std::fmt::Debug>(result: Result<T, DomainError>) {
    assert!(
        matches!(result, Err(DomainError::Conflict(_))),
        "{result:?}"
    );
}

// ---------------------------------------------------------------- the key itself

#[test]
fn a_key_of_1_or_255_visible_ascii_characters_is_accepted_as_given() {
    for raw in [
        "a".to_owned(),
        "~".repeat(255),
        "!#$%&'*+-./09:;<=>?@AZ[]^_`az{|}~".to_owned(),
    ] {
        let key = IdempotencyKey::parse(&raw).unwrap();
        assert_eq!(key.as_str(), raw);
    }
}

#[test]
fn a_key_that_is_empty_or_longer_than_255_characters_is_invalid_on_idempotency_key() {
    for raw in [String::new(), "k".repeat(256)] {
        assert_eq!(
            invalid_fields(IdempotencyKey::parse(&raw)),
            ["Idempotency-Key"],
            "{} characters",
            raw.len()
        );
    }
    assert_eq!(IdempotencyKey::FIELD, "Idempotency-Key");
}

#[test]
fn a_key_with_a_space_a_non_ascii_or_a_control_character_is_invalid_on_idempotency_key() {
    for raw in [
        "two words",
        " leading",
        "clé",
        "日本",
        "tab\there",
        "nul\0",
        "line\n",
        "del\u{7f}",
    ] {
        assert_eq!(
            invalid_fields(IdempotencyKey::parse(raw)),
            ["Idempotency-Key"],
            "{raw:?}"
        );
    }
}

// ---------------------------------------------------------------- claiming

#[tokio::test]
async fn every_write_with_a_key_claims_it_for_the_actor_for_24_hours_then_writes_once() {
    for write in Write::ALL {
        let mut keyed = KeyedWrite::claiming(Claim::Claimed);
        let writes = write.succeeds(&mut keyed.ports, &keyed.stored);
        let result = keyed.run(write, None).await;
        assert!(!result.unwrap().replayed, "{write:?}");
        assert_eq!(writes.all().len(), 1, "{write:?}");
    }
}

#[tokio::test]
async fn a_write_under_a_claimed_key_stores_the_task_as_written_as_the_keys_outcome() {
    for write in Write::OF_A_TASK {
        let mut keyed = KeyedWrite::claiming(Claim::Claimed);
        let writes = write.succeeds(&mut keyed.ports, &keyed.stored);
        let returned = fresh(keyed.run(write, None).await).unwrap();
        let (written, log) = writes.only();
        assert_eq!(written.as_ref(), Some(&returned), "{write:?}");
        assert_eq!(
            log.completion,
            Some(Completion {
                user_id: keyed.actor.id,
                key: keyed.key.key.clone(),
                outcome: IdempotentOutcome::Task(Box::new(returned)),
            }),
            "{write:?}"
        );
    }
}

#[tokio::test]
async fn a_delete_under_a_claimed_key_stores_deleted_as_the_keys_outcome() {
    let mut keyed = KeyedWrite::claiming(Claim::Claimed);
    let writes = Write::Delete.succeeds(&mut keyed.ports, &keyed.stored);
    fresh(keyed.run(Write::Delete, None).await);
    let (_, log) = writes.only();
    assert_eq!(
        log.completion,
        Some(Completion {
            user_id: keyed.actor.id,
            key: keyed.key.key,
            outcome: IdempotentOutcome::Deleted,
        })
    );
}

#[tokio::test]
async fn an_admin_writing_someone_elses_task_claims_and_completes_the_key_as_the_admin() {
    let root = admin();
    let stored = task_of(&member(), 3, TaskStatus::Todo);
    let key = key();
    let mut ports = Ports::default();
    claims(&mut ports, &root, &key, Claim::Claimed);
    let writes = Write::Patch.succeeds(&mut ports, &stored);
    Write::Patch
        .run(&ports.service(), &root, &stored, None, Some(&key))
        .await
        .unwrap();
    let completion = writes.only().1.completion.unwrap();
    assert_eq!(completion.user_id, root.id);
}

#[tokio::test]
async fn a_write_without_a_key_touches_no_key_and_stores_no_outcome() {
    for write in Write::ALL {
        let actor = member();
        let stored = task_of(&actor, 3, TaskStatus::Todo);
        let mut ports = Ports::default();
        ports.keys.expect_claim().never();
        ports.keys.expect_release().never();
        let writes = write.succeeds(&mut ports, &stored);
        fresh(
            write
                .run(&ports.service(), &actor, &stored, None, None)
                .await,
        );
        assert_eq!(writes.only().1.completion, None, "{write:?}");
    }
}

// ---------------------------------------------------------------- repeats

#[tokio::test]
async fn a_repeat_of_a_done_write_answers_the_first_outcome_as_a_replay_and_never_writes() {
    // What the first request got: a task unlike anything stored now.
    let first = TaskBuilder::new(Uuid::now_v7())
        .title("As the first request left it")
        .version(9)
        .build();
    for write in Write::OF_A_TASK {
        let mut keyed = KeyedWrite::claiming(Claim::Done(IdempotentOutcome::Task(Box::new(
            first.clone(),
        ))));
        keyed.ports.tasks.expect_find_by_id().never();
        keyed.ports.never_writes();
        keyed.ports.keys.expect_release().never();
        let result = keyed.run(write, None).await.unwrap();
        assert_eq!(
            (result.value, result.replayed),
            (Some(first.clone()), true),
            "{write:?}"
        );
    }
}

#[tokio::test]
async fn a_repeat_of_a_done_delete_succeeds_again_as_a_replay_and_never_deletes() {
    let actor = member();
    let key = key();
    let mut ports = Ports::default();
    claims(
        &mut ports,
        &actor,
        &key,
        Claim::Done(IdempotentOutcome::Deleted),
    );
    ports.tasks.expect_find_by_id().never();
    ports.never_writes();
    ports.keys.expect_release().never();
    let result = ports
        .service()
        .delete(&actor, TaskScope::Visible, Uuid::now_v7(), None, Some(&key))
        .await
        .unwrap();
    assert!(result.replayed);
}

#[tokio::test]
async fn a_key_done_by_a_delete_repeated_with_a_write_of_a_task_is_invalid_and_never_writes() {
    for write in Write::OF_A_TASK {
        let mut keyed = KeyedWrite::claiming(Claim::Done(IdempotentOutcome::Deleted));
        keyed.ports.tasks.expect_find_by_id().never();
        keyed.ports.never_writes();
        keyed.ports.keys.expect_release().never();
        let result = keyed.run(write, None).await;
        assert_eq!(invalid_fields(result), ["Idempotency-Key"], "{write:?}");
    }
}

#[tokio::test]
async fn a_key_done_by_a_write_of_a_task_repeated_with_a_delete_is_invalid_and_never_deletes() {
    let actor = member();
    let stored = task_of(&actor, 3, TaskStatus::Todo);
    let key = key();
    let mut ports = Ports::default();
    claims(
        &mut ports,
        &actor,
        &key,
        Claim::Done(IdempotentOutcome::Task(Box::new(stored.clone()))),
    );
    ports.tasks.expect_find_by_id().never();
    ports.never_writes();
    ports.keys.expect_release().never();
    let result = Write::Delete
        .run(&ports.service(), &actor, &stored, None, Some(&key))
        .await;
    assert_eq!(invalid_fields(result), ["Idempotency-Key"]);
}

#[tokio::test]
async fn a_key_used_for_another_request_is_invalid_on_idempotency_key_and_never_writes() {
    for write in Write::ALL {
        let mut keyed = KeyedWrite::claiming(Claim::Mismatch);
        keyed.ports.never_writes();
        keyed.ports.keys.expect_release().never();
        let result = keyed.run(write, None).await;
        assert_eq!(invalid_fields(result), ["Idempotency-Key"], "{write:?}");
    }
}

#[tokio::test]
async fn a_key_still_in_progress_is_a_conflict_and_is_neither_written_nor_given_back() {
    for write in Write::ALL {
        let mut keyed = KeyedWrite::claiming(Claim::InProgress);
        keyed.ports.never_writes();
        // Giving it back would free the key of the request still running.
        keyed.ports.keys.expect_release().never();
        let result = keyed.run(write, None).await;
        assert_conflict(result);
    }
}

#[tokio::test]
async fn a_claim_goes_stale_only_once_no_write_of_its_request_can_land() {
    // Writes that end within 20 s: the default minute. Within 5 minutes (a long
    // request deadline): those 5 minutes and the clocks' margin of 10 s.
    for (longest, stale_after) in [
        (Duration::seconds(20), Duration::seconds(60)),
        (Duration::minutes(5), Duration::seconds(310)),
    ] {
        let (actor, key) = (member(), key());
        let stored = task_of(&actor, 3, TaskStatus::Todo);
        let mut ports = Ports::default();
        ports
            .keys
            .expect_claim()
            .withf(move |_, _, _, _, _, stale_before| *stale_before == now() - stale_after)
            .times(1)
            .returning(|_, _, _, _, _, _| Ok(Claim::InProgress));
        ports.never_writes();
        let service = ports
            .service()
            .with_writes_landing_within(longest.to_std().unwrap());
        let result = Write::ALL[0]
            .run(&service, &actor, &stored, None, Some(&key))
            .await;
        assert_conflict(result);
    }
}

#[tokio::test]
async fn a_claim_that_storage_cannot_answer_fails_the_write_before_it_writes() {
    for write in Write::ALL {
        let actor = member();
        let stored = task_of(&actor, 3, TaskStatus::Todo);
        let mut ports = Ports::default();
        ports
            .keys
            .expect_claim()
            .times(1)
            .returning(|_, _, _, _, _, _| Err(DomainError::Unavailable("keys".into())));
        ports.never_writes();
        ports.keys.expect_release().never();
        let result = write
            .run(&ports.service(), &actor, &stored, None, Some(&key()))
            .await;
        assert!(
            matches!(result, Err(DomainError::Unavailable(_))),
            "{write:?}: {result:?}"
        );
    }
}

// ---------------------------------------------------------------- giving keys back

#[tokio::test]
async fn a_write_that_storage_refuses_gives_its_key_back_once() {
    let errors: [fn() -> DomainError; 2] = [
        || DomainError::NotFound("gone".into()),
        || DomainError::Conflict("already exists".into()),
    ];
    for write in Write::ALL {
        for error in errors {
            let mut keyed = KeyedWrite::claiming(Claim::Claimed);
            write.fails(&mut keyed.ports, &keyed.stored, error);
            releases(&mut keyed.ports, &keyed.actor, &keyed.key);
            let result = keyed.run(write, None).await;
            assert!(result.is_err(), "{write:?}: {result:?}");
        }
    }
}

#[tokio::test]
async fn a_write_whose_outcome_is_unknown_keeps_its_key_claimed() {
    // Storage unavailable or failing: the write may have happened with its completion,
    // so the key is not given back and a retry waits (409) instead of writing twice.
    let errors: [fn() -> DomainError; 2] = [
        || DomainError::Unavailable("timeout".into()),
        || DomainError::unexpected("connection reset"),
    ];
    for write in Write::ALL {
        for error in errors {
            let mut keyed = KeyedWrite::claiming(Claim::Claimed);
            write.fails(&mut keyed.ports, &keyed.stored, error);
            keyed.ports.keys.expect_release().never();
            let result = keyed.run(write, None).await;
            assert!(
                matches!(
                    result,
                    Err(DomainError::Unavailable(_) | DomainError::Unexpected(_))
                ),
                "{write:?}: {result:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_write_with_a_stale_if_match_gives_its_key_back() {
    for write in Write::OF_A_STORED_TASK {
        let mut keyed = KeyedWrite::claiming(Claim::Claimed);
        keyed.ports.stored(&keyed.stored);
        keyed.ports.never_writes();
        releases(&mut keyed.ports, &keyed.actor, &keyed.key);
        let result = keyed
            .run(write, Some(Precondition::Versions(vec![2])))
            .await;
        assert!(
            matches!(result, Err(DomainError::PreconditionFailed(_))),
            "{write:?}: {result:?}"
        );
    }
}

#[tokio::test]
async fn a_write_that_loses_a_race_under_a_specific_if_match_gives_its_key_back() {
    for write in Write::OF_A_STORED_TASK {
        let mut keyed = KeyedWrite::claiming(Claim::Claimed);
        write.fails(&mut keyed.ports, &keyed.stored, || {
            DomainError::PreconditionFailed("version moved".into())
        });
        releases(&mut keyed.ports, &keyed.actor, &keyed.key);
        let result = keyed
            .run(write, Some(Precondition::Versions(vec![3])))
            .await;
        assert!(
            matches!(result, Err(DomainError::PreconditionFailed(_))),
            "{write:?}: {result:?}"
        );
    }
}

#[tokio::test]
async fn a_write_of_a_task_the_actor_does_not_see_gives_its_key_back() {
    for write in Write::OF_A_STORED_TASK {
        let actor = member();
        let hidden = task_of(&member(), 3, TaskStatus::Todo);
        let key = key();
        let mut ports = Ports::default();
        claims(&mut ports, &actor, &key, Claim::Claimed);
        ports.stored(&hidden);
        ports.never_writes();
        releases(&mut ports, &actor, &key);
        let result = write
            .run(&ports.service(), &actor, &hidden, None, Some(&key))
            .await;
        assert!(
            matches!(result, Err(DomainError::NotFound(_))),
            "{write:?}: {result:?}"
        );
    }
}

#[tokio::test]
async fn a_reassignment_refused_after_the_claim_gives_the_key_back() {
    let mut keyed = KeyedWrite::claiming(Claim::Claimed);
    keyed.ports.stored(&keyed.stored);
    keyed.ports.never_writes();
    releases(&mut keyed.ports, &keyed.actor, &keyed.key);
    let patch = TaskPatch {
        owner_id: Some(Uuid::now_v7()),
        ..TaskPatch::default()
    };
    let result = keyed
        .service()
        .patch(
            &keyed.actor,
            TaskScope::Visible,
            keyed.stored.id,
            None,
            patch,
            Some(&keyed.key),
        )
        .await;
    assert!(
        matches!(result, Err(DomainError::Forbidden(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_write_that_never_wins_a_race_gives_its_key_back_with_the_conflict() {
    let actor = member();
    let stored = task_of(&actor, 3, TaskStatus::Todo);
    let found = stored.clone();
    let key = key();
    let mut ports = Ports::default();
    claims(&mut ports, &actor, &key, Claim::Claimed);
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
    releases(&mut ports, &actor, &key);
    let result = ports
        .service()
        .toggle_complete(&actor, TaskScope::Visible, stored.id, None, Some(&key))
        .await;
    assert_conflict(result);
}

#[tokio::test]
async fn a_create_refused_before_it_claims_touches_no_key() {
    let mut ports = Ports::default();
    ports.keys.expect_claim().never();
    ports.keys.expect_release().never();
    ports.never_writes();
    let draft = TaskDraft {
        owner_id: Some(Uuid::now_v7()),
        ..TaskDraft::new(title("t"))
    };
    let result = ports
        .service()
        .create(&member(), TaskScope::Visible, draft, Some(&key()))
        .await;
    assert!(
        matches!(result, Err(DomainError::Forbidden(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_write_outside_the_actors_scope_touches_no_key() {
    for write in Write::OF_A_STORED_TASK {
        let actor = member();
        let mut ports = Ports::default();
        ports.keys.expect_claim().never();
        ports.keys.expect_release().never();
        ports.never_writes();
        let service = ports.service();
        let scope = TaskScope::OwnedBy(Uuid::now_v7());
        let id = Uuid::now_v7();
        let key = key();
        let result = match write {
            Write::Replace => service
                .replace(
                    &actor,
                    scope,
                    id,
                    None,
                    TaskDraft::new(title("t")),
                    Some(&key),
                )
                .await
                .map(|_| ()),
            Write::Patch => service
                .patch(&actor, scope, id, None, TaskPatch::default(), Some(&key))
                .await
                .map(|_| ()),
            Write::Toggle => service
                .toggle_complete(&actor, scope, id, None, Some(&key))
                .await
                .map(|_| ()),
            _ => service
                .delete(&actor, scope, id, None, Some(&key))
                .await
                .map(|_| ()),
        };
        assert!(
            matches!(result, Err(DomainError::Forbidden(_))),
            "{write:?}: {result:?}"
        );
    }
}

#[tokio::test]
async fn a_successful_write_never_gives_its_key_back() {
    for write in Write::ALL {
        let actor = member();
        let stored = task_of(&actor, 3, TaskStatus::Done);
        let key = key();
        let mut ports = Ports::default();
        claims(&mut ports, &actor, &key, Claim::Claimed);
        write.succeeds(&mut ports, &stored);
        ports.keys.expect_release().never();
        let result = write
            .run(&ports.service(), &actor, &stored, None, Some(&key))
            .await;
        assert!(result.is_ok(), "{write:?}: {result:?}");
    }
}

#[tokio::test]
async fn a_key_that_cannot_be_given_back_leaves_the_writes_own_error() {
    let actor = member();
    let key = key();
    let mut ports = Ports::default();
    claims(&mut ports, &actor, &key, Claim::Claimed);
    ports
        .tasks
        .expect_find_by_id()
        .times(1)
        .returning(|_| Ok(None));
    ports
        .keys
        .expect_release()
        .times(1)
        .returning(|_, _| Err(DomainError::Unavailable("keys".into())));
    let result = ports
        .service()
        .patch(
            &actor,
            TaskScope::Visible,
            Uuid::now_v7(),
            None,
            TaskPatch::default(),
            Some(&key),
        )
        .await;
    assert!(
        matches!(result, Err(DomainError::NotFound(_))),
        "{result:?}"
    );
}
