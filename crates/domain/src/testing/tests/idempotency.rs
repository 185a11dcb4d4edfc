//! Idempotency keys in the in-memory store: the port's states, and retried writes
//! through `Fixture`.

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::{account, draft, tasks_of};
use crate::DomainError;
use crate::clock::Clock;
use crate::idempotency::{
    Claim, Completion, Idempotency, IdempotencyKey, IdempotencyRepository, IdempotentOutcome,
};
use crate::page::PageRequest;
use crate::task::Task;
use crate::task::{TaskChange, TaskPatch, TaskRepository, TaskScope, Title, WriteLog};
use crate::testing::{Fixture, InMemoryStore, TaskBuilder, UserBuilder};
use crate::tests::fixtures::{invalid_fields, now};
use crate::user::{PasswordHash, User, UserRepository};

fn key(raw: &str) -> IdempotencyKey {
    IdempotencyKey::parse(raw).unwrap()
}

/// Claims `k` of `user` for `fingerprint` at `at`, living a day, stale after a minute.
async fn claim(
    store: &InMemoryStore,
    user: Uuid,
    k: &str,
    fingerprint: &str,
    at: DateTime<Utc>,
) -> Claim {
    store
        .idempotency()
        .claim(
            user,
            &key(k),
            fingerprint,
            at,
            at + Duration::hours(24),
            at - Duration::seconds(60),
        )
        .await
        .unwrap()
}

/// A store with one user.
async fn store_with_user() -> (InMemoryStore, User) {
    let store = InMemoryStore::new();
    let user = UserBuilder::new("ada").build();
    store
        .users()
        .insert(&user, &PasswordHash::new("h"))
        .await
        .unwrap();
    (store, user)
}

/// Inserts a task of `user`, completing `k` with it; the task.
async fn write_completing(store: &InMemoryStore, user: &User, k: &str) -> Task {
    let task = TaskBuilder::new(user.id).build();
    let log = WriteLog {
        change: TaskChange::created(&task, user.id),
        completion: Some(Completion {
            user_id: user.id,
            key: key(k),
            outcome: IdempotentOutcome::Task(Box::new(task.clone())),
        }),
    };
    store.tasks().insert(&task, &log).await.unwrap();
    task
}

// ---------------------------------------------------------------- the port

#[tokio::test]
async fn a_free_key_is_claimed_once_and_a_repeat_while_it_runs_is_in_progress() {
    let (store, user) = store_with_user().await;
    assert_eq!(
        claim(&store, user.id, "k", "fp", now()).await,
        Claim::Claimed
    );
    assert_eq!(
        claim(&store, user.id, "k", "fp", now()).await,
        Claim::InProgress
    );
    assert_eq!(
        claim(&store, user.id, "k", "fp", now() + Duration::seconds(59)).await,
        Claim::InProgress
    );
}

#[tokio::test]
async fn a_key_is_per_user() {
    let (store, user) = store_with_user().await;
    assert_eq!(
        claim(&store, user.id, "k", "fp", now()).await,
        Claim::Claimed
    );
    assert_eq!(
        claim(&store, Uuid::now_v7(), "k", "fp", now()).await,
        Claim::Claimed
    );
    assert_eq!(
        claim(&store, user.id, "k2", "fp", now()).await,
        Claim::Claimed
    );
}

#[tokio::test]
async fn a_write_completing_its_key_makes_repeats_done_with_its_outcome() {
    let (store, user) = store_with_user().await;
    assert_eq!(
        claim(&store, user.id, "k", "fp", now()).await,
        Claim::Claimed
    );
    let task = write_completing(&store, &user, "k").await;
    assert_eq!(
        claim(&store, user.id, "k", "fp", now()).await,
        Claim::Done(IdempotentOutcome::Task(Box::new(task)))
    );
}

#[tokio::test]
async fn a_key_used_with_another_fingerprint_is_a_mismatch_running_or_done() {
    let (store, user) = store_with_user().await;
    assert_eq!(
        claim(&store, user.id, "k", "fp", now()).await,
        Claim::Claimed
    );
    assert_eq!(
        claim(&store, user.id, "k", "other", now()).await,
        Claim::Mismatch
    );
    write_completing(&store, &user, "k").await;
    assert_eq!(
        claim(&store, user.id, "k", "other", now()).await,
        Claim::Mismatch
    );
}

#[tokio::test]
async fn release_frees_a_running_key_and_leaves_a_done_one_alone() {
    let (store, user) = store_with_user().await;
    let keys = store.idempotency();
    claim(&store, user.id, "running", "fp", now()).await;
    keys.release(user.id, &key("running")).await.unwrap();
    assert_eq!(
        claim(&store, user.id, "running", "another request", now()).await,
        Claim::Claimed,
        "released: free for any request"
    );

    claim(&store, user.id, "done", "fp", now()).await;
    let task = write_completing(&store, &user, "done").await;
    keys.release(user.id, &key("done")).await.unwrap();
    assert_eq!(
        claim(&store, user.id, "done", "fp", now()).await,
        Claim::Done(IdempotentOutcome::Task(Box::new(task)))
    );

    // Releasing a key nobody holds does nothing.
    keys.release(user.id, &key("never")).await.unwrap();
    keys.release(Uuid::now_v7(), &key("done")).await.unwrap();
    assert!(matches!(
        claim(&store, user.id, "done", "fp", now()).await,
        Claim::Done(_)
    ));
}

#[tokio::test]
async fn a_running_claim_older_than_the_stale_limit_is_claimed_again() {
    let (store, user) = store_with_user().await;
    claim(&store, user.id, "k", "fp", now()).await;
    let later = now() + Duration::seconds(61);
    assert_eq!(
        claim(&store, user.id, "k", "fp", later).await,
        Claim::Claimed
    );
    // A done key never goes stale before it expires.
    write_completing(&store, &user, "k").await;
    let much_later = later + Duration::hours(2);
    assert!(matches!(
        claim(&store, user.id, "k", "fp", much_later).await,
        Claim::Done(_)
    ));
}

#[tokio::test]
async fn an_expired_key_is_claimable_again_by_any_request() {
    let (store, user) = store_with_user().await;
    claim(&store, user.id, "k", "fp", now()).await;
    write_completing(&store, &user, "k").await;
    let expiry = now() + Duration::hours(24);
    assert!(matches!(
        claim(&store, user.id, "k", "fp", expiry - Duration::seconds(1)).await,
        Claim::Done(_)
    ));
    assert_eq!(
        claim(&store, user.id, "k", "another request", expiry).await,
        Claim::Claimed
    );
}

#[tokio::test]
async fn purge_deletes_the_expired_keys_only() {
    let (store, user) = store_with_user().await;
    let keys = store.idempotency();
    claim(&store, user.id, "old-done", "fp", now()).await;
    write_completing(&store, &user, "old-done").await;
    claim(&store, user.id, "old-running", "fp", now()).await;
    let later = now() + Duration::hours(1);
    claim(&store, user.id, "young", "fp", later).await;
    write_completing(&store, &user, "young").await;

    let at = now() + Duration::hours(24);
    assert_eq!(keys.purge(at).await.unwrap(), 2);
    assert_eq!(keys.purge(at).await.unwrap(), 0);
    // The young key still answers its repeats (asked before it expires).
    assert!(matches!(
        claim(&store, user.id, "young", "fp", at).await,
        Claim::Done(_)
    ));
    assert_eq!(keys.purge(later + Duration::hours(24)).await.unwrap(), 1);
}

// ---------------------------------------------------------------- retried writes

fn once(raw: &str, fingerprint: &str) -> Idempotency {
    Idempotency {
        key: key(raw),
        fingerprint: fingerprint.to_owned(),
    }
}

async fn ada(app: &Fixture) -> User {
    app.users
        .register(account("ada@example.com"), None)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_retried_create_creates_one_task_and_answers_it_again() {
    let app = Fixture::new();
    let ada = ada(&app).await;
    let key = once("create-1", "POST /tasks {a}");
    let create = || {
        app.tasks
            .create(&ada, TaskScope::Visible, draft("a"), Some(&key))
    };
    let first = create().await.unwrap();
    let again = create().await.unwrap();
    assert!(!first.replayed);
    assert!(again.replayed);
    assert_eq!(again.value, first.value);
    assert_eq!(tasks_of(&app, &ada).await, [first.value.id]);
    let history = app
        .tasks
        .history(
            &ada,
            TaskScope::Visible,
            first.value.id,
            PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(history.total, 1, "one creation logged");
}

#[tokio::test]
async fn a_retried_patch_changes_the_task_once() {
    let app = Fixture::new();
    let ada = ada(&app).await;
    let task = app
        .tasks
        .create(&ada, TaskScope::Visible, draft("a"), None)
        .await
        .unwrap()
        .value;
    let key = once("patch-1", "PATCH {title}");
    let patch = || {
        let change = TaskPatch {
            title: Some(Title::parse("renamed").unwrap()),
            ..TaskPatch::default()
        };
        app.tasks
            .patch(&ada, TaskScope::Visible, task.id, None, change, Some(&key))
    };
    let first = patch().await.unwrap();
    let again = patch().await.unwrap();
    assert_eq!((first.value.version, first.replayed), (2, false));
    assert_eq!((again.value, again.replayed), (first.value.clone(), true));
    let stored = app.store.tasks().find_by_id(task.id).await.unwrap();
    assert_eq!(stored.map(|t| t.version), Some(2));
}

#[tokio::test]
async fn a_retried_delete_succeeds_again_instead_of_not_found() {
    let app = Fixture::new();
    let ada = ada(&app).await;
    let task = app
        .tasks
        .create(&ada, TaskScope::Visible, draft("a"), None)
        .await
        .unwrap()
        .value;
    let key = once("delete-1", "DELETE");
    let delete = || {
        app.tasks
            .delete(&ada, TaskScope::Visible, task.id, None, Some(&key))
    };
    assert!(!delete().await.unwrap().replayed);
    assert!(delete().await.unwrap().replayed);
    let without_key = app
        .tasks
        .delete(&ada, TaskScope::Visible, task.id, None, None)
        .await;
    assert!(
        matches!(without_key, Err(DomainError::NotFound(_))),
        "{without_key:?}"
    );
}

#[tokio::test]
async fn a_key_reused_for_another_request_is_refused_on_idempotency_key() {
    let app = Fixture::new();
    let ada = ada(&app).await;
    app.tasks
        .create(
            &ada,
            TaskScope::Visible,
            draft("a"),
            Some(&once("k", "body a")),
        )
        .await
        .unwrap();
    let result = app
        .tasks
        .create(
            &ada,
            TaskScope::Visible,
            draft("b"),
            Some(&once("k", "body b")),
        )
        .await;
    assert_eq!(invalid_fields(result), ["Idempotency-Key"]);
    assert_eq!(tasks_of(&app, &ada).await.len(), 1);
}

#[tokio::test]
async fn a_write_whose_key_is_still_claimed_is_a_conflict_and_writes_nothing() {
    let app = Fixture::new();
    let ada = ada(&app).await;
    assert_eq!(
        claim(&app.store, ada.id, "k", "body", app.clock.now()).await,
        Claim::Claimed
    );
    let result = app
        .tasks
        .create(
            &ada,
            TaskScope::Visible,
            draft("a"),
            Some(&once("k", "body")),
        )
        .await;
    assert!(
        matches!(result, Err(DomainError::Conflict(_))),
        "{result:?}"
    );
    assert!(tasks_of(&app, &ada).await.is_empty());
}

#[tokio::test]
async fn a_failed_write_gives_its_key_back_for_the_next_request() {
    let app = Fixture::new();
    let ada = ada(&app).await;
    let key = once("k", "PATCH missing");
    let result = app
        .tasks
        .patch(
            &ada,
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
    assert_eq!(
        claim(&app.store, ada.id, "k", "anything else", app.clock.now()).await,
        Claim::Claimed
    );
}

#[tokio::test]
async fn a_key_outlives_its_task_but_not_its_24_hours() {
    let app = Fixture::new();
    let ada = ada(&app).await;
    let key = once("k", "POST");
    let create = || {
        app.tasks
            .create(&ada, TaskScope::Visible, draft("a"), Some(&key))
    };
    let first = create().await.unwrap().value;
    app.clock.advance(Duration::hours(24));
    let second = create().await.unwrap();
    assert!(!second.replayed, "an expired key is a new request");
    assert_ne!(second.value.id, first.id);
    assert_eq!(tasks_of(&app, &ada).await.len(), 2);
}

#[tokio::test]
async fn the_purge_job_deletes_expired_keys_with_old_changes() {
    let app = Fixture::new();
    let ada = ada(&app).await;
    app.tasks
        .create(
            &ada,
            TaskScope::Visible,
            draft("a"),
            Some(&once("k", "POST")),
        )
        .await
        .unwrap();
    app.clock.advance(Duration::hours(23));
    assert_eq!(app.tasks.purge(Duration::hours(24)).await.unwrap(), (0, 0));
    app.clock.advance(Duration::hours(1));
    assert_eq!(app.tasks.purge(Duration::hours(24)).await.unwrap(), (0, 1));
    app.clock.advance(Duration::seconds(1));
    assert_eq!(app.tasks.purge(Duration::hours(24)).await.unwrap(), (1, 0));
}
