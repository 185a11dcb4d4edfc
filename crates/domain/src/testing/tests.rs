//! Unit tests of the test doubles themselves, one file per double: the clock, the ids,
//! the builders, the plain hasher and tokens, the fixture, and a few smoke tests of the
//! store's cascades (the repository contract suite lives in `taskforge-infra`). This
//! file holds what they share.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::DomainError;
use crate::page::ListRequest;
use crate::task::{TaskDraft, TaskFilter, TaskScope, TaskSort, Title};
use crate::testing::Fixture;
use crate::user::{Email, NewAccount, Password, Role, User};

mod builders;
mod changes;
mod clock;
mod crypto;
mod fixture;
mod idempotency;
mod ids;
mod store;

/// An instant with nanoseconds, as a system clock may read.
fn with_nanos() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 123_456_789).unwrap()
}

/// [`with_nanos`] as both databases store it.
fn with_micros() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 123_456_000).unwrap()
}

fn assert_unauthorized<T: std::fmt::Debug>(result: Result<T, DomainError>) {
    assert!(
        matches!(result, Err(DomainError::Unauthorized(_))),
        "{result:?}"
    );
}

fn account(email: &str) -> NewAccount {
    NewAccount {
        email: Email::parse(email).unwrap(),
        password: Password::parse("correct horse").unwrap(),
        username: None,
        full_name: None,
        role: Role::User,
    }
}

fn draft(title: &str) -> TaskDraft {
    TaskDraft::new(Title::parse(title).unwrap())
}

/// `user`'s own tasks, newest first.
async fn tasks_of(app: &Fixture, user: &User) -> Vec<Uuid> {
    let page = app
        .tasks
        .list(
            user,
            TaskScope::Visible,
            TaskFilter::default(),
            TaskSort::default(),
            &ListRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(page.total, page.items.len() as u64);
    page.items.into_iter().map(|t| t.id).collect()
}
