//! The task change log (`TaskChangeLog`): the one change each write leaves in its own
//! transaction, the stream of them a reader follows by cursor, the incremental feed,
//! a task's history, and the purge.

use std::collections::HashMap;

use super::*;

// What writes leave
// ---------------------------------------------------------------------------------------

async fn every_write_appends_exactly_one_change_with_what_it_did(db: TestDb) {
    let owner = insert_user(&db, "log-owner@example.com", Role::User).await;
    let other = insert_user(&db, "log-other@example.com", Role::User).await;
    let admin = insert_user(&db, "log-admin@example.com", Role::Admin).await;
    let start = end_now(&db).await;
    assert_eq!(events(&db, None, &start).await, []);

    let mut task = new_task(owner.id, "Logged");
    task.description = description("with a description");
    task.priority = Priority::High;
    task.due_date = Some(at(7200));
    let created = TaskChange::created(&task, owner.id);
    db.tasks
        .insert(&task, &plain_log(created.clone()))
        .await
        .unwrap();
    assert_eq!(
        history_of(&db, task.id).await,
        std::slice::from_ref(&created)
    );

    // An admin moves it to another owner and changes most of it.
    let mut moved = task.clone();
    moved.owner_id = other.id;
    moved.title = Title::parse("Logged and moved").unwrap();
    moved.description = None;
    moved.set_status(TaskStatus::Done, at(30));
    moved.updated_at = at(30);
    moved.version = 2;
    let updated = TaskChange::updated(&task, &moved, admin.id);
    assert_eq!(updated.previous_owner_id, Some(owner.id));
    db.tasks
        .update(&moved, 1, &plain_log(updated.clone()))
        .await
        .unwrap();
    assert_eq!(
        history_of(&db, task.id).await,
        [created.clone(), updated.clone()]
    );

    let deleted = TaskChange::deleted(&moved, admin.id, at(60));
    db.tasks
        .delete(task.id, Some(2), &plain_log(deleted.clone()))
        .await
        .unwrap();
    let all = [created, updated, deleted];
    assert_eq!(history_of(&db, task.id).await, all);

    settled(&db).await;
    let logged = events(&db, None, &start).await;
    assert_eq!(changes_of(&logged), all);
    assert!(logged.windows(2).all(|w| w[0].seq < w[1].seq), "{logged:?}");
}

async fn a_write_that_fails_appends_no_change(db: TestDb) {
    let owner = insert_user(&db, "fails@example.com", Role::User).await;
    let admin = insert_user(&db, "only-admin@example.com", Role::Admin).await;
    let task = new_task(owner.id, "kept as it is");
    insert_task(&db, &task).await;
    let admin_task = new_task(admin.id, "the admin's");
    insert_task(&db, &admin_task).await;
    let start = end_now(&db).await;

    // An owner that does not exist.
    let orphan = new_task(Uuid::now_v7(), "orphan");
    assert_not_found(db.tasks.insert(&orphan, &log_created(&orphan)).await);
    // An id that is taken.
    let again = db.tasks.insert(&task, &log_created(&task)).await;
    assert!(matches!(again, Err(DomainError::Conflict(_))), "{again:?}");
    // A stale version.
    let mut stale = task.clone();
    stale.title = Title::parse("overwritten").unwrap();
    stale.version = 3;
    assert_precondition_failed(
        db.tasks
            .update(&stale, 2, &log_updated(&task, &stale))
            .await,
    );
    // A task that does not exist.
    let ghost = new_task(owner.id, "ghost");
    let mut ghost_v2 = ghost.clone();
    ghost_v2.version = 2;
    assert_not_found(
        db.tasks
            .update(&ghost_v2, 1, &log_updated(&ghost, &ghost_v2))
            .await,
    );
    // A new owner that does not exist.
    let mut moved = task.clone();
    moved.owner_id = Uuid::now_v7();
    moved.version = 2;
    assert_not_found(
        db.tasks
            .update(&moved, 1, &log_updated(&task, &moved))
            .await,
    );
    // Deletes with a stale version, of a task that does not exist.
    assert_precondition_failed(db.tasks.delete(task.id, Some(5), &log_deleted(&task)).await);
    assert_not_found(db.tasks.delete(ghost.id, None, &log_deleted(&ghost)).await);
    assert_not_found(
        db.tasks
            .delete(ghost.id, Some(1), &log_deleted(&ghost))
            .await,
    );
    // Users that may not be deleted, or do not exist.
    assert_conflict(
        db.users.delete(admin.id, admin.id, now()).await,
        "cannot delete the last active admin",
    );
    assert_not_found(db.users.delete(Uuid::now_v7(), admin.id, now()).await);

    settled(&db).await;
    assert_eq!(events(&db, None, &start).await, []);
    assert_eq!(history_of(&db, task.id).await, [log_created(&task).change]);
    assert_eq!(
        history_of(&db, admin_task.id).await,
        [log_created(&admin_task).change]
    );
    assert_eq!(history_of(&db, orphan.id).await, []);
    assert_eq!(history_of(&db, ghost.id).await, []);
    assert_eq!(db.tasks.find_by_id(task.id).await.unwrap(), Some(task));
}

async fn deleting_a_user_logs_the_deletion_of_each_of_their_tasks(db: TestDb) {
    let leo = insert_user(&db, "leo-log@example.com", Role::User).await;
    let mia = insert_user(&db, "mia-log@example.com", Role::User).await;
    let admin = insert_user(&db, "admin-log@example.com", Role::Admin).await;
    let mut leos = Vec::new();
    for i in 0..3 {
        let task = new_task(leo.id, &format!("leo {i}"));
        insert_task(&db, &task).await;
        leos.push(task);
    }
    // One of them at a later version: its deletion carries that version.
    bump(&db, &mut leos[1], "leo 1, changed").await;
    bump(&db, &mut leos[1], "leo 1, changed again").await;
    let mias = new_task(mia.id, "mia's");
    insert_task(&db, &mias).await;
    let start = end_now(&db).await;

    let when = at(5000);
    db.users.delete(leo.id, admin.id, when).await.unwrap();

    settled(&db).await;
    let mut expected: Vec<TaskChange> = leos
        .iter()
        .map(|task| TaskChange::deleted(task, admin.id, when))
        .collect();
    expected.sort_by_key(|change| change.task_id);
    let mut logged = changes_of(&events(&db, None, &start).await);
    logged.sort_by_key(|change| change.task_id);
    assert_eq!(logged, expected);
    for task in &leos {
        assert_eq!(db.tasks.find_by_id(task.id).await.unwrap(), None);
        let history = history_of(&db, task.id).await;
        assert_eq!(
            history.last(),
            Some(&TaskChange::deleted(task, admin.id, when))
        );
        assert_eq!(history.len() as i64, task.version + 1, "{history:?}");
    }
    // Leo's stream has the deletions of his tasks; Mia's has none, and her task stays.
    assert_eq!(events(&db, Some(leo.id), &start).await.len(), 3);
    assert_eq!(events(&db, Some(mia.id), &start).await, []);
    assert_eq!(
        db.tasks.find_by_id(mias.id).await.unwrap(),
        Some(mias.clone())
    );
    assert_eq!(history_of(&db, mias.id).await, [log_created(&mias).change]);
}

// Following the log
// ---------------------------------------------------------------------------------------

async fn events_come_in_order_once_each_and_resume_right_after_their_cursor(db: TestDb) {
    let owner = insert_user(&db, "stream@example.com", Role::User).await;
    let start = end_now(&db).await;
    let mut written = Vec::new();
    let mut tasks: Vec<Task> = (0..3)
        .map(|i| new_task(owner.id, &format!("streamed {i}")))
        .collect();
    for task in &tasks {
        insert_task(&db, task).await;
        written.push(log_created(task).change);
    }
    for round in 0..3 {
        for task in &mut tasks {
            written.push(bump(&db, task, &format!("round {round}")).await);
        }
    }
    let log = log_deleted(&tasks[0]);
    db.tasks.delete(tasks[0].id, None, &log).await.unwrap();
    written.push(log.change);
    assert_eq!(written.len(), 13);

    settled(&db).await;
    let all = events(&db, None, &start).await;
    assert_eq!(changes_of(&all), written);
    assert!(all.windows(2).all(|w| w[0].seq < w[1].seq), "{all:?}");
    let cursors: HashSet<&FeedCursor> = all.iter().map(|event| &event.cursor).collect();
    assert_eq!(cursors.len(), all.len());
    // Each cursor resumes right after its own change.
    for (i, event) in all.iter().enumerate() {
        assert_eq!(
            events(&db, None, &event.cursor).await,
            all[i + 1..].to_vec(),
            "after event {i}"
        );
    }
    // In pages of five, following the last cursor of each.
    let mut paged = Vec::new();
    let mut cursor = start.clone();
    for _ in 0..10 {
        let page = db.changes.events_after(None, &cursor, 5).await.unwrap();
        assert!(page.len() <= 5, "{}", page.len());
        let Some(last) = page.last() else { break };
        cursor = last.cursor.clone();
        paged.extend(page);
    }
    assert_eq!(paged, all);

    // A later write comes after the last cursor, alone.
    let later = new_task(owner.id, "later");
    insert_task(&db, &later).await;
    settled(&db).await;
    let last = &all.last().unwrap().cursor;
    assert_eq!(
        changes_of(&events(&db, None, last).await),
        [log_created(&later).change]
    );
    // The end is after every change.
    let end = db.changes.end().await.unwrap();
    assert_eq!(events(&db, None, &end).await, []);
}

async fn each_viewer_gets_the_changes_of_their_tasks_and_of_tasks_taken_from_them(db: TestDb) {
    let alice = insert_user(&db, "alice-view@example.com", Role::User).await;
    let bob = insert_user(&db, "bob-view@example.com", Role::User).await;
    let carol = insert_user(&db, "carol-view@example.com", Role::User).await;
    let admin = insert_user(&db, "admin-view@example.com", Role::Admin).await;
    let start = end_now(&db).await;

    let alices = new_task(alice.id, "alice's, then bob's");
    let bobs = new_task(bob.id, "bob's");
    insert_task(&db, &alices).await;
    insert_task(&db, &bobs).await;
    let mut moved = alices.clone();
    moved.owner_id = bob.id;
    moved.updated_at = now();
    moved.version = 2;
    let reassigned = TaskChange::updated(&alices, &moved, admin.id);
    db.tasks
        .update(&moved, 1, &plain_log(reassigned.clone()))
        .await
        .unwrap();
    let mut moved_on = moved.clone();
    let after_move = bump(&db, &mut moved_on, "bob's now").await;
    let bob_deleted = log_deleted(&bobs);
    db.tasks
        .delete(bobs.id, Some(1), &bob_deleted)
        .await
        .unwrap();

    let created_a = log_created(&alices).change;
    let created_b = log_created(&bobs).change;
    settled(&db).await;
    assert_eq!(
        changes_of(&events(&db, Some(alice.id), &start).await),
        [created_a.clone(), reassigned.clone()]
    );
    assert_eq!(
        changes_of(&events(&db, Some(bob.id), &start).await),
        [
            created_b.clone(),
            reassigned.clone(),
            after_move.clone(),
            bob_deleted.change.clone()
        ]
    );
    assert_eq!(events(&db, Some(carol.id), &start).await, []);
    assert_eq!(events(&db, Some(admin.id), &start).await, []);
    assert_eq!(
        changes_of(&events(&db, None, &start).await),
        [
            created_a,
            created_b,
            reassigned,
            after_move,
            bob_deleted.change
        ]
    );
    // A viewer's cursors resume in their own stream.
    let bobs_stream = events(&db, Some(bob.id), &start).await;
    assert_eq!(
        events(&db, Some(bob.id), &bobs_stream[1].cursor).await,
        bobs_stream[2..].to_vec()
    );
}

// The feed
// ---------------------------------------------------------------------------------------

/// The tasks of some feed items, by id; panics on a tombstone.
fn tasks_by_id(items: &[FeedItem]) -> Vec<Task> {
    let mut tasks: Vec<Task> = items
        .iter()
        .map(|item| match item {
            FeedItem::Task(task) => task.clone(),
            FeedItem::Deleted(id) => panic!("a tombstone of {id} in a first sync"),
        })
        .collect();
    tasks.sort_by_key(|task| task.id);
    tasks
}

fn sorted(tasks: &[Task]) -> Vec<Task> {
    let mut tasks = tasks.to_vec();
    tasks.sort_by_key(|task| task.id);
    tasks
}

fn item_id(item: &FeedItem) -> Uuid {
    match item {
        FeedItem::Task(task) => task.id,
        FeedItem::Deleted(id) => *id,
    }
}

/// Of items that may name a task more than once, the last of each, in the order of
/// those.
fn last_of_each(items: &[FeedItem]) -> Vec<FeedItem> {
    let last: HashMap<Uuid, usize> = items
        .iter()
        .enumerate()
        .map(|(i, item)| (item_id(item), i))
        .collect();
    items
        .iter()
        .enumerate()
        .filter(|(i, item)| last[&item_id(item)] == *i)
        .map(|(_, item)| item.clone())
        .collect()
}

/// Every page of the feed of `viewer` from `since`, `limit` at a time, until one says
/// nothing more follows.
async fn feed_pages(
    db: &TestDb,
    viewer: Option<Uuid>,
    since: Option<&FeedCursor>,
    limit: u64,
) -> Vec<FeedPage> {
    let mut pages = Vec::new();
    let mut cursor = since.cloned();
    for _ in 0..100 {
        let page = db
            .changes
            .feed(viewer, cursor.as_ref(), limit)
            .await
            .unwrap();
        assert!(page.items.len() as u64 <= limit, "{page:?}");
        cursor = Some(page.next.clone());
        let more = page.has_more;
        pages.push(page);
        if !more {
            return pages;
        }
    }
    panic!("the feed never ended: {pages:?}");
}

async fn the_feed_lists_every_visible_task_then_each_changed_task_once(db: TestDb) {
    let alice = insert_user(&db, "alice-feed@example.com", Role::User).await;
    let bob = insert_user(&db, "bob-feed@example.com", Role::User).await;
    let mut alices = Vec::new();
    for i in 0..5 {
        let task = new_task(alice.id, &format!("alice {i}"));
        insert_task(&db, &task).await;
        alices.push(task);
    }
    let mut bobs = Vec::new();
    for i in 0..2 {
        let task = new_task(bob.id, &format!("bob {i}"));
        insert_task(&db, &task).await;
        bobs.push(task);
    }
    settled(&db).await;

    // From scratch: every task the viewer sees, as it is, and nothing more to come.
    let first = db.changes.feed(Some(alice.id), None, 100).await.unwrap();
    assert_eq!(tasks_by_id(&first.items), sorted(&alices));
    assert!(!first.has_more);
    let bob_first = db.changes.feed(Some(bob.id), None, 100).await.unwrap();
    assert_eq!(tasks_by_id(&bob_first.items), sorted(&bobs));
    assert!(!bob_first.has_more);
    let everyone = db.changes.feed(None, None, 100).await.unwrap();
    assert_eq!(
        tasks_by_id(&everyone.items),
        sorted(&[alices.clone(), bobs.clone()].concat())
    );
    assert!(!everyone.has_more);

    // In pages of two: each task once, more to come on every page but the last.
    let pages = feed_pages(&db, Some(alice.id), None, 2).await;
    let sizes: Vec<usize> = pages.iter().map(|page| page.items.len()).collect();
    assert_eq!(sizes, [2, 2, 1]);
    let items: Vec<FeedItem> = pages.iter().flat_map(|p| p.items.clone()).collect();
    assert_eq!(tasks_by_id(&items), sorted(&alices));
    // A page that is exactly full is not followed by an empty one.
    let exact = feed_pages(&db, Some(alice.id), None, 5).await;
    assert_eq!(exact.len(), 1, "{exact:?}");

    // Writes after the first sync.
    let (mut t0, t1, t2) = (alices[0].clone(), alices[1].clone(), alices[2].clone());
    bump(&db, &mut t0, "alice 0, v2").await;
    db.tasks
        .delete(t1.id, None, &log_deleted(&t1))
        .await
        .unwrap();
    bump(&db, &mut t0, "alice 0, v3").await;
    let mut t2_moved = t2.clone();
    t2_moved.owner_id = bob.id;
    t2_moved.version = 2;
    t2_moved.updated_at = now();
    db.tasks
        .update(&t2_moved, 1, &log_updated(&t2, &t2_moved))
        .await
        .unwrap();
    let t5 = new_task(alice.id, "alice 5");
    insert_task(&db, &t5).await;
    let mut b0 = bobs[0].clone();
    bump(&db, &mut b0, "bob 0, v2").await;
    settled(&db).await;

    // Each changed task once, as it is now, in the order of its last change; a task
    // taken from the viewer is a tombstone to them.
    let alice_expected = vec![
        FeedItem::Deleted(t1.id),
        FeedItem::Task(t0.clone()),
        FeedItem::Deleted(t2.id),
        FeedItem::Task(t5.clone()),
    ];
    let changed = db
        .changes
        .feed(Some(alice.id), Some(&first.next), 100)
        .await
        .unwrap();
    assert_eq!(changed.items, alice_expected);
    assert!(!changed.has_more);
    let bob_changed = db
        .changes
        .feed(Some(bob.id), Some(&bob_first.next), 100)
        .await
        .unwrap();
    assert_eq!(
        bob_changed.items,
        [FeedItem::Task(t2_moved.clone()), FeedItem::Task(b0.clone())]
    );
    assert!(!bob_changed.has_more);
    let all_changed = db
        .changes
        .feed(None, Some(&everyone.next), 100)
        .await
        .unwrap();
    assert_eq!(
        all_changed.items,
        [
            FeedItem::Deleted(t1.id),
            FeedItem::Task(t0.clone()),
            FeedItem::Task(t2_moved.clone()),
            FeedItem::Task(t5.clone()),
            FeedItem::Task(b0.clone()),
        ]
    );
    // Nothing after the end of it.
    let rest = db
        .changes
        .feed(Some(alice.id), Some(&changed.next), 100)
        .await
        .unwrap();
    assert_eq!((rest.items, rest.has_more), (vec![], false));

    // One at a time: more to come until the last, every item current, the last of
    // each task as above.
    let pages = feed_pages(&db, Some(alice.id), Some(&first.next), 1).await;
    assert!(pages.len() >= alice_expected.len(), "{pages:?}");
    let items: Vec<FeedItem> = pages.iter().flat_map(|p| p.items.clone()).collect();
    for item in &items {
        assert!(alice_expected.contains(item), "{item:?} is not current");
    }
    assert_eq!(last_of_each(&items), alice_expected);
    let more_than_one = db
        .changes
        .feed(Some(alice.id), Some(&first.next), 2)
        .await
        .unwrap();
    assert!(more_than_one.has_more);
}

/// Applies feed pages to a replica, as a client does: a task is stored, a tombstone
/// removes it. Returns where the feed left off.
async fn sync(
    db: &TestDb,
    viewer: Option<Uuid>,
    replica: &mut HashMap<Uuid, Task>,
    since: Option<&FeedCursor>,
    limit: u64,
) -> FeedCursor {
    let pages = feed_pages(db, viewer, since, limit).await;
    for item in pages.iter().flat_map(|page| page.items.iter()) {
        match item {
            FeedItem::Task(task) => replica.insert(task.id, task.clone()),
            FeedItem::Deleted(id) => replica.remove(id),
        };
    }
    pages.last().expect("a page").next.clone()
}

async fn tasks_of(db: &TestDb, owner: Uuid) -> Vec<Task> {
    let filter = TaskFilter {
        owner_id: Some(owner),
        ..TaskFilter::default()
    };
    let tasks = db
        .tasks
        .list(&filter, TaskSort::default(), all())
        .await
        .unwrap()
        .items;
    sorted(&tasks)
}

async fn a_replica_fed_page_by_page_while_tasks_change_ends_equal_to_the_tasks(db: TestDb) {
    let alice = insert_user(&db, "replica@example.com", Role::User).await;
    let bob = insert_user(&db, "replica-bob@example.com", Role::User).await;
    let mut tasks = Vec::new();
    for i in 0..6 {
        let task = new_task(alice.id, &format!("replicated {i}"));
        insert_task(&db, &task).await;
        tasks.push(task);
    }
    settled(&db).await;
    // The first pass, interrupted by writes after its first page.
    let mut replica = HashMap::new();
    let first = db.changes.feed(Some(alice.id), None, 2).await.unwrap();
    assert!(first.has_more);
    for item in &first.items {
        let FeedItem::Task(task) = item else {
            panic!("{item:?}")
        };
        replica.insert(task.id, task.clone());
    }
    bump(&db, &mut tasks[0], "changed during the first pass").await;
    bump(&db, &mut tasks[5], "changed during the first pass").await;
    db.tasks
        .delete(tasks[3].id, None, &log_deleted(&tasks[3]))
        .await
        .unwrap();
    let late = new_task(alice.id, "created during the first pass");
    insert_task(&db, &late).await;
    let mut given = tasks[4].clone();
    given.owner_id = bob.id;
    given.version += 1;
    db.tasks
        .update(&given, tasks[4].version, &log_updated(&tasks[4], &given))
        .await
        .unwrap();
    settled(&db).await;
    let next = sync(&db, Some(alice.id), &mut replica, Some(&first.next), 2).await;
    assert_eq!(
        sorted(&replica.into_values().collect::<Vec<_>>()),
        tasks_of(&db, alice.id).await
    );

    // And again from where it left off, after more writes.
    let mut replica: HashMap<Uuid, Task> = tasks_of(&db, alice.id)
        .await
        .into_iter()
        .map(|task| (task.id, task))
        .collect();
    bump(&db, &mut tasks[1], "changed after the sync").await;
    let mut back = given.clone();
    back.owner_id = alice.id;
    back.version += 1;
    db.tasks
        .update(&back, given.version, &log_updated(&given, &back))
        .await
        .unwrap();
    settled(&db).await;
    sync(&db, Some(alice.id), &mut replica, Some(&next), 1).await;
    let expected = tasks_of(&db, alice.id).await;
    assert!(expected.iter().any(|task| task.id == back.id));
    assert_eq!(sorted(&replica.into_values().collect::<Vec<_>>()), expected);
}

async fn a_cursor_the_log_did_not_make_is_a_validation_error(db: TestDb) {
    for raw in ["", "garbage", "l-1.2", "m:x", "s1.2.3", "l1.2.3"] {
        let cursor = FeedCursor(raw.to_owned());
        let result = db.changes.feed(None, Some(&cursor), 10).await;
        assert!(
            matches!(&result, Err(DomainError::Validation(errors)) if errors[0].field == "since"),
            "{raw:?}: {result:?}"
        );
        assert_invalid(db.changes.events_after(None, &cursor, 10).await);
    }
}

/// `cursor` with every number in it moved far on: a cursor of a log that has come much
/// further than this one (another database's, or this one's before a restore).
fn far_ahead(cursor: &FeedCursor) -> FeedCursor {
    let mut out = String::new();
    let mut digits = String::new();
    for c in cursor.0.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        if !digits.is_empty() {
            let n: i64 = digits.parse().expect("a number of the cursor");
            out.push_str(&(n + 9_000_000_000).to_string());
            digits.clear();
        }
        out.push(c);
    }
    out.pop();
    FeedCursor(out)
}

async fn a_cursor_past_the_end_of_the_log_is_gone(db: TestDb) {
    let owner = insert_user(&db, "ahead@example.com", Role::User).await;
    insert_task(&db, &new_task(owner.id, "one")).await;
    let end = end_now(&db).await;
    let ahead = far_ahead(&end);
    assert_ne!(ahead, end);
    // Continuing from it would skip every change until the log got that far.
    assert_gone(db.changes.feed(Some(owner.id), Some(&ahead), 10).await);
    assert_gone(db.changes.feed(None, Some(&ahead), 10).await);
    assert_gone(db.changes.events_after(None, &ahead, 10).await);
    // The end itself is not past it, nor a first sync's cursor, before and after the
    // next change.
    assert_eq!(events(&db, None, &end).await, []);
    let first = db.changes.feed(Some(owner.id), None, 10).await.unwrap();
    assert_eq!(first.items.len(), 1);
    let second = new_task(owner.id, "two");
    insert_task(&db, &second).await;
    settled(&db).await;
    assert_eq!(
        changes_of(&events(&db, None, &end).await),
        [log_created(&second).change]
    );
    let page = db
        .changes
        .feed(Some(owner.id), Some(&first.next), 10)
        .await
        .unwrap();
    assert_eq!(tasks_by_id(&page.items), [second]);
}

// History
// ---------------------------------------------------------------------------------------

async fn history_is_oldest_first_with_totals_and_pages_and_outlives_its_task(db: TestDb) {
    let owner = insert_user(&db, "history@example.com", Role::User).await;
    let mut task = new_task(owner.id, "v1");
    let mut other = new_task(owner.id, "other");
    insert_task(&db, &task).await;
    insert_task(&db, &other).await;
    let mut expected = vec![log_created(&task).change];
    for v in 2..=7 {
        expected.push(bump(&db, &mut task, &format!("v{v}")).await);
        bump(&db, &mut other, &format!("other v{v}")).await;
    }
    let deleted = log_deleted(&task);
    db.tasks.delete(task.id, Some(7), &deleted).await.unwrap();
    expected.push(deleted.change);
    assert_eq!(expected.len(), 8);

    for (offset, range) in [(0, 0..3), (3, 3..6), (6, 6..8), (8, 8..8)] {
        let page = db
            .changes
            .history(task.id, offset_page(3, offset))
            .await
            .unwrap();
        assert_eq!(page.total, 8);
        assert_eq!((page.limit, page.offset), (3, offset));
        assert_eq!(
            changes_of(&page.items),
            expected[range.clone()],
            "{range:?}"
        );
    }
    let whole = db
        .changes
        .history(task.id, offset_page(100, 0))
        .await
        .unwrap();
    assert!(whole.items.windows(2).all(|w| w[0].seq < w[1].seq));
    let versions: Vec<i64> = whole.items.iter().map(|e| e.change.version).collect();
    assert_eq!(versions, [1, 2, 3, 4, 5, 6, 7, 7]);
    assert_eq!(history_of(&db, other.id).await.len(), 7);
    let none = db
        .changes
        .history(Uuid::now_v7(), offset_page(100, 0))
        .await
        .unwrap();
    assert_eq!((none.items, none.total), (vec![], 0));
}

// Purge
// ---------------------------------------------------------------------------------------

async fn purge_forgets_old_changes_and_cursors_from_before_it_are_gone(db: TestDb) {
    let owner = insert_user(&db, "purge@example.com", Role::User).await;
    let start = end_now(&db).await;
    // Two tasks created long ago, each changed once long ago.
    let mut tasks = Vec::new();
    for i in 0..2 {
        let mut task = new_task(owner.id, &format!("old {i}"));
        task.created_at = at(i);
        task.updated_at = at(i);
        insert_task(&db, &task).await;
        tasks.push(task);
    }
    let first_sync = {
        settled(&db).await;
        let page = db.changes.feed(Some(owner.id), None, 1).await.unwrap();
        assert!(page.has_more);
        page.next
    };
    for (i, task) in tasks.iter_mut().enumerate() {
        let before = task.clone();
        task.version = 2;
        task.updated_at = at(10 + i as i64);
        db.tasks
            .update(task, 1, &log_updated(&before, task))
            .await
            .unwrap();
    }
    settled(&db).await;
    let old = events(&db, None, &start).await;
    assert_eq!(old.len(), 4);
    let between = db.changes.end().await.unwrap();
    // Two recent changes.
    let mut recent = Vec::new();
    for (i, task) in tasks.iter_mut().enumerate() {
        let before = task.clone();
        task.version = 3;
        task.updated_at = at(100 + i as i64);
        let log = log_updated(&before, task);
        db.tasks.update(task, 2, &log).await.unwrap();
        recent.push(log.change);
    }
    settled(&db).await;

    assert_eq!(db.changes.purge(at(50)).await.unwrap(), 4);
    assert_eq!(db.changes.purge(at(50)).await.unwrap(), 0);
    for task in &tasks {
        assert_eq!(history_of(&db, task.id).await.len(), 1);
    }
    // Cursors from before the last purged change are gone; from it on they work.
    assert_gone(db.changes.events_after(None, &start, 10).await);
    assert_gone(db.changes.events_after(None, &old[2].cursor, 10).await);
    assert_gone(db.changes.feed(Some(owner.id), Some(&start), 10).await);
    assert_gone(db.changes.feed(Some(owner.id), Some(&first_sync), 10).await);
    assert_gone(
        db.changes
            .feed(Some(owner.id), Some(&old[2].cursor), 10)
            .await,
    );
    assert_eq!(changes_of(&events(&db, None, &old[3].cursor).await), recent);
    assert_eq!(changes_of(&events(&db, None, &between).await), recent);
    let page = db
        .changes
        .feed(Some(owner.id), Some(&old[3].cursor), 10)
        .await
        .unwrap();
    assert_eq!(tasks_by_id(&page.items), sorted(&tasks));
    // A new stream and a new sync start fine.
    let end = db.changes.end().await.unwrap();
    assert_eq!(events(&db, None, &end).await, []);
    let fresh = db.changes.feed(Some(owner.id), None, 10).await.unwrap();
    assert_eq!(tasks_by_id(&fresh.items), sorted(&tasks));

    // Purging everything: the end still works, and the next change comes after it.
    assert_eq!(db.changes.purge(at(1000)).await.unwrap(), 2);
    let end = db.changes.end().await.unwrap();
    assert_eq!(events(&db, None, &end).await, []);
    let later = new_task(owner.id, "after the purge");
    insert_task(&db, &later).await;
    settled(&db).await;
    assert_eq!(
        changes_of(&events(&db, None, &end).await),
        [log_created(&later).change]
    );
    let fresh = db.changes.feed(Some(owner.id), None, 10).await.unwrap();
    assert_eq!(fresh.items.len(), 3);
    let resumed = db
        .changes
        .feed(Some(owner.id), Some(&fresh.next), 10)
        .await
        .unwrap();
    assert_eq!((resumed.items, resumed.has_more), (vec![], false));
}

contract!(
    every_write_appends_exactly_one_change_with_what_it_did,
    a_write_that_fails_appends_no_change,
    deleting_a_user_logs_the_deletion_of_each_of_their_tasks,
    events_come_in_order_once_each_and_resume_right_after_their_cursor,
    each_viewer_gets_the_changes_of_their_tasks_and_of_tasks_taken_from_them,
    the_feed_lists_every_visible_task_then_each_changed_task_once,
    a_replica_fed_page_by_page_while_tasks_change_ends_equal_to_the_tasks,
    a_cursor_the_log_did_not_make_is_a_validation_error,
    a_cursor_past_the_end_of_the_log_is_gone,
    history_is_oldest_first_with_totals_and_pages_and_outlives_its_task,
    purge_forgets_old_changes_and_cursors_from_before_it_are_gone,
);

// PostgreSQL: transactions that commit in another order than they started
// ---------------------------------------------------------------------------------------

mod parallel {
    use super::*;

    /// Reads `viewer`'s stream from `start` in pages of `limit` until it has `expected`
    /// changes (or a deadline passes); the events and the last cursor.
    async fn follow(
        changes: Arc<dyn TaskChangeLog>,
        viewer: Option<Uuid>,
        start: FeedCursor,
        limit: u64,
        expected: usize,
    ) -> (Vec<ChangeEvent>, FeedCursor) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let mut seen = Vec::new();
        let mut cursor = start;
        while seen.len() < expected && std::time::Instant::now() < deadline {
            let page = changes.events_after(viewer, &cursor, limit).await.unwrap();
            assert!(page.len() as u64 <= limit);
            match page.last() {
                Some(last) => cursor = last.cursor.clone(),
                None => tokio::time::sleep(std::time::Duration::from_millis(2)).await,
            }
            seen.extend(page);
        }
        (seen, cursor)
    }

    async fn concurrent_writers_and_readers_see_every_change_once_in_order(db: TestDb) {
        const WRITERS: usize = 8;
        const WRITES: usize = 25;
        let alice = insert_user(&db, "par-alice@example.com", Role::User).await;
        let bob = insert_user(&db, "par-bob@example.com", Role::User).await;
        let start = end_now(&db).await;

        // Readers follow the log while the writers write, each from its last cursor.
        let mut readers = JoinSet::new();
        for (viewer, limit, expected) in [
            (None, 7, WRITERS * WRITES),
            (None, 1000, WRITERS * WRITES),
            (Some(alice.id), 5, WRITERS / 2 * WRITES),
        ] {
            let (changes, start) = (db.changes.clone(), start.clone());
            readers.spawn(async move {
                let (seen, cursor) = follow(changes, viewer, start, limit, expected).await;
                (viewer, limit, seen, cursor)
            });
        }
        let written = write_concurrently(&db, &[alice.id, bob.id], WRITERS, WRITES).await;
        let everything: HashSet<ChangeKey> = written.values().flatten().copied().collect();
        assert_eq!(everything.len(), WRITERS * WRITES);

        settled(&db).await;
        for (viewer, limit, seen, cursor) in readers.join_all().await {
            let who = format!("viewer {viewer:?} reading {limit} at a time");
            let expected = match viewer {
                Some(viewer) => &written[&viewer],
                None => &everything,
            };
            assert_once_each_in_order(&seen, expected, &who);
            // Nothing more after the last cursor.
            assert_eq!(events(&db, viewer, &cursor).await, [], "{who}");
        }
    }

    /// Waits until a statement of this database on `table` waits for a lock.
    /// How many statements mentioning `text` wait for a lock now.
    async fn waiting_for_a_lock(db: &TestDb, text: &str) -> i64 {
        let row = db
            .sql()
            .query_one_raw(sea_orm::Statement::from_sql_and_values(
                sea_orm::DbBackend::Postgres,
                "SELECT count(*) AS waiting FROM pg_stat_activity \
                 WHERE datname = current_database() AND wait_event_type = 'Lock' \
                 AND query ILIKE '%' || $1 || '%'",
                [text.into()],
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get::<i64>("", "waiting").unwrap()
    }

    async fn until_waiting_for_a_lock(db: &TestDb, text: &str) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while waiting_for_a_lock(db, text).await == 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "nothing waits for a lock on {text}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    async fn a_task_created_while_its_owner_is_deleted_is_not_left_without_its_deletion(
        db: TestDb,
    ) {
        let admin = insert_user(&db, "race-admin@example.com", Role::Admin).await;
        let leo = insert_user(&db, "race-leo@example.com", Role::User).await;
        let before = new_task(leo.id, "there before");
        insert_task(&db, &before).await;
        let session = insert_session(&db, leo.id).await;

        // An outside transaction holds Leo's session: his deletion stops there, after
        // it has logged and deleted the tasks he had then, before it deletes him.
        let holder = sea_orm::TransactionTrait::begin(db.sql()).await.unwrap();
        holder
            .execute_raw(sea_orm::Statement::from_sql_and_values(
                sea_orm::DbBackend::Postgres,
                "SELECT id FROM sessions WHERE id = $1 FOR UPDATE",
                [session.id.into()],
            ))
            .await
            .unwrap();
        let when = at(9000);
        let users = db.users.clone();
        let deletion = tokio::spawn(async move { users.delete(leo.id, admin.id, when).await });
        until_waiting_for_a_lock(&db, "sessions").await;

        // Meanwhile a task of his is created (or refused: he is being deleted).
        let late = new_task(leo.id, "created meanwhile");
        let tasks = db.tasks.clone();
        let insert = {
            let late = late.clone();
            tokio::spawn(async move { tasks.insert(&late, &log_created(&late)).await })
        };
        // An insert may wait for the deletion (which holds Leo's row), which waits for
        // the holder.
        for _ in 0..400 {
            if insert.is_finished() || waiting_for_a_lock(&db, "insert").await > 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        holder.commit().await.unwrap();
        deletion.await.unwrap().unwrap();
        let inserted = insert.await.unwrap();

        settled(&db).await;
        assert_eq!(db.users.find_by_id(leo.id).await.unwrap(), None);
        assert_eq!(db.tasks.find_by_id(before.id).await.unwrap(), None);
        assert_eq!(
            history_of(&db, before.id).await,
            [
                log_created(&before).change,
                TaskChange::deleted(&before, admin.id, when)
            ]
        );
        match inserted {
            // Created, then deleted with its owner: the log must say so, or a client
            // that synced the creation keeps the task for ever.
            Ok(()) => {
                assert_eq!(db.tasks.find_by_id(late.id).await.unwrap(), None);
                let history = history_of(&db, late.id).await;
                assert_eq!(
                    ops(&history),
                    [ChangeOp::Created, ChangeOp::Deleted],
                    "the task was deleted with its owner, and the log does not say so"
                );
                assert_eq!(history[1], TaskChange::deleted(&late, admin.id, when));
            }
            Err(refused) => {
                assert!(matches!(refused, DomainError::NotFound(_)), "{refused:?}");
                assert_eq!(history_of(&db, late.id).await, []);
            }
        }
    }

    fn ops(changes: &[TaskChange]) -> Vec<ChangeOp> {
        changes.iter().map(|change| change.op).collect()
    }

    async fn a_task_changed_while_its_owner_is_deleted_ends_with_its_deletion_at_its_last_version(
        db: TestDb,
    ) {
        let admin = insert_user(&db, "race2-admin@example.com", Role::Admin).await;
        let leo = insert_user(&db, "race2-leo@example.com", Role::User).await;
        // The deletion deletes Leo's tasks in the order they were written: the first is
        // held, so that it stops there, after logging them, before the second.
        let held = new_task(leo.id, "held");
        insert_task(&db, &held).await;
        let target = new_task(leo.id, "changed meanwhile");
        insert_task(&db, &target).await;
        let start = end_now(&db).await;

        let holder = sea_orm::TransactionTrait::begin(db.sql()).await.unwrap();
        holder
            .execute_raw(sea_orm::Statement::from_sql_and_values(
                sea_orm::DbBackend::Postgres,
                "SELECT id FROM tasks WHERE id = $1 FOR UPDATE",
                [held.id.into()],
            ))
            .await
            .unwrap();
        let when = at(9000);
        let users = db.users.clone();
        let deletion = tokio::spawn(async move { users.delete(leo.id, admin.id, when).await });
        until_waiting_for_a_lock(&db, "tasks").await;

        // Meanwhile its owner changes the other task (or is refused: it is going).
        let mut changed = target.clone();
        changed.title = Title::parse("changed while its owner goes").unwrap();
        changed.version = 2;
        changed.updated_at = now();
        let update = {
            let (tasks, changed, target) = (db.tasks.clone(), changed.clone(), target.clone());
            tokio::spawn(async move {
                tasks
                    .update(&changed, 1, &log_updated(&target, &changed))
                    .await
            })
        };
        for _ in 0..200 {
            if update.is_finished() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        holder.commit().await.unwrap();
        deletion.await.unwrap().unwrap();
        let updated = update.await.unwrap();

        settled(&db).await;
        assert_eq!(db.tasks.find_by_id(target.id).await.unwrap(), None);
        let stream: Vec<TaskChange> = changes_of(&events(&db, None, &start).await)
            .into_iter()
            .filter(|change| change.task_id == target.id)
            .collect();
        let history = history_of(&db, target.id).await;
        match updated {
            Ok(()) => {
                let expected = [
                    log_updated(&target, &changed).change,
                    TaskChange::deleted(&changed, admin.id, when),
                ];
                assert_eq!(
                    ops(&stream),
                    [ChangeOp::Updated, ChangeOp::Deleted],
                    "the stream does not end with the deletion"
                );
                assert_eq!(
                    ops(&history),
                    [ChangeOp::Created, ChangeOp::Updated, ChangeOp::Deleted],
                    "the history does not end with the deletion"
                );
                assert_eq!(stream, expected, "the deletion is not of the last version");
            }
            Err(refused) => {
                assert!(
                    matches!(
                        refused,
                        DomainError::NotFound(_) | DomainError::Unavailable(_)
                    ),
                    "{refused:?}"
                );
                assert_eq!(stream, [TaskChange::deleted(&target, admin.id, when)]);
            }
        }
    }

    postgres_contract!(
        concurrent_writers_and_readers_see_every_change_once_in_order,
        a_task_created_while_its_owner_is_deleted_is_not_left_without_its_deletion,
        a_task_changed_while_its_owner_is_deleted_ends_with_its_deletion_at_its_last_version,
    );
}
