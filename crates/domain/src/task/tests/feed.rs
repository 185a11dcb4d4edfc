//! Reading the change log: the incremental feed, events after a cursor, and a task's
//! history (who may read what, including the history of a deleted task).

use std::sync::Arc;

use chrono::Duration;
use uuid::Uuid;

use super::{Ports, assert_forbidden, assert_not_found, task_of};
use crate::DomainError;
use crate::page::{Page, PageRequest};
use crate::task::{
    ChangeEvent, FeedCursor, FeedItem, FeedPage, MockTaskChangeWatch, Task, TaskChange, TaskEvents,
    TaskScope, TaskStatus,
};
use crate::testing::UserBuilder;
use crate::tests::fixtures::{admin, invalid_fields, member, now};
use crate::user::User;

fn cursor(raw: &str) -> FeedCursor {
    FeedCursor(raw.to_owned())
}

fn a_page() -> FeedPage {
    FeedPage {
        items: vec![FeedItem::Deleted(Uuid::from_u128(42))],
        next: cursor("next"),
        has_more: true,
    }
}

/// `feed` is asked once, for `viewer` after `after` at most `limit`; it answers `page`.
fn expect_feed(
    ports: &mut Ports,
    viewer: Option<Uuid>,
    after: Option<FeedCursor>,
    limit: u64,
    page: FeedPage,
) {
    ports
        .changes
        .expect_feed()
        .withf(move |v, a, l| *v == viewer && a.cloned() == after && *l == limit)
        .times(1)
        .returning(move |_, _, _| Ok(page.clone()));
}

// ---------------------------------------------------------------- the feed

#[tokio::test]
async fn the_feed_of_a_non_admin_is_of_their_own_tasks_from_their_cursor() {
    let actor = member();
    let mut ports = Ports::default();
    expect_feed(&mut ports, Some(actor.id), Some(cursor("c1")), 50, a_page());
    let page = ports
        .service()
        .changes(&actor, Some(&cursor("c1")), Some(50))
        .await
        .unwrap();
    assert_eq!(page, a_page());
}

#[tokio::test]
async fn the_feed_of_an_admin_is_of_every_task() {
    let mut ports = Ports::default();
    expect_feed(&mut ports, None, None, 100, a_page());
    let page = ports.service().changes(&admin(), None, None).await.unwrap();
    assert_eq!(page, a_page());
}

#[tokio::test]
async fn the_feed_takes_100_items_by_default() {
    let actor = member();
    let mut ports = Ports::default();
    expect_feed(&mut ports, Some(actor.id), None, 100, a_page());
    assert!(ports.service().changes(&actor, None, None).await.is_ok());
}

#[tokio::test]
async fn the_feed_takes_1_to_500_items() {
    for limit in [1, 500] {
        let actor = member();
        let mut ports = Ports::default();
        expect_feed(&mut ports, Some(actor.id), None, limit, a_page());
        let result = ports.service().changes(&actor, None, Some(limit)).await;
        assert!(result.is_ok(), "{limit}: {result:?}");
    }
}

#[tokio::test]
async fn a_feed_limit_of_0_or_above_500_is_invalid_on_limit_and_reads_nothing() {
    for limit in [0, 501, u64::MAX] {
        let mut ports = Ports::default();
        ports.changes.expect_feed().never();
        let result = ports
            .service()
            .changes(&member(), Some(&cursor("c")), Some(limit))
            .await;
        assert_eq!(invalid_fields(result), ["limit"], "{limit}");
    }
}

#[tokio::test]
async fn a_cursor_older_than_the_retention_is_gone() {
    let mut ports = Ports::default();
    ports
        .changes
        .expect_feed()
        .times(1)
        .returning(|_, _, _| Err(DomainError::Gone("purged".into())));
    let result = ports
        .service()
        .changes(&member(), Some(&cursor("old")), None)
        .await;
    assert!(matches!(result, Err(DomainError::Gone(_))), "{result:?}");
}

#[tokio::test]
async fn events_after_a_cursor_are_the_actors_own_and_an_admins_all() {
    let actor = member();
    let root = admin();
    for (user, viewer) in [(&actor, Some(actor.id)), (&root, None)] {
        let event = ChangeEvent {
            seq: 8,
            cursor: cursor("after-8"),
            change: TaskChange::deleted(&task_of(&actor, 2, TaskStatus::Todo), actor.id, now()),
        };
        let answer = vec![event.clone()];
        let mut ports = Ports::default();
        ports
            .changes
            .expect_events_after()
            .withf(move |v, after, limit| *v == viewer && *after == cursor("c7") && *limit == 25)
            .times(1)
            .returning(move |_, _, _| Ok(answer.clone()));
        let events = ports
            .service()
            .events_after(user, &cursor("c7"), 25)
            .await
            .unwrap();
        assert_eq!(events, [event]);
    }
}

#[tokio::test]
async fn changes_end_is_where_the_log_ends_now() {
    let mut ports = Ports::default();
    ports
        .changes
        .expect_end()
        .times(1)
        .returning(|| Ok(cursor("end")));
    assert_eq!(ports.service().changes_end().await.unwrap(), cursor("end"));
}

// ---------------------------------------------------------------- history

/// `n` events of `task`, the last one by (and owned by) `last_owner`.
fn events(task: &Task, n: i64, last_owner: Uuid) -> Vec<ChangeEvent> {
    (1..=n)
        .map(|seq| {
            let mut change = TaskChange::created(task, task.owner_id);
            change.version = seq;
            if seq == n {
                change.owner_id = last_owner;
            }
            ChangeEvent {
                seq,
                cursor: cursor(&format!("c{seq}")),
                change,
            }
        })
        .collect()
}

fn page_of(events: &[ChangeEvent], page: PageRequest) -> Page<ChangeEvent> {
    let start = usize::try_from(page.offset()).unwrap();
    let limit = usize::try_from(page.limit()).unwrap();
    Page {
        items: events.iter().skip(start).take(limit).cloned().collect(),
        total: events.len() as u64,
        limit: page.limit(),
        offset: page.offset(),
    }
}

/// The log holds `events` of `id`: every `history` of it answers its page of them.
fn logged(ports: &mut Ports, id: Uuid, events: Vec<ChangeEvent>) {
    ports
        .changes
        .expect_history()
        .withf(move |task_id, _| *task_id == id)
        .returning(move |_, page| Ok(page_of(&events, page)));
}

/// `find_by_id(id)` answers `task`.
fn found(ports: &mut Ports, id: Uuid, task: Option<Task>) {
    ports
        .tasks
        .expect_find_by_id()
        .withf(move |task_id| *task_id == id)
        .times(1)
        .returning(move |_| Ok(task.clone()));
}

async fn history(
    ports: Ports,
    actor: &User,
    scope: TaskScope,
    id: Uuid,
) -> Result<Page<ChangeEvent>, DomainError> {
    ports
        .service()
        .history(
            actor,
            scope,
            id,
            PageRequest::new(Some(2), Some(1)).unwrap(),
        )
        .await
}

#[tokio::test]
async fn the_history_of_a_task_the_actor_sees_is_the_page_asked_for() {
    let actor = member();
    let task = task_of(&actor, 4, TaskStatus::Todo);
    let all = events(&task, 4, actor.id);
    let mut ports = Ports::default();
    logged(&mut ports, task.id, all.clone());
    found(&mut ports, task.id, Some(task.clone()));
    let page = history(ports, &actor, TaskScope::Visible, task.id)
        .await
        .unwrap();
    assert_eq!(
        page,
        page_of(&all, PageRequest::new(Some(2), Some(1)).unwrap())
    );
    assert_eq!(page.items.iter().map(|e| e.seq).collect::<Vec<_>>(), [2, 3]);
}

#[tokio::test]
async fn the_history_of_another_users_task_is_not_found() {
    let actor = member();
    let task = task_of(&UserBuilder::new("bob").build(), 2, TaskStatus::Todo);
    let mut ports = Ports::default();
    logged(&mut ports, task.id, events(&task, 2, task.owner_id));
    found(&mut ports, task.id, Some(task.clone()));
    assert_not_found(history(ports, &actor, TaskScope::Visible, task.id).await);
}

#[tokio::test]
async fn the_history_of_a_task_reassigned_away_from_the_actor_is_not_found_to_them() {
    let actor = member();
    let bob = UserBuilder::new("bob").build();
    let task = task_of(&bob, 3, TaskStatus::Todo);
    let mut ports = Ports::default();
    // They owned it until its last change.
    logged(&mut ports, task.id, events(&task, 3, bob.id));
    found(&mut ports, task.id, Some(task.clone()));
    assert_not_found(history(ports, &actor, TaskScope::Visible, task.id).await);
}

#[tokio::test]
async fn the_history_of_another_users_task_is_readable_by_an_admin() {
    let task = task_of(&member(), 2, TaskStatus::Todo);
    let all = events(&task, 2, task.owner_id);
    let mut ports = Ports::default();
    logged(&mut ports, task.id, all.clone());
    found(&mut ports, task.id, Some(task.clone()));
    let page = history(ports, &admin(), TaskScope::Visible, task.id)
        .await
        .unwrap();
    assert_eq!(page.total, 2);
}

#[tokio::test]
async fn the_history_of_a_deleted_task_whose_last_change_was_the_actors_is_readable() {
    let actor = member();
    // Its first changes were someone else's: only the last one decides.
    let task = task_of(&UserBuilder::new("bob").build(), 5, TaskStatus::Todo);
    let all = events(&task, 5, actor.id);
    let mut ports = Ports::default();
    logged(&mut ports, task.id, all.clone());
    found(&mut ports, task.id, None);
    let page = history(ports, &actor, TaskScope::Visible, task.id)
        .await
        .unwrap();
    assert_eq!(
        page,
        page_of(&all, PageRequest::new(Some(2), Some(1)).unwrap())
    );
}

#[tokio::test]
async fn the_history_of_a_deleted_task_whose_last_change_was_someone_elses_is_not_found() {
    let actor = member();
    // The actor owned it once, but not when it was deleted.
    let task = task_of(&actor, 3, TaskStatus::Todo);
    let mut ports = Ports::default();
    logged(&mut ports, task.id, events(&task, 3, Uuid::now_v7()));
    found(&mut ports, task.id, None);
    assert_not_found(history(ports, &actor, TaskScope::Visible, task.id).await);
}

#[tokio::test]
async fn the_history_of_a_task_that_never_was_is_not_found_even_for_an_admin() {
    let id = Uuid::now_v7();
    let mut ports = Ports::default();
    logged(&mut ports, id, vec![]);
    found(&mut ports, id, None);
    assert_not_found(history(ports, &admin(), TaskScope::Visible, id).await);
}

#[tokio::test]
async fn the_history_of_a_deleted_task_is_readable_by_an_admin() {
    let task = task_of(&member(), 2, TaskStatus::Todo);
    let all = events(&task, 2, task.owner_id);
    let mut ports = Ports::default();
    logged(&mut ports, task.id, all.clone());
    found(&mut ports, task.id, None);
    let page = history(ports, &admin(), TaskScope::Visible, task.id)
        .await
        .unwrap();
    assert_eq!(page.total, 2);
}

#[tokio::test]
async fn the_scoped_history_of_a_deleted_task_is_readable_only_under_its_last_owner() {
    let alice = member();
    let task = task_of(&alice, 2, TaskStatus::Todo);
    let all = events(&task, 2, alice.id);

    let mut ports = Ports::default();
    logged(&mut ports, task.id, all.clone());
    found(&mut ports, task.id, None);
    let page = history(ports, &admin(), TaskScope::OwnedBy(alice.id), task.id).await;
    assert_eq!(page.unwrap().total, 2);

    let mut ports = Ports::default();
    logged(&mut ports, task.id, all);
    found(&mut ports, task.id, None);
    let other = TaskScope::OwnedBy(Uuid::now_v7());
    assert_not_found(history(ports, &admin(), other, task.id).await);
}

#[tokio::test]
async fn the_scoped_history_of_someone_elses_task_is_not_found_even_for_an_admin() {
    let task = task_of(&UserBuilder::new("bob").build(), 2, TaskStatus::Todo);
    let mut ports = Ports::default();
    logged(&mut ports, task.id, events(&task, 2, task.owner_id));
    found(&mut ports, task.id, Some(task.clone()));
    let scope = TaskScope::OwnedBy(member().id);
    assert_not_found(history(ports, &admin(), scope, task.id).await);
}

#[tokio::test]
async fn the_scoped_history_under_another_user_by_a_non_admin_is_forbidden_and_reads_nothing() {
    let mut ports = Ports::default();
    ports.changes.expect_history().never();
    ports.tasks.expect_find_by_id().never();
    let scope = TaskScope::OwnedBy(Uuid::now_v7());
    assert_forbidden(history(ports, &member(), scope, Uuid::now_v7()).await);
}

// ---------------------------------------------------------------- retention

#[tokio::test]
async fn purge_deletes_the_changes_older_than_the_retention_and_the_expired_keys() {
    let mut ports = Ports::default();
    ports
        .changes
        .expect_purge()
        .withf(|before| *before == now() - Duration::days(30))
        .times(1)
        .returning(|_| Ok(7));
    ports
        .keys
        .expect_purge()
        .withf(|at| *at == now())
        .times(1)
        .returning(|_| Ok(3));
    let purged = ports.service().purge(Duration::days(30)).await.unwrap();
    assert_eq!(purged, (7, 3));
}

#[tokio::test]
async fn purge_passes_a_storage_failure_on() {
    let mut ports = Ports::default();
    ports
        .changes
        .expect_purge()
        .times(1)
        .returning(|_| Err(DomainError::Unavailable("timeout".into())));
    let result = ports.service().purge(Duration::days(30)).await;
    assert!(
        matches!(result, Err(DomainError::Unavailable(_))),
        "{result:?}"
    );
}

// ---------------------------------------------------------------- live events

#[tokio::test]
async fn live_events_follow_the_actors_own_tasks_and_an_admins_all() {
    let actor = member();
    let root = admin();
    for (user, viewer) in [(&actor, Some(actor.id)), (&root, None)] {
        let event = ChangeEvent {
            seq: 3,
            cursor: cursor("after-3"),
            change: TaskChange::deleted(&task_of(&actor, 1, TaskStatus::Todo), actor.id, now()),
        };
        let answer = (vec![event.clone()], cursor("after-5"));
        let mut watch = MockTaskChangeWatch::new();
        watch
            .expect_next()
            .withf(move |v, after, limit| *v == viewer && *after == cursor("c2") && *limit == 10)
            .times(1)
            .returning(move |_, _, _| Ok(answer.clone()));
        let events = TaskEvents::new(Arc::new(watch))
            .next(user, &cursor("c2"), 10)
            .await
            .unwrap();
        assert_eq!(events, (vec![event], cursor("after-5")));
    }
}
