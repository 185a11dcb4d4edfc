//! Two instances on one PostgreSQL database: a write on either reaches the feed and
//! the live streams of both, and a key sent to one is known to the other. PostgreSQL
//! only (SQLite is one process's file): without `TEST_DATABASE_URL` these return at
//! once, and record nothing.
//!
//! Both instances run in this test's process, so a write on A also rings A's
//! in-process wake-up that B's reader listens to; B's reader also polls the log every
//! second. These tests therefore prove that B serves A's writes in time, not by which
//! of those paths (`LISTEN`/`NOTIFY` among them) they arrived.

use reqwest::Method;
use serde_json::json;
use taskforge_tests::{postgres_configured, spawn_app, spawn_instance_of};

use crate::{
    TASKS, assert_event, call, create_titled, feed_all, feed_until, id_of, patch, subscribe,
    tombstone,
};

#[tokio::test]
async fn a_subscriber_on_one_instance_gets_the_writes_made_on_the_other() {
    if !postgres_configured() {
        return;
    }
    let a = spawn_app().await;
    let b = spawn_instance_of(&a, &[]).await;
    assert!(b.is_postgres());
    let alice = a.user("alice@example.com").await;
    // The same session works on both.
    let mut on_b = subscribe(&b, &alice.access, None).await;
    let mut on_a = subscribe(&a, &alice.access, None).await;

    // `next_event` waits up to `ARRIVAL`: generous, because on PostgreSQL a change
    // reaches readers only once every older transaction on the cluster has ended (and
    // the test cluster is shared).
    let task = create_titled(&a, &alice.access, "Written on A").await;
    assert_event(&on_b.next_event().await, "task.created", &task);
    assert_event(&on_a.next_event().await, "task.created", &task);

    // And the other way round, in order.
    let id = id_of(&task);
    let v2 = patch(&b, &alice.access, &id, json!({"title": "On B"})).await;
    let v3 = patch(&a, &alice.access, &id, json!({"title": "On A again"})).await;
    let res = b
        .request(Method::DELETE, &crate::task_path(&id))
        .bearer_auth(&alice.access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 204);
    for stream in [&mut on_a, &mut on_b] {
        assert_event(&stream.next_event().await, "task.updated", &v2);
        assert_event(&stream.next_event().await, "task.updated", &v3);
        assert_event(&stream.next_event().await, "task.deleted", &tombstone(&id));
    }
}

#[tokio::test]
async fn the_feed_on_one_instance_sees_the_writes_made_on_the_other() {
    if !postgres_configured() {
        return;
    }
    let a = spawn_app().await;
    let b = spawn_instance_of(&a, &[]).await;
    let alice = a.user("alice@example.com").await;
    let (_, cursor_b) = feed_all(&b, &alice.access, None, None).await;
    let first = create_titled(&a, &alice.access, "on A").await;
    let second = create_titled(&a, &alice.access, "also on A").await;
    let (items, cursor_b) = feed_until(&b, &alice.access, Some(&cursor_b), None, |items| {
        items.len() == 2
    })
    .await;
    assert_eq!(items, [first.clone(), second]);
    // A cursor from B continues on A.
    let changed = patch(
        &b,
        &alice.access,
        &id_of(&first),
        json!({"priority": "high"}),
    )
    .await;
    let (items, _) = feed_until(&a, &alice.access, Some(&cursor_b), None, |i| !i.is_empty()).await;
    assert_eq!(items, [changed]);
}

#[tokio::test]
async fn a_key_used_on_one_instance_is_replayed_by_the_other() {
    if !postgres_configured() {
        return;
    }
    let a = spawn_app().await;
    let b = spawn_instance_of(&a, &[]).await;
    let alice = a.user("alice@example.com").await;
    let body = json!({"title": "Once across instances"});
    let first = call(
        &a,
        Method::POST,
        TASKS,
        &alice.access,
        Some(&body),
        Some("across"),
    )
    .await;
    assert_eq!(first.status, 201);
    let again = call(
        &b,
        Method::POST,
        TASKS,
        &alice.access,
        Some(&body),
        Some("across"),
    )
    .await;
    assert_eq!(again.status, 201);
    assert!(again.replayed, "B replays A's answer: {again:?}");
    assert_eq!(again.body, first.body);
    assert_eq!(again.location, first.location);
    assert_eq!(again.etag, first.etag);
    assert_eq!(crate::all_tasks(&b, &alice.access).await.len(), 1);
}
