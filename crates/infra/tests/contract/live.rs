//! Live changes: `LiveChanges`, the `TaskChangeWatch` the server's event streams wait
//! on, over the SQL change log (one reader, a ring of recent changes, the log itself
//! for cursors the ring does not reach back to).

use std::time::{Duration, Instant};

use super::*;

/// A watcher of the test's database, started as the server starts it, once its reader
/// has had time to find the end of the log. (A stream that asks before that, or from a
/// cursor older than that end, meets the bugs the last tests here show; the other
/// tests keep clear of them.)
async fn start_live(db: &TestDb) -> LiveChanges {
    let live = start_live_now(db);
    tokio::time::sleep(READER_START).await;
    live
}

/// Long enough for a new watcher's reader to find the end of the log.
const READER_START: Duration = Duration::from_millis(300);

fn start_live_now(db: &TestDb) -> LiveChanges {
    let (pool, url) = db.live.as_ref().expect("a SQL database");
    LiveChanges::start(pool.clone(), url.as_deref())
}

/// Follows `viewer`'s changes from `after`, `limit` at a time, until `count` have come;
/// them and the cursor the last call gave.
async fn watch(
    live: &LiveChanges,
    viewer: Option<Uuid>,
    after: &FeedCursor,
    count: usize,
    limit: u64,
) -> (Vec<ChangeEvent>, FeedCursor) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    let mut cursor = after.clone();
    while seen.len() < count {
        let left = deadline.saturating_duration_since(Instant::now());
        let (events, next) = tokio::time::timeout(left, live.next(viewer, &cursor, limit))
            .await
            .unwrap_or_else(|_| panic!("{} of {count} changes came: {seen:?}", seen.len()))
            .expect("the next changes");
        assert!(events.len() as u64 <= limit, "{} > {limit}", events.len());
        seen.extend(events);
        cursor = next;
    }
    (seen, cursor)
}

/// `next` from `after` gives `viewer` nothing more: it waits, or says that the new
/// changes were someone else's.
async fn assert_nothing_more(live: &LiveChanges, viewer: Option<Uuid>, after: &FeedCursor) {
    let mut cursor = after.clone();
    for _ in 0..5 {
        match tokio::time::timeout(Duration::from_millis(300), live.next(viewer, &cursor, 10)).await
        {
            Err(_) => return,
            Ok(next) => {
                let (events, next) = next.expect("the next changes");
                assert_eq!(events, [], "for {viewer:?}");
                cursor = next;
            }
        }
    }
    panic!("next never waited for {viewer:?}");
}

async fn next_waits_for_a_commit_and_then_returns_it(db: TestDb) {
    let alice = insert_user(&db, "live@example.com", Role::User).await;
    let live = start_live(&db).await;
    let start = end_now(&db).await;

    // A first write, so the watcher is surely up.
    let mut task = new_task(alice.id, "watched");
    insert_task(&db, &task).await;
    let (first, mut cursor) = watch(&live, None, &start, 1, 10).await;
    assert_eq!(changes_of(&first), [log_created(&task).change]);
    assert_eq!(cursor, first[0].cursor);

    for round in 0..3 {
        // Nothing is committed: it waits.
        let waiting = tokio::spawn({
            let (live, cursor) = (live.clone(), cursor.clone());
            async move { live.next(None, &cursor, 10).await }
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        if waiting.is_finished() {
            panic!(
                "round {round}: returned with nothing committed: {:?}",
                waiting.await
            );
        }
        // A commit: it comes, as the log has it.
        let change = bump(&db, &mut task, &format!("watched, round {round}")).await;
        let committed = Instant::now();
        let (events, next) = tokio::time::timeout(Duration::from_secs(30), waiting)
            .await
            .expect("the change comes")
            .unwrap()
            .unwrap();
        println!(
            "round {round}: came {:?} after its commit",
            committed.elapsed()
        );
        assert_eq!(changes_of(&events), [change]);
        assert_eq!(next, events[0].cursor);
        settled(&db).await;
        assert_eq!(
            events,
            db.changes.events_after(None, &cursor, 10).await.unwrap()
        );
        cursor = next;
    }
}

async fn a_watcher_gets_only_the_changes_its_viewer_sees(db: TestDb) {
    let alice = insert_user(&db, "live-alice@example.com", Role::User).await;
    let bob = insert_user(&db, "live-bob@example.com", Role::User).await;
    let admin = insert_user(&db, "live-admin@example.com", Role::Admin).await;
    let live = start_live(&db).await;
    let start = end_now(&db).await;

    // Watching before the writes, each viewer until their count.
    let mut watchers = JoinSet::new();
    for (viewer, count) in [(Some(alice.id), 2), (Some(bob.id), 3), (None, 4)] {
        let (live, start) = (live.clone(), start.clone());
        watchers.spawn(async move {
            let (seen, cursor) = watch(&live, viewer, &start, count, 10).await;
            (viewer, seen, cursor)
        });
    }
    let bobs = new_task(bob.id, "bob's");
    insert_task(&db, &bobs).await;
    let alices = new_task(alice.id, "alice's, then bob's");
    insert_task(&db, &alices).await;
    let mut moved = alices.clone();
    moved.owner_id = bob.id;
    moved.version = 2;
    moved.updated_at = now();
    let reassigned = TaskChange::updated(&alices, &moved, admin.id);
    db.tasks
        .update(&moved, 1, &plain_log(reassigned.clone()))
        .await
        .unwrap();
    let mut bobs_now = bobs.clone();
    let bob_changed = bump(&db, &mut bobs_now, "bob's, changed").await;

    let (created_b, created_a) = (log_created(&bobs).change, log_created(&alices).change);
    for (viewer, seen, cursor) in watchers.join_all().await {
        let expected = match viewer {
            Some(v) if v == alice.id => vec![created_a.clone(), reassigned.clone()],
            Some(_) => vec![created_b.clone(), reassigned.clone(), bob_changed.clone()],
            None => vec![
                created_b.clone(),
                created_a.clone(),
                reassigned.clone(),
                bob_changed.clone(),
            ],
        };
        assert_eq!(changes_of(&seen), expected, "for {viewer:?}");
        assert_nothing_more(&live, viewer, &cursor).await;
    }
    // Someone with no task sees nothing of it.
    assert_nothing_more(&live, Some(admin.id), &start).await;
}

async fn a_cursor_from_before_the_watcher_started_is_read_from_the_log_in_order(db: TestDb) {
    let alice = insert_user(&db, "backlog@example.com", Role::User).await;
    let bob = insert_user(&db, "backlog-bob@example.com", Role::User).await;
    let start = end_now(&db).await;
    let mut tasks = Vec::new();
    for i in 0..10 {
        let owner = if i % 2 == 0 { alice.id } else { bob.id };
        let task = new_task(owner, &format!("backlog {i}"));
        insert_task(&db, &task).await;
        tasks.push(task);
    }
    for round in 0..2 {
        for task in &mut tasks {
            bump(&db, task, &format!("backlog, round {round}")).await;
        }
    }
    settled(&db).await;
    let logged = events(&db, None, &start).await;
    assert_eq!(logged.len(), 30);
    let alices = events(&db, Some(alice.id), &start).await;
    assert_eq!(alices.len(), 15);

    // Its ring begins after all of them.
    let live = start_live(&db).await;
    assert_eq!(watch(&live, None, &start, 30, 7).await.0, logged);
    assert_eq!(watch(&live, Some(alice.id), &start, 15, 4).await.0, alices);
    assert_eq!(
        watch(&live, None, &logged[10].cursor, 19, 5).await.0,
        logged[11..].to_vec()
    );
    // And then the new ones, live.
    let (_, cursor) = watch(&live, None, &start, 30, 100).await;
    let later = new_task(alice.id, "later");
    insert_task(&db, &later).await;
    let (next, _) = watch(&live, None, &cursor, 1, 10).await;
    assert_eq!(changes_of(&next), [log_created(&later).change]);
}

async fn a_cursor_the_ring_has_moved_past_is_read_from_the_log_then_from_the_ring(db: TestDb) {
    // More than the ring keeps (1024).
    const CHANGES: usize = 1100;
    const WORKERS: usize = 8;
    let owner = insert_user(&db, "ring@example.com", Role::User).await;
    let live = start_live(&db).await;
    let start = end_now(&db).await;
    let mut workers = JoinSet::new();
    for w in 0..WORKERS {
        let tasks = db.tasks.clone();
        workers.spawn(async move {
            for i in (w..CHANGES).step_by(WORKERS) {
                let task = new_task(owner.id, &format!("ring {i}"));
                tasks.insert(&task, &log_created(&task)).await.unwrap();
            }
        });
    }
    workers.join_all().await;
    settled(&db).await;
    let logged = events(&db, None, &start).await;
    assert_eq!(logged.len(), CHANGES);

    // Once the watcher has read the last of them, the first have left its ring.
    let (last, _) = watch(&live, None, &logged[CHANGES - 2].cursor, 1, 10).await;
    assert_eq!(last, logged[CHANGES - 1..].to_vec());
    let (seen, cursor) = watch(&live, None, &start, CHANGES, 64).await;
    assert_eq!(seen.len(), CHANGES);
    assert!(
        seen == logged,
        "the watcher's changes differ from the log's"
    );
    let (seen, _) = watch(
        &live,
        Some(owner.id),
        &logged[99].cursor,
        CHANGES - 100,
        500,
    )
    .await;
    assert!(
        seen == logged[100..],
        "the watcher's changes differ from the log's"
    );
    // And live from there.
    let later = new_task(owner.id, "after the ring turned");
    insert_task(&db, &later).await;
    let (next, _) = watch(&live, None, &cursor, 1, 10).await;
    assert_eq!(changes_of(&next), [log_created(&later).change]);
}

async fn concurrent_writers_and_a_watcher_see_every_change_once_as_the_log_has_them(db: TestDb) {
    const WRITERS: usize = 8;
    const WRITES: usize = 25;
    let alice = insert_user(&db, "live-par-a@example.com", Role::User).await;
    let bob = insert_user(&db, "live-par-b@example.com", Role::User).await;
    let live = start_live(&db).await;
    let start = end_now(&db).await;
    let mut watchers = JoinSet::new();
    for (viewer, limit, count) in [
        (None, 10, WRITERS * WRITES),
        (Some(alice.id), 3, WRITERS / 2 * WRITES),
    ] {
        let (live, start) = (live.clone(), start.clone());
        watchers.spawn(async move { (viewer, watch(&live, viewer, &start, count, limit).await) });
    }
    let written = write_concurrently(&db, &[alice.id, bob.id], WRITERS, WRITES).await;
    let everything: HashSet<ChangeKey> = written.values().flatten().copied().collect();
    settled(&db).await;
    for (viewer, (seen, cursor)) in watchers.join_all().await {
        let who = format!("watcher of {viewer:?}");
        let expected = match viewer {
            Some(viewer) => &written[&viewer],
            None => &everything,
        };
        assert_once_each_in_order(&seen, expected, &who);
        assert!(
            seen == events(&db, viewer, &start).await,
            "{who}: not as the log has them"
        );
        assert_nothing_more(&live, viewer, &cursor).await;
    }
}

async fn next_refuses_a_cursor_it_did_not_make_or_one_from_before_a_purge(db: TestDb) {
    let owner = insert_user(&db, "live-purge@example.com", Role::User).await;
    let live = start_live(&db).await;
    for raw in ["", "garbage", "l1.2.3", "m:1"] {
        assert_invalid(live.next(None, &FeedCursor(raw.to_owned()), 10).await);
    }
    let start = end_now(&db).await;
    let mut old = new_task(owner.id, "old");
    old.created_at = at(0);
    old.updated_at = at(0);
    insert_task(&db, &old).await;
    settled(&db).await;
    assert_eq!(db.changes.purge(at(50)).await.unwrap(), 1);
    // A watcher started after the purge reads that far back from the log.
    let fresh = start_live_now(&db);
    let result = tokio::time::timeout(Duration::from_secs(30), fresh.next(None, &start, 10))
        .await
        .expect("an answer");
    assert_gone(result);
}

async fn next_from_a_cursor_older_than_the_watcher_waits_when_nothing_came_after_it(db: TestDb) {
    let start = end_now(&db).await;
    // Other transactions of the server come and go (on PostgreSQL the end of the log
    // moves with them), then a watcher starts and finds the end of the log.
    if db.sql().get_database_backend() == sea_orm::DbBackend::Postgres {
        for _ in 0..3 {
            db.sql()
                .execute_unprepared("SELECT pg_current_xact_id()")
                .await
                .unwrap();
        }
        settled(&db).await;
    }
    let live = start_live(&db).await;
    // Nothing was committed after `start`: per `TaskChangeWatch::next`, it waits.
    match tokio::time::timeout(Duration::from_secs(1), live.next(None, &start, 10)).await {
        Err(_) => {}
        Ok(answer) => panic!("returned with nothing committed after the cursor: {answer:?}"),
    }
}

sql_contract!(
    next_waits_for_a_commit_and_then_returns_it,
    a_watcher_gets_only_the_changes_its_viewer_sees,
    a_cursor_from_before_the_watcher_started_is_read_from_the_log_in_order,
    a_cursor_the_ring_has_moved_past_is_read_from_the_log_then_from_the_ring,
    concurrent_writers_and_a_watcher_see_every_change_once_as_the_log_has_them,
    next_refuses_a_cursor_it_did_not_make_or_one_from_before_a_purge,
    next_from_a_cursor_older_than_the_watcher_waits_when_nothing_came_after_it,
);

mod notify {
    use super::*;

    /// Waits until this database has a listener of the change channel.
    async fn until_listening(db: &TestDb) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let row = db
                .sql()
                .query_one_raw(sea_orm::Statement::from_string(
                    sea_orm::DbBackend::Postgres,
                    "SELECT count(*) AS listening FROM pg_stat_activity \
                     WHERE datname = current_database() AND query ILIKE 'LISTEN%task_changes%'",
                ))
                .await
                .unwrap()
                .unwrap();
            if row.try_get::<i64>("", "listening").unwrap() > 0 {
                return;
            }
            assert!(Instant::now() < deadline, "no listener of task_changes");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    async fn a_watcher_on_another_pool_hears_the_writes_of_this_one(db: TestDb) {
        let owner = insert_user(&db, "notify@example.com", Role::User).await;
        let url = db.live.as_ref().and_then(|(_, url)| url.clone()).unwrap();
        // Another pool, as another instance of the server has.
        let other: db::Database = db::connect(&url, 2).await.unwrap().into();
        let live = LiveChanges::start(other, Some(&url));
        until_listening(&db).await;
        let mut task = new_task(owner.id, "heard");
        let start = end_now(&db).await;
        insert_task(&db, &task).await;
        let (first, mut cursor) = watch(&live, None, &start, 1, 10).await;
        assert_eq!(changes_of(&first), [log_created(&task).change]);
        for round in 0..3 {
            let change = bump(&db, &mut task, &format!("heard {round}")).await;
            let committed = Instant::now();
            let (events, next) = watch(&live, None, &cursor, 1, 10).await;
            println!(
                "round {round}: heard {:?} after the commit",
                committed.elapsed()
            );
            assert_eq!(changes_of(&events), [change]);
            cursor = next;
        }
    }

    postgres_contract!(a_watcher_on_another_pool_hears_the_writes_of_this_one,);
}
