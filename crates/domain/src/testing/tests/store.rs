//! Smoke tests of `InMemoryStore`'s cascades and owner checks (the repository contract
//! suite of `taskforge-infra` runs against it in full).

use chrono::Duration;
use uuid::Uuid;

use super::{account, assert_unauthorized, draft};
use crate::DomainError;
use crate::auth::{Session, SessionRepository};
use crate::page::PageRequest;
use crate::task::{TaskChange, TaskChangeLog, TaskRepository, TaskScope, WriteLog};
use crate::testing::{Fixture, InMemoryStore, TaskBuilder};
use crate::tests::fixtures::now;

#[tokio::test]
async fn deleting_a_user_deletes_their_tasks_and_sessions_and_nobody_elses() {
    let app = Fixture::new();
    let ada = app
        .users
        .register(account("ada@example.com"), None)
        .await
        .unwrap();
    let bob = app
        .users
        .register(account("bob@example.com"), None)
        .await
        .unwrap();
    let ada_pair = app
        .auth
        .login("ada@example.com", "correct horse")
        .await
        .unwrap();
    let bob_pair = app
        .auth
        .login("bob@example.com", "correct horse")
        .await
        .unwrap();
    let ada_task = app
        .tasks
        .create(&ada, TaskScope::Visible, draft("ada's"), None)
        .await
        .unwrap()
        .value;
    let bob_task = app
        .tasks
        .create(&bob, TaskScope::Visible, draft("bob's"), None)
        .await
        .unwrap()
        .value;

    app.users.delete_me(&ada).await.unwrap();

    let tasks = app.store.tasks();
    assert_eq!(tasks.find_by_id(ada_task.id).await.unwrap(), None);
    assert!(app.store.sessions_of(ada.id).is_empty());
    assert_unauthorized(app.auth.authenticate(&ada_pair.access_token).await);

    assert_eq!(tasks.find_by_id(bob_task.id).await.unwrap(), Some(bob_task));
    assert_eq!(app.store.sessions_of(bob.id).len(), 1);
    assert_eq!(
        app.auth.authenticate(&bob_pair.access_token).await.unwrap(),
        bob
    );
}

#[tokio::test]
async fn a_task_or_session_of_a_user_the_store_does_not_hold_is_not_found() {
    let store = InMemoryStore::new();
    let stranger = Uuid::now_v7();
    let task = TaskBuilder::new(stranger).build();
    let log = WriteLog {
        change: TaskChange::created(&task, stranger),
        completion: None,
    };
    let start = store.changes().end().await.unwrap();
    let result = store.tasks().insert(&task, &log).await;
    assert!(
        matches!(result, Err(DomainError::NotFound(_))),
        "{result:?}"
    );
    let session = Session {
        id: Uuid::now_v7(),
        user_id: stranger,
        refresh_jti: Uuid::now_v7(),
        created_at: now(),
        expires_at: now() + Duration::days(1),
        revoked_at: None,
    };
    let result = store.sessions().insert(&session).await;
    assert!(
        matches!(result, Err(DomainError::NotFound(_))),
        "{result:?}"
    );
    assert!(store.sessions_of(stranger).is_empty());
    assert_eq!(
        store
            .changes()
            .events_after(None, &start, 10)
            .await
            .unwrap(),
        [],
        "a refused insert logs no change"
    );
    assert_eq!(
        store
            .changes()
            .history(task.id, PageRequest::default())
            .await
            .unwrap()
            .total,
        0,
        "a refused insert logs no change"
    );
}
