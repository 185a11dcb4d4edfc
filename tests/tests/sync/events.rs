//! Live events: `GET /api/v1/tasks/events` (server-sent events).

use std::time::Duration;

use reqwest::Method;
use reqwest::header::HeaderValue;
use serde_json::{Value, json};
use taskforge_tests::{assert_problem, json_of, spawn_app, spawn_app_with};

use crate::{
    EVENTS, Next, assert_event, create, create_titled, delete, fields_of, id_of, patch, subscribe,
    subscribe_raw, toggle, tombstone,
};

/// Heartbeats once a second, for the tests that wait on them.
const FAST_HEARTBEAT: [(&str, &str); 1] = [("EVENTS_HEARTBEAT_SECS", "1")];

#[tokio::test]
async fn each_write_after_subscribing_arrives_as_its_event() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let mut stream = subscribe(&app, &alice.access, None).await;
    let created = create_titled(&app, &alice.access, "Live").await;
    let id = id_of(&created);
    let event = stream.next_event().await;
    assert_event(&event, "task.created", &created);
    let patched = patch(&app, &alice.access, &id, json!({"title": "Live 2"})).await;
    let second = stream.next_event().await;
    assert_event(&second, "task.updated", &patched);
    let toggled = toggle(&app, &alice.access, &id).await;
    assert_event(&stream.next_event().await, "task.updated", &toggled);
    delete(&app, &alice.access, &id).await;
    let last = stream.next_event().await;
    assert_event(&last, "task.deleted", &tombstone(&id));
    assert_ne!(event.id, second.id, "each event has its own id");
    assert_ne!(second.id, last.id);
    stream.expect_no_event(Duration::from_millis(500)).await;
}

#[tokio::test]
async fn events_come_in_the_order_of_the_writes() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let mut stream = subscribe(&app, &alice.access, None).await;
    let mut expected: Vec<(&str, Value)> = Vec::new();
    let mut ids = Vec::new();
    for n in 0..3 {
        let task = create_titled(&app, &alice.access, &format!("T{n}")).await;
        ids.push(id_of(&task));
        expected.push(("task.created", task));
    }
    for round in 0..3 {
        for id in &ids {
            let task = patch(
                &app,
                &alice.access,
                id,
                json!({"title": format!("{id} r{round}")}),
            )
            .await;
            expected.push(("task.updated", task));
        }
    }
    expected.push(("task.updated", toggle(&app, &alice.access, &ids[1]).await));
    delete(&app, &alice.access, &ids[0]).await;
    expected.push(("task.deleted", tombstone(&ids[0])));
    let mut seen_ids = Vec::new();
    for (name, data) in &expected {
        let event = stream.next_event().await;
        assert_event(&event, name, data);
        seen_ids.push(event.id.clone());
    }
    seen_ids.dedup();
    assert_eq!(seen_ids.len(), expected.len(), "distinct ids");
    stream.expect_no_event(Duration::from_millis(500)).await;
}

#[tokio::test]
async fn a_user_sees_only_their_own_tasks_and_an_admin_sees_all() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let bob = app.user("bob@example.com").await;
    let admin = app.admin().await;
    let mut alice_stream = subscribe(&app, &alice.access, None).await;
    let mut bob_stream = subscribe(&app, &bob.access, None).await;
    let mut admin_stream = subscribe(&app, &admin.access, None).await;

    let bobs = create_titled(&app, &bob.access, "bob's").await;
    let alices = create_titled(&app, &alice.access, "alice's").await;
    let bobs2 = patch(&app, &bob.access, &id_of(&bobs), json!({"priority": "low"})).await;
    let for_alice = create(
        &app,
        &admin.access,
        json!({"title": "from admin", "owner_id": alice.id}),
    )
    .await;
    delete(&app, &bob.access, &id_of(&bobs)).await;

    assert_event(&alice_stream.next_event().await, "task.created", &alices);
    assert_event(&alice_stream.next_event().await, "task.created", &for_alice);
    alice_stream
        .expect_no_event(Duration::from_millis(500))
        .await;

    assert_event(&bob_stream.next_event().await, "task.created", &bobs);
    assert_event(&bob_stream.next_event().await, "task.updated", &bobs2);
    assert_event(
        &bob_stream.next_event().await,
        "task.deleted",
        &tombstone(&id_of(&bobs)),
    );
    bob_stream.expect_no_event(Duration::from_millis(500)).await;

    assert_event(&admin_stream.next_event().await, "task.created", &bobs);
    assert_event(&admin_stream.next_event().await, "task.created", &alices);
    assert_event(&admin_stream.next_event().await, "task.updated", &bobs2);
    assert_event(&admin_stream.next_event().await, "task.created", &for_alice);
    assert_event(
        &admin_stream.next_event().await,
        "task.deleted",
        &tombstone(&id_of(&bobs)),
    );
    admin_stream
        .expect_no_event(Duration::from_millis(300))
        .await;
}

#[tokio::test]
async fn a_reconnect_with_last_event_id_replays_every_later_change_once_in_order() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let bob = app.user("bob@example.com").await;
    let mut stream = subscribe(&app, &alice.access, None).await;
    let task = create_titled(&app, &alice.access, "Resume").await;
    let id = id_of(&task);
    let first = stream.next_event().await;
    let v2 = patch(&app, &alice.access, &id, json!({"title": "v2"})).await;
    let second = stream.next_event().await;
    assert_event(&second, "task.updated", &v2);
    // The connection drops.
    drop(stream);

    let mut missed: Vec<(&str, Value)> = Vec::new();
    missed.push((
        "task.updated",
        patch(&app, &alice.access, &id, json!({"title": "v3"})).await,
    ));
    create_titled(&app, &bob.access, "not alice's").await;
    missed.push((
        "task.updated",
        patch(&app, &alice.access, &id, json!({"title": "v4"})).await,
    ));
    let other = create_titled(&app, &alice.access, "Other").await;
    missed.push(("task.created", other.clone()));
    missed.push(("task.updated", toggle(&app, &alice.access, &id).await));
    delete(&app, &alice.access, &id_of(&other)).await;
    missed.push(("task.deleted", tombstone(&id_of(&other))));

    let mut resumed = subscribe(&app, &alice.access, second.id.as_deref()).await;
    for (name, data) in &missed {
        assert_event(&resumed.next_event().await, name, data);
    }
    resumed.expect_no_event(Duration::from_millis(700)).await;
    // It goes on live.
    let live = patch(&app, &alice.access, &id, json!({"title": "live"})).await;
    assert_event(&resumed.next_event().await, "task.updated", &live);
    drop(resumed);

    // From an earlier event: that event's successors, all of them.
    let mut again = subscribe(&app, &alice.access, first.id.as_deref()).await;
    assert_event(&again.next_event().await, "task.updated", &v2);
    for (name, data) in &missed {
        assert_event(&again.next_event().await, name, data);
    }
    assert_event(&again.next_event().await, "task.updated", &live);
    again.expect_no_event(Duration::from_millis(500)).await;
}

#[tokio::test]
async fn a_last_event_id_that_is_not_one_is_422() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    for bad in ["garbage", " ", "l1", "l-1.0", "s1.2.x.y"] {
        let res = subscribe_raw(&app, &alice.access, Some(bad)).await;
        let body = assert_problem(res, 422, "validation_failed").await;
        assert_eq!(fields_of(&body), ["Last-Event-ID"], "{bad:?}: {body}");
    }
    let res = app
        .request(Method::GET, EVENTS)
        .bearer_auth(&alice.access)
        .header(
            "Last-Event-ID",
            HeaderValue::from_bytes("é".as_bytes()).unwrap(),
        )
        .send()
        .await
        .unwrap();
    let body = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(fields_of(&body), ["Last-Event-ID"]);
    assert_problem(app.get(EVENTS).await, 401, "unauthorized").await;
    // The refusals took no stream slot.
    for _ in 0..5 {
        let res = subscribe_raw(&app, &alice.access, Some("garbage")).await;
        assert_eq!(res.status().as_u16(), 422);
    }
    let _streams =
        futures_util::future::join_all((0..5).map(|_| subscribe(&app, &alice.access, None))).await;
}

#[tokio::test]
async fn heartbeats_keep_a_quiet_stream_open() {
    let app = spawn_app_with(&FAST_HEARTBEAT).await;
    let alice = app.user("alice@example.com").await;
    let mut stream = subscribe(&app, &alice.access, None).await;
    let started = tokio::time::Instant::now();
    let mut beats = 0;
    while beats < 3 {
        match stream.next_frame(Duration::from_secs(3)).await {
            Next::Frame(frame) => {
                assert!(!frame.is_event(), "no event on a quiet stream: {frame:?}");
                assert_eq!(frame.comments, ["keep-alive"], "{frame:?}");
                beats += 1;
            }
            other => panic!("a heartbeat within 3 s, got {other:?}"),
        }
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(1500) && elapsed < Duration::from_secs(6),
        "three heartbeats a second apart took {elapsed:?}"
    );
    // Events still flow between heartbeats.
    let task = create_titled(&app, &alice.access, "Between beats").await;
    assert_event(&stream.next_event().await, "task.created", &task);
}

#[tokio::test]
async fn revoking_the_session_or_logging_out_everywhere_ends_the_stream() {
    let app = spawn_app_with(&FAST_HEARTBEAT).await;
    let alice = app.user("alice@example.com").await;
    let second_login = app
        .login(&alice.email, taskforge_tests::USER_PASSWORD)
        .await;
    let second_access = second_login["access_token"].as_str().unwrap().to_owned();
    let mut first = subscribe(&app, &alice.access, None).await;
    let mut second = subscribe(&app, &second_access, None).await;

    // Logging out of the first session ends its stream only.
    let res = app
        .post_json(
            "/api/v1/auth/logout",
            &json!({"refresh_token": alice.refresh}),
        )
        .await;
    assert_eq!(res.status().as_u16(), 204);
    assert!(
        first.ends_within(Duration::from_secs(5)).await,
        "the revoked session's stream ends within a few heartbeats"
    );
    let task = create_titled(&app, &second_access, "Still here").await;
    assert_event(&second.next_event().await, "task.created", &task);
    match second.next_frame(Duration::from_secs(3)).await {
        Next::Frame(frame) => assert_eq!(frame.comments, ["keep-alive"]),
        other => panic!("the other session's stream goes on: {other:?}"),
    }

    // Logging out everywhere ends the rest.
    let res = app
        .request(Method::POST, "/api/v1/auth/logout?all=true")
        .bearer_auth(&second_access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 204);
    assert!(
        second.ends_within(Duration::from_secs(5)).await,
        "logging out everywhere ends every stream within a few heartbeats"
    );
    // And the token cannot open a new one.
    let res = subscribe_raw(&app, &second_access, None).await;
    assert_problem(res, 401, "unauthorized").await;
}

#[tokio::test]
async fn deactivating_the_user_ends_the_stream() {
    let app = spawn_app_with(&FAST_HEARTBEAT).await;
    let alice = app.user("alice@example.com").await;
    let admin = app.admin().await;
    let mut stream = subscribe(&app, &alice.access, None).await;
    let res = app
        .send_json(
            Method::PATCH,
            &format!("/api/v1/users/{}", alice.id),
            Some(&admin.access),
            &json!({"is_active": false}),
        )
        .await;
    let (status, body) = json_of(res).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        stream.ends_within(Duration::from_secs(5)).await,
        "a deactivated user's stream ends within a few heartbeats"
    );
}

#[tokio::test]
async fn a_sixth_stream_of_one_user_is_429_until_one_closes() {
    let app = spawn_app_with(&FAST_HEARTBEAT).await;
    let alice = app.user("alice@example.com").await;
    let bob = app.user("bob@example.com").await;
    let mut streams = Vec::new();
    for _ in 0..5 {
        streams.push(subscribe(&app, &alice.access, None).await);
    }
    let res = subscribe_raw(&app, &alice.access, None).await;
    let retry_after = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    assert_problem(res, 429, "rate_limited").await;
    let retry_after: u64 = retry_after
        .expect("Retry-After on 429")
        .parse()
        .expect("Retry-After in whole seconds");
    assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
    // Per user: bob is not affected.
    let mut bobs = subscribe(&app, &bob.access, None).await;

    // Closing one frees its place.
    drop(streams.pop());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let mut reopened = loop {
        let res = subscribe_raw(&app, &alice.access, None).await;
        if res.status().as_u16() == 200 {
            break crate::Sse::from_response(res).await;
        }
        assert_eq!(res.status().as_u16(), 429);
        assert!(
            tokio::time::Instant::now() < deadline,
            "a closed stream frees its place within a few seconds"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // Still five at most.
    let res = subscribe_raw(&app, &alice.access, None).await;
    assert_eq!(res.status().as_u16(), 429);
    // Every open stream works.
    let task = create_titled(&app, &alice.access, "To all five").await;
    for stream in streams.iter_mut().chain([&mut reopened]) {
        assert_event(&stream.next_event().await, "task.created", &task);
    }
    bobs.expect_no_event(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn a_task_given_away_is_a_deletion_for_its_previous_owner() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let bob = app.user("bob@example.com").await;
    let admin = app.admin().await;
    let mut alice_stream = subscribe(&app, &alice.access, None).await;
    let mut bob_stream = subscribe(&app, &bob.access, None).await;
    let mut admin_stream = subscribe(&app, &admin.access, None).await;
    let task = create_titled(&app, &alice.access, "Hand over").await;
    let id = id_of(&task);
    let moved = patch(&app, &admin.access, &id, json!({"owner_id": bob.id})).await;

    assert_event(&alice_stream.next_event().await, "task.created", &task);
    assert_event(
        &alice_stream.next_event().await,
        "task.deleted",
        &tombstone(&id),
    );

    let arrived = bob_stream.next_event().await;
    assert!(
        matches!(
            arrived.event.as_deref(),
            Some("task.updated" | "task.created")
        ),
        "the new owner learns of the task: {arrived:?}"
    );
    assert_eq!(arrived.json(), moved, "as the change left it");

    assert_event(&admin_stream.next_event().await, "task.created", &task);
    assert_event(&admin_stream.next_event().await, "task.updated", &moved);

    // Changes by its new owner no longer reach alice.
    let bobs = patch(&app, &bob.access, &id, json!({"title": "Bob's now"})).await;
    assert_event(&bob_stream.next_event().await, "task.updated", &bobs);
    alice_stream
        .expect_no_event(Duration::from_millis(500))
        .await;
}

#[tokio::test]
async fn deleting_a_user_is_a_deletion_of_each_of_their_tasks() {
    let app = spawn_app().await;
    let bob = app.user("bob@example.com").await;
    let admin = app.admin().await;
    // Subscribed first: on PostgreSQL a stream may also replay changes that were
    // committed just before it started (see `feed::news`).
    let mut admin_stream = subscribe(&app, &admin.access, None).await;
    let one = create_titled(&app, &bob.access, "one").await;
    let two = create_titled(&app, &bob.access, "two").await;
    assert_event(&admin_stream.next_event().await, "task.created", &one);
    assert_event(&admin_stream.next_event().await, "task.created", &two);
    let (one, two) = (id_of(&one), id_of(&two));
    let res = app
        .request(Method::DELETE, &format!("/api/v1/users/{}", bob.id))
        .bearer_auth(&admin.access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 204);
    let mut gone = Vec::new();
    for _ in 0..2 {
        let event = admin_stream.next_event().await;
        assert_eq!(event.event.as_deref(), Some("task.deleted"), "{event:?}");
        let data = event.json();
        assert_eq!(data["deleted"], true);
        gone.push(id_of(&data));
    }
    gone.sort_unstable();
    let mut expected = vec![one, two];
    expected.sort_unstable();
    assert_eq!(gone, expected);
    admin_stream
        .expect_no_event(Duration::from_millis(300))
        .await;
}
