//! Deadlines are stored and returned to the microsecond, as both databases keep them.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

use super::{Ports, fresh, task_of, title};
use crate::task::{TaskDraft, TaskPatch, TaskScope, TaskStatus};
use crate::tests::fixtures::member;

/// A deadline with nanoseconds, as a client may send it.
fn nanosecond_due() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 123_456_789).unwrap()
}

/// What both databases store of [`nanosecond_due`].
fn microsecond_due() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 123_456_000).unwrap()
}

#[tokio::test]
async fn create_stores_and_returns_the_due_date_to_the_microsecond() {
    let written = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&written);
    let mut ports = Ports::default();
    ports.tasks.expect_insert().times(1).returning(move |t, _| {
        sink.lock().unwrap().push(t.due_date);
        Ok(())
    });
    let draft = TaskDraft {
        due_date: Some(nanosecond_due()),
        ..TaskDraft::new(title("t"))
    };
    let task = fresh(
        ports
            .service()
            .create(&member(), TaskScope::Visible, draft, None)
            .await,
    );
    assert_eq!(
        *written.lock().unwrap(),
        [Some(microsecond_due())],
        "what is stored"
    );
    assert_eq!(task.due_date, Some(microsecond_due()), "what is returned");
}

#[tokio::test]
async fn replace_and_patch_store_and_return_the_due_date_to_the_microsecond() {
    let actor = member();
    let stored = task_of(&actor, 1, TaskStatus::Todo);
    let written = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&written);
    let mut ports = Ports::default();
    let found = stored.clone();
    ports
        .tasks
        .expect_find_by_id()
        .times(2)
        .returning(move |_| Ok(Some(found.clone())));
    ports
        .tasks
        .expect_update()
        .times(2)
        .returning(move |t, _, _| {
            sink.lock().unwrap().push(t.due_date);
            Ok(())
        });
    let service = ports.service();
    let draft = TaskDraft {
        due_date: Some(nanosecond_due()),
        ..TaskDraft::new(title("t"))
    };
    let replaced = fresh(
        service
            .replace(&actor, TaskScope::Visible, stored.id, None, draft, None)
            .await,
    );
    let patch = TaskPatch {
        due_date: Some(Some(nanosecond_due())),
        ..TaskPatch::default()
    };
    let patched = fresh(
        service
            .patch(&actor, TaskScope::Visible, stored.id, None, patch, None)
            .await,
    );
    assert_eq!(
        *written.lock().unwrap(),
        [Some(microsecond_due()), Some(microsecond_due())],
        "what is stored"
    );
    assert_eq!(
        replaced.due_date,
        Some(microsecond_due()),
        "what PUT returns"
    );
    assert_eq!(
        patched.due_date,
        Some(microsecond_due()),
        "what PATCH returns"
    );
}
