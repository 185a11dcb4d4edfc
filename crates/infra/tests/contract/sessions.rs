//! `SessionRepository`: rotation with reuse detection, the per-request check, revocation
//! and the purge.

use super::*;

// Sessions
// ---------------------------------------------------------------------------------------

async fn session_for_a_missing_user_is_not_found(db: TestDb) {
    let session = new_session(Uuid::now_v7(), now() + TimeDelta::days(1));
    assert_not_found(db.sessions.insert(&session).await);
    assert_eq!(stored_session(&db, session.id).await, None);
}

async fn rotating_the_current_token_moves_the_session_to_the_new_one(db: TestDb) {
    let user = insert_user(&db, "rot@example.com", Role::User).await;
    let session = insert_session(&db, user.id).await;
    let new_jti = Uuid::now_v7();
    let new_expiry = now() + TimeDelta::days(14);

    let rotation = db
        .sessions
        .rotate(session.id, session.refresh_jti, new_jti, new_expiry, now())
        .await
        .unwrap();
    let expected = Session {
        refresh_jti: new_jti,
        expires_at: new_expiry,
        ..session.clone()
    };
    assert_eq!(rotation, Rotation::Rotated(expected.clone()));
    assert_eq!(stored_session(&db, session.id).await, Some(expected));

    // The new token rotates in turn.
    let newer = db
        .sessions
        .rotate(session.id, new_jti, Uuid::now_v7(), new_expiry, now())
        .await
        .unwrap();
    assert!(matches!(newer, Rotation::Rotated(_)), "{newer:?}");
}

async fn presenting_a_spent_token_is_reuse_and_revokes_the_session(db: TestDb) {
    let user = insert_user(&db, "reuse@example.com", Role::User).await;
    let session = insert_session(&db, user.id).await;
    let expiry = now() + TimeDelta::days(7);
    let new_jti = Uuid::now_v7();
    db.sessions
        .rotate(session.id, session.refresh_jti, new_jti, expiry, now())
        .await
        .unwrap();

    let detected_at = now();
    let reuse = db
        .sessions
        .rotate(
            session.id,
            session.refresh_jti,
            Uuid::now_v7(),
            expiry,
            detected_at,
        )
        .await
        .unwrap();
    assert_eq!(reuse, Rotation::ReuseDetected);
    let stored = stored_session(&db, session.id).await.unwrap();
    assert_eq!(stored.revoked_at, Some(detected_at));
    assert_eq!(stored.refresh_jti, new_jti);
    assert_eq!(
        db.sessions.find_session_user(session.id).await.unwrap(),
        None
    );

    // Even the current token is dead now.
    let current = db
        .sessions
        .rotate(session.id, new_jti, Uuid::now_v7(), expiry, now())
        .await
        .unwrap();
    assert_eq!(current, Rotation::Rejected);
}

async fn parallel_rotations_of_one_token_let_exactly_one_rotate(db: TestDb) {
    let user = insert_user(&db, "prot@example.com", Role::User).await;
    let session = insert_session(&db, user.id).await;
    let mut racers = JoinSet::new();
    for _ in 0..8 {
        let sessions = db.sessions.clone();
        let session = session.clone();
        racers.spawn(async move {
            sessions
                .rotate(
                    session.id,
                    session.refresh_jti,
                    Uuid::now_v7(),
                    now() + TimeDelta::days(7),
                    now(),
                )
                .await
        });
    }
    let results: Vec<Rotation> = racers
        .join_all()
        .await
        .into_iter()
        .map(|r| r.expect("rotate"))
        .collect();
    let rotated: Vec<&Session> = results
        .iter()
        .filter_map(|r| match r {
            Rotation::Rotated(session) => Some(session),
            _ => None,
        })
        .collect();
    assert_eq!(rotated.len(), 1, "{results:?}");
    // The winner's new token is the one the session now expects.
    let stored = stored_session(&db, session.id).await.unwrap();
    assert_eq!(stored.refresh_jti, rotated[0].refresh_jti);
}

async fn expired_revoked_or_unknown_sessions_are_rejected_and_unchanged(db: TestDb) {
    let user = insert_user(&db, "rej@example.com", Role::User).await;
    let t = now();

    let expired = new_session(user.id, t - TimeDelta::seconds(1));
    let expiring_now = new_session(user.id, t);
    let mut revoked = new_session(user.id, t + TimeDelta::days(1));
    revoked.revoked_at = Some(t - TimeDelta::hours(1));
    for session in [&expired, &expiring_now, &revoked] {
        db.sessions.insert(session).await.unwrap();
    }

    for session in [&expired, &expiring_now, &revoked] {
        // Neither the current token nor a spent one gets anywhere.
        for presented in [session.refresh_jti, Uuid::now_v7()] {
            let rotation = db
                .sessions
                .rotate(
                    session.id,
                    presented,
                    Uuid::now_v7(),
                    t + TimeDelta::days(7),
                    t,
                )
                .await
                .unwrap();
            assert_eq!(rotation, Rotation::Rejected);
        }
        assert_eq!(
            stored_session(&db, session.id).await.as_ref(),
            Some(session)
        );
    }

    let unknown = db
        .sessions
        .rotate(Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7(), t, t)
        .await
        .unwrap();
    assert_eq!(unknown, Rotation::Rejected);
}

async fn find_session_user_returns_the_user_of_a_live_session_only(db: TestDb) {
    let user = insert_user(&db, "fsu@example.com", Role::Admin).await;
    let other = insert_user(&db, "fsu2@example.com", Role::User).await;
    let session = insert_session(&db, user.id).await;
    insert_session(&db, other.id).await;

    assert_eq!(
        db.sessions.find_session_user(session.id).await.unwrap(),
        Some(user)
    );
    assert_eq!(
        db.sessions.find_session_user(Uuid::now_v7()).await.unwrap(),
        None
    );
    db.sessions.revoke(session.id, now()).await.unwrap();
    assert_eq!(
        db.sessions.find_session_user(session.id).await.unwrap(),
        None
    );
}

async fn revoke_ends_one_session_and_keeps_the_first_revocation_instant(db: TestDb) {
    let user = insert_user(&db, "rev@example.com", Role::User).await;
    let session = insert_session(&db, user.id).await;
    let kept = insert_session(&db, user.id).await;

    let first = at(1);
    db.sessions.revoke(session.id, first).await.unwrap();
    db.sessions.revoke(session.id, at(2)).await.unwrap();
    assert_eq!(
        stored_session(&db, session.id).await.unwrap().revoked_at,
        Some(first)
    );
    assert_eq!(stored_session(&db, kept.id).await.unwrap().revoked_at, None);

    // Unknown sessions are a no-op, not an error.
    db.sessions.revoke(Uuid::now_v7(), now()).await.unwrap();
}

async fn revoke_all_ends_every_session_of_one_user_only(db: TestDb) {
    let user = insert_user(&db, "rall@example.com", Role::User).await;
    let other = insert_user(&db, "rall2@example.com", Role::User).await;
    let mine = [
        insert_session(&db, user.id).await,
        insert_session(&db, user.id).await,
    ];
    let theirs = insert_session(&db, other.id).await;
    db.sessions.revoke(mine[0].id, at(1)).await.unwrap();

    db.sessions.revoke_all(user.id, at(5)).await.unwrap();
    assert_eq!(
        stored_session(&db, mine[0].id).await.unwrap().revoked_at,
        Some(at(1))
    );
    assert_eq!(
        stored_session(&db, mine[1].id).await.unwrap().revoked_at,
        Some(at(5))
    );
    assert_eq!(
        stored_session(&db, theirs.id).await.unwrap().revoked_at,
        None
    );

    db.sessions.revoke_all(Uuid::now_v7(), now()).await.unwrap();
}

async fn purge_deletes_expired_and_revoked_sessions_and_counts_them(db: TestDb) {
    let user = insert_user(&db, "purge@example.com", Role::User).await;
    let t = now();
    let expired = new_session(user.id, t - TimeDelta::seconds(1));
    let expiring_now = new_session(user.id, t);
    let mut revoked = new_session(user.id, t + TimeDelta::days(1));
    revoked.revoked_at = Some(t - TimeDelta::seconds(5));
    let live = new_session(user.id, t + TimeDelta::seconds(1));
    for session in [&expired, &expiring_now, &revoked, &live] {
        db.sessions.insert(session).await.unwrap();
    }

    assert_eq!(db.sessions.purge(t).await.unwrap(), 3);
    for gone in [&expired, &expiring_now, &revoked] {
        assert_eq!(stored_session(&db, gone.id).await, None);
    }
    assert_eq!(stored_session(&db, live.id).await, Some(live));
    assert_eq!(db.sessions.purge(t).await.unwrap(), 0);
}

// ---------------------------------------------------------------------------------------

contract!(
    session_for_a_missing_user_is_not_found,
    rotating_the_current_token_moves_the_session_to_the_new_one,
    presenting_a_spent_token_is_reuse_and_revokes_the_session,
    parallel_rotations_of_one_token_let_exactly_one_rotate,
    expired_revoked_or_unknown_sessions_are_rejected_and_unchanged,
    find_session_user_returns_the_user_of_a_live_session_only,
    revoke_ends_one_session_and_keeps_the_first_revocation_instant,
    revoke_all_ends_every_session_of_one_user_only,
    purge_deletes_expired_and_revoked_sessions_and_counts_them,
);
