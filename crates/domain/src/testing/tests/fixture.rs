//! `Fixture`: the three services over one in-memory store, end to end.

use chrono::Duration;

use super::{account, assert_unauthorized, draft, tasks_of};
use crate::task::TaskScope;
use crate::testing::{Fixture, SequentialIds};
use crate::tests::fixtures::now;
use crate::user::{Email, Password, UserChanges};

#[tokio::test]
async fn fixture_register_login_authenticate_create_and_list_work_end_to_end() {
    let app = Fixture::new();
    let ada = app
        .users
        .register(account("ada@example.com"), None)
        .await
        .unwrap();
    assert_eq!(ada.id, SequentialIds::nth(1));
    assert_eq!(ada.created_at, now(), "the fixture's clock");

    let pair = app
        .auth
        .login("ada@example.com", "correct horse")
        .await
        .unwrap();
    let me = app.auth.authenticate(&pair.access_token).await.unwrap();
    assert_eq!(me, ada);

    let task = app
        .tasks
        .create(&me, TaskScope::Visible, draft("Write the report"), None)
        .await
        .unwrap()
        .value;
    // Login drew three ids (session, refresh jti, access jti) from the same source.
    assert_eq!(task.id, SequentialIds::nth(5));
    assert_eq!(
        (task.owner_id, task.version, task.created_at),
        (ada.id, 1, now())
    );
    assert_eq!(tasks_of(&app, &me).await, [task.id]);

    let bob = app
        .users
        .register(account("bob@example.com"), None)
        .await
        .unwrap();
    assert!(tasks_of(&app, &bob).await.is_empty());
}

#[tokio::test]
async fn fixture_refresh_rotates_and_a_reused_refresh_token_revokes_the_session() {
    let app = Fixture::new();
    app.users
        .register(account("ada@example.com"), None)
        .await
        .unwrap();
    let first = app
        .auth
        .login("ada@example.com", "correct horse")
        .await
        .unwrap();
    let second = app.auth.refresh(&first.refresh_token).await.unwrap();
    assert!(app.auth.authenticate(&second.access_token).await.is_ok());

    assert_unauthorized(app.auth.refresh(&first.refresh_token).await);
    assert_unauthorized(app.auth.refresh(&second.refresh_token).await);
    assert_unauthorized(app.auth.authenticate(&second.access_token).await);
}

#[tokio::test]
async fn fixture_access_tokens_expire_by_the_fixture_clock() {
    let app = Fixture::new();
    app.users
        .register(account("ada@example.com"), None)
        .await
        .unwrap();
    let pair = app
        .auth
        .login("ada@example.com", "correct horse")
        .await
        .unwrap();
    app.clock
        .advance(Duration::seconds(pair.expires_in) + Duration::seconds(1));
    assert_unauthorized(app.auth.authenticate(&pair.access_token).await);
    assert!(app.auth.refresh(&pair.refresh_token).await.is_ok());
}

#[tokio::test]
async fn fixture_password_change_and_deactivation_revoke_every_session() {
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
    let login = || app.auth.login("ada@example.com", "correct horse");

    let pair = login().await.unwrap();
    let changes = UserChanges {
        password: Some(Password::parse("correct horse").unwrap()),
        ..UserChanges::default()
    };
    app.users
        .update_me(&ada, changes, Some("correct horse"))
        .await
        .unwrap();
    assert_unauthorized(app.auth.authenticate(&pair.access_token).await);

    let pair = login().await.unwrap();
    let changes = UserChanges {
        is_active: Some(false),
        ..UserChanges::default()
    };
    app.users.update(&root, ada.id, changes).await.unwrap();
    assert_unauthorized(app.auth.authenticate(&pair.access_token).await);
    assert!(
        app.store
            .sessions_of(ada.id)
            .iter()
            .all(|s| s.revoked_at == Some(now())),
        "{:?}",
        app.store.sessions_of(ada.id)
    );
}
