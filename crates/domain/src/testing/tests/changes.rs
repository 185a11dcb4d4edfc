//! The in-memory change log end to end, through `Fixture`: what writes log, the
//! incremental feed from scratch and from a cursor, events, history and purging.

use chrono::Duration;
use uuid::Uuid;

use super::{account, draft};
use crate::DomainError;
use crate::clock::Clock;
use crate::page::PageRequest;
use crate::task::{
    ChangeEvent, ChangeOp, FeedCursor, FeedItem, FeedPage, Task, TaskChangeLog, TaskPatch,
    TaskScope, Title,
};
use crate::testing::Fixture;
use crate::user::{Email, Password, User};

/// A fixture with an admin (`root`) and two users (`ada`, `bob`).
struct World {
    app: Fixture,
    root: User,
    ada: User,
    bob: User,
}

async fn world() -> World {
    let app = Fixture::new();
    let root = app
        .users
        .ensure_admin(
            Email::parse("root@example.com").unwrap(),
            Password::parse("root-pass-1").unwrap(),
        )
        .await
        .unwrap();
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
    World {
        app,
        root,
        ada,
        bob,
    }
}

impl World {
    async fn create(&self, user: &User, title: &str) -> Task {
        let written = self
            .app
            .tasks
            .create(user, TaskScope::Visible, draft(title), None)
            .await
            .unwrap();
        assert!(!written.replayed);
        written.value
    }

    async fn rename(&self, user: &User, task: &Task, title: &str) -> Task {
        let patch = TaskPatch {
            title: Some(Title::parse(title).unwrap()),
            ..TaskPatch::default()
        };
        self.patch(user, task, patch).await
    }

    async fn patch(&self, user: &User, task: &Task, patch: TaskPatch) -> Task {
        self.app
            .tasks
            .patch(user, TaskScope::Visible, task.id, None, patch, None)
            .await
            .unwrap()
            .value
    }

    async fn toggle(&self, user: &User, task: &Task) -> Task {
        self.app
            .tasks
            .toggle_complete(user, TaskScope::Visible, task.id, None, None)
            .await
            .unwrap()
            .value
    }

    async fn delete(&self, user: &User, task: &Task) {
        self.app
            .tasks
            .delete(user, TaskScope::Visible, task.id, None, None)
            .await
            .unwrap();
    }

    async fn feed(&self, user: &User, since: Option<&FeedCursor>, limit: Option<u64>) -> FeedPage {
        self.app.tasks.changes(user, since, limit).await.unwrap()
    }

    async fn events(&self, user: &User, after: &FeedCursor) -> Vec<ChangeEvent> {
        self.app.tasks.events_after(user, after, 100).await.unwrap()
    }

    async fn end(&self) -> FeedCursor {
        self.app.tasks.changes_end().await.unwrap()
    }

    async fn history(
        &self,
        user: &User,
        task: &Task,
    ) -> Result<crate::page::Page<ChangeEvent>, DomainError> {
        self.app
            .tasks
            .history(user, TaskScope::Visible, task.id, PageRequest::default())
            .await
    }

    /// The task as stored now.
    async fn now(&self, task: &Task) -> Task {
        self.app
            .tasks
            .get(&self.root, TaskScope::Visible, task.id)
            .await
            .unwrap()
    }
}

/// What each event is: (op, task, version, actor).
fn summary(events: &[ChangeEvent]) -> Vec<(ChangeOp, Uuid, i64, Uuid)> {
    events
        .iter()
        .map(|e| {
            (
                e.change.op,
                e.change.task_id,
                e.change.version,
                e.change.actor_id,
            )
        })
        .collect()
}

fn assert_gone<T: std::fmt::Debug>(result: Result<T, DomainError>) {
    assert!(matches!(result, Err(DomainError::Gone(_))), "{result:?}");
}

// ---------------------------------------------------------------- the feed

#[tokio::test]
async fn the_feed_from_scratch_holds_every_live_task_the_reader_sees_as_it_is_now() {
    let w = world().await;
    let a1 = w.create(&w.ada, "a1").await;
    let a2 = w.create(&w.ada, "a2").await;
    let a3 = w.create(&w.ada, "a3").await;
    let b1 = w.create(&w.bob, "b1").await;
    let a1 = w.rename(&w.ada, &a1, "a1 renamed").await;
    let a2 = w.toggle(&w.ada, &a2).await;
    w.delete(&w.ada, &a3).await;

    let page = w.feed(&w.ada, None, None).await;
    assert_eq!(
        page.items,
        [FeedItem::Task(a1.clone()), FeedItem::Task(a2.clone())]
    );
    assert!(!page.has_more);

    let page = w.feed(&w.bob, None, None).await;
    assert_eq!(page.items, [FeedItem::Task(b1.clone())]);

    let page = w.feed(&w.root, None, None).await;
    assert_eq!(
        page.items,
        [FeedItem::Task(a1), FeedItem::Task(a2), FeedItem::Task(b1)]
    );
}

#[tokio::test]
async fn the_feed_from_scratch_continues_with_the_changes_made_since() {
    let w = world().await;
    let a1 = w.create(&w.ada, "a1").await;
    let first = w.feed(&w.ada, None, None).await;
    assert_eq!(first.items, [FeedItem::Task(a1.clone())]);

    let again = w.feed(&w.ada, Some(&first.next), None).await;
    assert_eq!((again.items, again.has_more), (vec![], false));

    let a1 = w.rename(&w.ada, &a1, "later").await;
    let page = w.feed(&w.ada, Some(&first.next), None).await;
    assert_eq!(page.items, [FeedItem::Task(a1)]);
}

#[tokio::test]
async fn the_feed_after_a_cursor_holds_each_changed_task_once_as_it_is_now_in_change_order() {
    let w = world().await;
    let a1 = w.create(&w.ada, "a1").await;
    let a2 = w.create(&w.ada, "a2").await;
    let _a3 = w.create(&w.ada, "a3").await;
    let cursor = w.feed(&w.ada, None, None).await.next;

    w.rename(&w.ada, &a1, "a1 once").await;
    let a4 = w.create(&w.ada, "a4").await;
    w.toggle(&w.ada, &a2).await;
    w.rename(&w.ada, &a1, "a1 twice").await;
    w.delete(&w.ada, &a4).await;
    w.create(&w.bob, "b1").await;

    let page = w.feed(&w.ada, Some(&cursor), None).await;
    // a2 last changed before a1 did, and a4 last of all (its deletion); a3 not at all.
    assert_eq!(
        page.items,
        [
            FeedItem::Task(w.now(&a2).await),
            FeedItem::Task(w.now(&a1).await),
            FeedItem::Deleted(a4.id),
        ]
    );
    assert!(!page.has_more);

    let after = w.feed(&w.ada, Some(&page.next), None).await;
    assert_eq!((after.items, after.has_more), (vec![], false));

    let rest = w.feed(&w.bob, Some(&cursor), None).await;
    assert_eq!(rest.items.len(), 1, "bob sees only his own: {rest:?}");
}

#[tokio::test]
async fn the_feed_pages_by_limit_and_says_when_more_follow() {
    let w = world().await;
    let a1 = w.create(&w.ada, "a1").await;
    let a2 = w.create(&w.ada, "a2").await;
    let a3 = w.create(&w.ada, "a3").await;

    // From scratch, two at a time.
    let first = w.feed(&w.ada, None, Some(2)).await;
    assert_eq!(
        (first.items, first.has_more),
        (
            vec![FeedItem::Task(a1.clone()), FeedItem::Task(a2.clone())],
            true
        )
    );
    let second = w.feed(&w.ada, Some(&first.next), Some(2)).await;
    assert_eq!(
        (second.items, second.has_more),
        (vec![FeedItem::Task(a3.clone())], false)
    );

    // Then the changes, one at a time.
    w.toggle(&w.ada, &a3).await;
    w.rename(&w.ada, &a1, "a1 renamed").await;
    w.delete(&w.ada, &a2).await;
    let mut cursor = second.next;
    let mut seen = Vec::new();
    let mut more = Vec::new();
    for _ in 0..4 {
        let page = w.feed(&w.ada, Some(&cursor), Some(1)).await;
        assert!(page.items.len() <= 1);
        seen.extend(page.items);
        more.push(page.has_more);
        cursor = page.next;
    }
    assert_eq!(
        seen,
        [
            FeedItem::Task(w.now(&a3).await),
            FeedItem::Task(w.now(&a1).await),
            FeedItem::Deleted(a2.id),
        ]
    );
    assert_eq!(more, [true, true, false, false]);
}

#[tokio::test]
async fn the_last_page_from_scratch_says_more_follow_when_tasks_changed_since_the_first() {
    let w = world().await;
    let a1 = w.create(&w.ada, "a1").await;
    let a2 = w.create(&w.ada, "a2").await;
    let a3 = w.create(&w.ada, "a3").await;
    let first = w.feed(&w.ada, None, Some(2)).await;
    assert_eq!(
        first.items,
        [FeedItem::Task(a1.clone()), FeedItem::Task(a2)]
    );

    // Changed behind the reader, who already has it.
    let a1 = w.toggle(&w.ada, &a1).await;
    let second = w.feed(&w.ada, Some(&first.next), Some(2)).await;
    assert_eq!(
        (second.items, second.has_more),
        (vec![FeedItem::Task(a3)], true)
    );
    let third = w.feed(&w.ada, Some(&second.next), Some(2)).await;
    assert_eq!(
        (third.items, third.has_more),
        (vec![FeedItem::Task(a1)], false)
    );
}

#[tokio::test]
async fn a_task_given_to_another_user_leaves_the_feed_of_its_owner_and_enters_theirs() {
    let w = world().await;
    let a1 = w.create(&w.ada, "a1").await;
    let ada_cursor = w.feed(&w.ada, None, None).await.next;
    let bob_cursor = w.feed(&w.bob, None, None).await.next;

    let patch = TaskPatch {
        owner_id: Some(w.bob.id),
        ..TaskPatch::default()
    };
    let moved = w.patch(&w.root, &a1, patch).await;

    let ada = w.feed(&w.ada, Some(&ada_cursor), None).await;
    assert_eq!(ada.items, [FeedItem::Deleted(a1.id)]);
    let bob = w.feed(&w.bob, Some(&bob_cursor), None).await;
    assert_eq!(bob.items, [FeedItem::Task(moved)]);

    let events = w.events(&w.ada, &ada_cursor).await;
    assert_eq!(events.len(), 1, "the change that took it away: {events:?}");
    assert_eq!(events[0].change.previous_owner_id, Some(w.ada.id));
}

#[tokio::test]
async fn deleting_a_user_logs_a_deletion_of_each_of_their_tasks_by_whoever_deleted_them() {
    let w = world().await;
    let b1 = w.create(&w.bob, "b1").await;
    let b2 = w
        .rename(&w.bob, &w.create(&w.bob, "b2").await, "b2 v2")
        .await;
    let a1 = w.create(&w.ada, "a1").await;
    let cursor = w.end().await;

    w.app.users.delete(&w.root, w.bob.id).await.unwrap();
    w.app.users.delete_me(&w.ada).await.unwrap();

    let events = w.events(&w.root, &cursor).await;
    assert_eq!(
        summary(&events),
        [
            (ChangeOp::Deleted, b1.id, 1, w.root.id),
            (ChangeOp::Deleted, b2.id, 2, w.root.id),
            (ChangeOp::Deleted, a1.id, 1, w.ada.id),
        ]
    );
    assert!(events.iter().all(|e| e.change.at == w.app.clock.now()));
    assert_eq!(events[0].change.owner_id, w.bob.id);

    let page = w.feed(&w.root, Some(&cursor), None).await;
    assert_eq!(
        page.items,
        [
            FeedItem::Deleted(b1.id),
            FeedItem::Deleted(b2.id),
            FeedItem::Deleted(a1.id)
        ]
    );
    assert_eq!(w.feed(&w.root, None, None).await.items, []);
}

// ---------------------------------------------------------------- events and history

#[tokio::test]
async fn events_after_a_cursor_are_every_change_once_in_order_each_with_its_own_cursor() {
    let w = world().await;
    let start = w.end().await;
    let a1 = w.create(&w.ada, "a1").await;
    w.rename(&w.ada, &a1, "a1 v2").await;
    let b1 = w.create(&w.bob, "b1").await;
    w.toggle(&w.ada, &a1).await;
    let a2 = w.create(&w.ada, "a2").await;
    w.delete(&w.ada, &a2).await;
    w.delete(&w.ada, &a1).await;

    let ada = w.ada.id;
    let events = w.events(&w.ada, &start).await;
    assert_eq!(
        summary(&events),
        [
            (ChangeOp::Created, a1.id, 1, ada),
            (ChangeOp::Updated, a1.id, 2, ada),
            (ChangeOp::Updated, a1.id, 3, ada),
            (ChangeOp::Created, a2.id, 1, ada),
            (ChangeOp::Deleted, a2.id, 1, ada),
            (ChangeOp::Deleted, a1.id, 3, ada),
        ]
    );
    assert!(events.windows(2).all(|pair| pair[0].seq < pair[1].seq));
    for (i, event) in events.iter().enumerate() {
        assert_eq!(
            w.events(&w.ada, &event.cursor).await,
            events[i + 1..],
            "after event {i}"
        );
    }
    let first_two = w.app.tasks.events_after(&w.ada, &start, 2).await.unwrap();
    assert_eq!(first_two, events[..2]);

    let all = w.events(&w.root, &start).await;
    assert_eq!(all.len(), 7, "an admin also sees bob's");
    assert_eq!(all[2].change.task_id, b1.id);
    assert_eq!(w.events(&w.bob, &start).await.len(), 1);
}

#[tokio::test]
async fn the_history_of_a_task_lists_its_changes_oldest_first() {
    let w = world().await;
    let a1 = w.create(&w.ada, "a1").await;
    let other = w.create(&w.ada, "other").await;
    w.rename(&w.ada, &a1, "a1 v2").await;
    w.rename(&w.ada, &other, "other v2").await;
    let done = w.toggle(&w.ada, &a1).await;

    let page = w
        .app
        .tasks
        .history(&w.ada, TaskScope::Visible, a1.id, PageRequest::default())
        .await
        .unwrap();
    assert_eq!(page.total, 3);
    assert_eq!(
        summary(&page.items),
        [
            (ChangeOp::Created, a1.id, 1, w.ada.id),
            (ChangeOp::Updated, a1.id, 2, w.ada.id),
            (ChangeOp::Updated, a1.id, 3, w.ada.id),
        ]
    );
    assert_eq!(page.items[2].change.after, Some(done));

    let second = w
        .app
        .tasks
        .history(
            &w.ada,
            TaskScope::Visible,
            a1.id,
            PageRequest::new(Some(1), Some(1)).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        (second.total, second.items),
        (3, vec![page.items[1].clone()])
    );
}

#[tokio::test]
async fn the_history_of_a_deleted_task_stays_readable_by_its_owner_and_admins_only() {
    let w = world().await;
    let a1 = w.create(&w.ada, "a1").await;
    w.delete(&w.ada, &a1).await;
    let page = w.history(&w.ada, &a1).await.unwrap();
    assert_eq!(
        summary(&page.items),
        [
            (ChangeOp::Created, a1.id, 1, w.ada.id),
            (ChangeOp::Deleted, a1.id, 1, w.ada.id),
        ]
    );
    assert_eq!(w.history(&w.root, &a1).await.unwrap(), page);
    let hidden = w.history(&w.bob, &a1).await;
    assert!(
        matches!(hidden, Err(DomainError::NotFound(_))),
        "{hidden:?}"
    );
}

// ---------------------------------------------------------------- retention

#[tokio::test]
async fn after_a_purge_a_cursor_from_before_it_is_gone_and_later_ones_still_work() {
    let w = world().await;
    let start = w.end().await;
    let a1 = w.create(&w.ada, "a1").await;
    let a2 = w.create(&w.ada, "a2").await;
    // A first page from scratch, made before the last change that is purged.
    let snapshot = w.feed(&w.ada, None, Some(1)).await.next;
    w.rename(&w.ada, &a1, "a1 v2").await;

    w.app.clock.advance(Duration::hours(1));
    let boundary = w.end().await;
    let a1 = w.rename(&w.ada, &a1, "a1 v3").await;

    // A retention of 30 minutes: the changes made an hour ago go, the last one stays.
    let (purged, keys) = w.app.tasks.purge(Duration::minutes(30)).await.unwrap();
    assert_eq!((purged, keys), (3, 0));

    assert_gone(w.app.tasks.changes(&w.ada, Some(&start), None).await);
    assert_gone(w.app.tasks.changes(&w.ada, Some(&snapshot), None).await);
    assert_gone(w.app.tasks.events_after(&w.ada, &start, 10).await);

    // Nothing after the boundary was purged.
    let page = w.feed(&w.ada, Some(&boundary), None).await;
    assert_eq!(page.items, [FeedItem::Task(a1.clone())]);
    assert_eq!(w.events(&w.ada, &boundary).await.len(), 1);
    // A reader that lost its place starts over.
    let fresh = w.feed(&w.ada, None, None).await;
    assert_eq!(
        fresh.items,
        [FeedItem::Task(a1.clone()), FeedItem::Task(a2)]
    );

    let history = w
        .app
        .tasks
        .history(&w.ada, TaskScope::Visible, a1.id, PageRequest::default())
        .await
        .unwrap();
    assert_eq!(
        summary(&history.items),
        [(ChangeOp::Updated, a1.id, 3, w.ada.id)]
    );

    assert_eq!(
        w.app
            .store
            .changes()
            .purge(w.app.clock.now())
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn a_cursor_this_log_did_not_make_is_invalid_on_since() {
    let w = world().await;
    for raw in ["", "nonsense", "m:x", "m:1:not-a-uuid", "m:1:2:3"] {
        let result = w
            .app
            .tasks
            .changes(&w.ada, Some(&FeedCursor(raw.to_owned())), None)
            .await;
        assert!(
            matches!(&result, Err(DomainError::Validation(errors)) if errors[0].field == "since"),
            "{raw:?}: {result:?}"
        );
    }
}
