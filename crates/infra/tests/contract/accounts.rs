//! What the accounts issue added to the ports: sessions listed and ended by their
//! owner with where they came from and when they were last used, password resets that
//! complete once, and the login throttle's counts — on every backend (the fast path's
//! sessions included). Its runs are recorded as `accounts-<backend>`, which CI checks
//! apart from the rest of the contract.

use taskforge_domain::auth::throttle::ThrottleState;
use taskforge_domain::auth::{
    ClientInfo, LoginThrottleRepository, PasswordReset, PasswordResetRepository,
};
use taskforge_infra::{SeaLoginThrottle, SeaPasswordResetRepository};

use super::*;

contract!(suite "accounts":
    started_sessions_are_listed_newest_first_with_their_client,
    rotation_moves_last_used_at,
    revoke_own_ends_only_a_live_session_of_that_user,
    a_reset_completes_once_and_ends_every_session,
    parallel_completions_of_one_reset_succeed_exactly_once,
    a_password_change_deletes_the_users_resets,
    parallel_failures_are_each_counted_and_a_clear_forgets_them,
);

fn resets(db: &TestDb) -> Arc<dyn PasswordResetRepository> {
    match &db.storage {
        Storage::Sql(conn) => Arc::new(SeaPasswordResetRepository::new(conn.clone())),
        Storage::Memory(store) => Arc::new(store.resets()),
    }
}

fn throttle(db: &TestDb) -> Arc<dyn LoginThrottleRepository> {
    match &db.storage {
        Storage::Sql(conn) => Arc::new(SeaLoginThrottle::new(conn.clone())),
        Storage::Memory(store) => Arc::new(store.login_throttle()),
    }
}

async fn start(db: &TestDb, user_id: Uuid, created_at: DateTime<Utc>, agent: &str) -> Session {
    let session = Session {
        created_at,
        ..new_session(user_id, now() + TimeDelta::days(7))
    };
    let client = ClientInfo::new(Some(agent), Some("192.0.2.1".into()));
    db.sessions.start(&session, &client).await.expect("start");
    session
}

async fn started_sessions_are_listed_newest_first_with_their_client(db: TestDb) {
    let alice = insert_user(&db, "alice@example.com", Role::User).await;
    let bob = insert_user(&db, "bob@example.com", Role::User).await;
    let first = start(&db, alice.id, at(1), "first").await;
    let second = start(&db, alice.id, at(2), "second").await;
    let revoked = start(&db, alice.id, at(3), "revoked").await;
    db.sessions.revoke(revoked.id, now()).await.unwrap();
    let expired = Session {
        created_at: at(4),
        ..new_session(alice.id, now() - TimeDelta::seconds(1))
    };
    db.sessions.insert(&expired).await.unwrap();
    start(&db, bob.id, at(5), "bob").await;

    let listed = db
        .sessions
        .list_live(alice.id, now(), offset_page(20, 0))
        .await
        .unwrap();
    assert_eq!(listed.total, 2);
    let ids: Vec<Uuid> = listed.items.iter().map(|s| s.id).collect();
    assert_eq!(ids, [second.id, first.id]);
    let newest = &listed.items[0];
    assert_eq!(newest.user_agent.as_deref(), Some("second"));
    assert_eq!(newest.ip.as_deref(), Some("192.0.2.1"));
    assert_eq!(newest.created_at, at(2));
    assert_eq!(newest.last_used_at, at(2), "a login is a use");
    assert_eq!(newest.expires_at, second.expires_at);

    let paged = db
        .sessions
        .list_live(alice.id, now(), offset_page(1, 1))
        .await
        .unwrap();
    assert_eq!(paged.total, 2);
    assert_eq!(
        paged.items.iter().map(|s| s.id).collect::<Vec<_>>(),
        [first.id]
    );
}

async fn rotation_moves_last_used_at(db: TestDb) {
    let alice = insert_user(&db, "alice@example.com", Role::User).await;
    let session = start(&db, alice.id, at(1), "ua").await;
    let used = now();
    let rotated = db
        .sessions
        .rotate(
            session.id,
            session.refresh_jti,
            Uuid::now_v7(),
            used + TimeDelta::days(7),
            used,
        )
        .await
        .unwrap();
    assert!(matches!(rotated, Rotation::Rotated(_)), "{rotated:?}");
    let listed = db
        .sessions
        .list_live(alice.id, now(), offset_page(20, 0))
        .await
        .unwrap();
    assert_eq!(listed.items[0].last_used_at, used);
    assert_eq!(listed.items[0].created_at, at(1));
    assert_eq!(listed.items[0].user_agent.as_deref(), Some("ua"));
}

async fn revoke_own_ends_only_a_live_session_of_that_user(db: TestDb) {
    let alice = insert_user(&db, "alice@example.com", Role::User).await;
    let bob = insert_user(&db, "bob@example.com", Role::User).await;
    let alices = start(&db, alice.id, at(1), "a").await;
    let bobs = start(&db, bob.id, at(1), "b").await;

    assert!(
        !db.sessions
            .revoke_own(alice.id, bobs.id, now())
            .await
            .unwrap()
    );
    assert_eq!(
        db.users.find_by_id(bob.id).await.unwrap().map(|u| u.id),
        Some(bob.id)
    );
    assert!(
        db.sessions
            .find_session_user(bobs.id)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        !db.sessions
            .revoke_own(alice.id, Uuid::now_v7(), now())
            .await
            .unwrap()
    );

    assert!(
        db.sessions
            .revoke_own(alice.id, alices.id, now())
            .await
            .unwrap()
    );
    assert!(
        db.sessions
            .find_session_user(alices.id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        !db.sessions
            .revoke_own(alice.id, alices.id, now())
            .await
            .unwrap(),
        "once"
    );
}

fn reset_of(user_id: Uuid, digest: &str) -> PasswordReset {
    PasswordReset {
        token_digest: digest.to_owned(),
        user_id,
        created_at: now(),
        expires_at: now() + TimeDelta::minutes(30),
    }
}

async fn a_reset_completes_once_and_ends_every_session(db: TestDb) {
    let resets = resets(&db);
    let alice = insert_user(&db, "alice@example.com", Role::User).await;
    let session = insert_session(&db, alice.id).await;
    resets
        .insert(&reset_of(alice.id, "digest-1"))
        .await
        .unwrap();
    resets
        .insert(&reset_of(alice.id, "digest-2"))
        .await
        .unwrap();
    assert_not_found(resets.insert(&reset_of(Uuid::now_v7(), "digest-3")).await);

    assert_eq!(
        resets.find_live("digest-1", now()).await.unwrap(),
        Some(alice.id)
    );
    assert_eq!(resets.find_live("unknown", now()).await.unwrap(), None);
    assert_eq!(
        resets
            .find_live("digest-1", now() + TimeDelta::minutes(31))
            .await
            .unwrap(),
        None,
        "expired"
    );
    assert!(
        !resets
            .complete("digest-1", &hash_of("late"), now() + TimeDelta::minutes(31))
            .await
            .unwrap(),
        "an expired token completes nothing"
    );

    let done = now();
    assert!(
        resets
            .complete("digest-1", &hash_of("new"), done)
            .await
            .unwrap()
    );
    assert_eq!(
        db.users.password_hash(alice.id).await.unwrap(),
        Some(hash_of("new"))
    );
    assert_eq!(
        db.users
            .find_by_id(alice.id)
            .await
            .unwrap()
            .unwrap()
            .updated_at,
        done
    );
    assert!(
        db.sessions
            .find_session_user(session.id)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        resets.find_live("digest-1", now()).await.unwrap(),
        None,
        "spent"
    );
    assert_eq!(
        resets.find_live("digest-2", now()).await.unwrap(),
        None,
        "died with the password"
    );
    assert!(
        !resets
            .complete("digest-1", &hash_of("again"), now())
            .await
            .unwrap()
    );
    assert_eq!(
        db.users.password_hash(alice.id).await.unwrap(),
        Some(hash_of("new"))
    );
    assert!(resets.purge(now()).await.unwrap() >= 1);
}

async fn parallel_completions_of_one_reset_succeed_exactly_once(db: TestDb) {
    let resets = resets(&db);
    let alice = insert_user(&db, "alice@example.com", Role::User).await;
    resets.insert(&reset_of(alice.id, "digest")).await.unwrap();
    let mut set = JoinSet::new();
    for n in 0..8 {
        let resets = Arc::clone(&resets);
        set.spawn(async move {
            resets
                .complete("digest", &hash_of(&format!("p{n}")), now())
                .await
        });
    }
    let mut wins = 0;
    while let Some(result) = set.join_next().await {
        if result.unwrap().unwrap() {
            wins += 1;
        }
    }
    assert_eq!(wins, 1);
}

async fn a_password_change_deletes_the_users_resets(db: TestDb) {
    let resets = resets(&db);
    let alice = insert_user(&db, "alice@example.com", Role::User).await;
    resets.insert(&reset_of(alice.id, "digest")).await.unwrap();
    let renamed = User {
        full_name: FullName::parse("Renamed").unwrap(),
        ..alice.clone()
    };
    let renamed = db
        .users
        .update(&renamed, None, SessionEffect::Keep, now())
        .await
        .unwrap();
    assert_eq!(
        resets.find_live("digest", now()).await.unwrap(),
        Some(alice.id),
        "no new password"
    );
    db.users
        .update(
            &renamed,
            Some(hash_of("changed")),
            SessionEffect::RevokeAll,
            now(),
        )
        .await
        .unwrap();
    assert_eq!(resets.find_live("digest", now()).await.unwrap(), None);
}

async fn parallel_failures_are_each_counted_and_a_clear_forgets_them(db: TestDb) {
    let throttle = throttle(&db);
    assert_eq!(throttle.find("victim").await.unwrap(), None);
    let start = now();
    let mut set = JoinSet::new();
    for _ in 0..6 {
        let throttle = Arc::clone(&throttle);
        set.spawn(async move { throttle.record_failure("victim", start).await });
    }
    while let Some(result) = set.join_next().await {
        result.unwrap().unwrap();
    }
    let state: ThrottleState = throttle.find("victim").await.unwrap().unwrap();
    assert_eq!(state.failures, 6, "no failure lost");
    assert_eq!(state.blocked_until, Some(start + TimeDelta::seconds(2)));
    assert_eq!(state.retry_after_secs(start), Some(2));
    assert_eq!(throttle.find("other").await.unwrap(), None);

    assert_eq!(
        throttle.purge(start).await.unwrap(),
        0,
        "a running wait is kept"
    );
    throttle.clear("victim").await.unwrap();
    assert_eq!(throttle.find("victim").await.unwrap(), None);

    throttle.record_failure("old", start).await.unwrap();
    assert_eq!(
        throttle
            .purge(start + TimeDelta::minutes(16))
            .await
            .unwrap(),
        1
    );
    assert_eq!(throttle.find("old").await.unwrap(), None);
}
