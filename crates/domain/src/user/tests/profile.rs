//! A user changing their own account (`update_me`).

use super::{Ports, assert_conflict, assert_forbidden, email, password};
use crate::DomainError;
use crate::testing::UserBuilder;
use crate::tests::fixtures::{admin, earlier, member, now};
use crate::user::{FullName, PasswordHash, Role, SessionEffect, User, UserChanges, Username};

#[tokio::test]
async fn update_me_changing_role_or_is_active_is_forbidden_even_for_admins() {
    for actor in [member(), admin()] {
        for changes in [
            UserChanges {
                role: Some(Role::Admin),
                ..UserChanges::default()
            },
            UserChanges {
                is_active: Some(false),
                ..UserChanges::default()
            },
        ] {
            let mut ports = Ports::default();
            ports.untouched();
            assert_forbidden(
                ports
                    .service()
                    .update_me(&actor, changes, Some("whatever"))
                    .await,
            );
        }
    }
}

#[tokio::test]
async fn update_me_changing_email_without_current_password_is_forbidden() {
    let mut ports = Ports::default();
    ports.untouched();
    let changes = UserChanges {
        email: Some(email("new@example.com")),
        ..UserChanges::default()
    };
    assert_forbidden(ports.service().update_me(&member(), changes, None).await);
}

#[tokio::test]
async fn update_me_changing_password_without_current_password_is_forbidden() {
    let mut ports = Ports::default();
    ports.untouched();
    let changes = UserChanges {
        password: Some(password("brand-new-pass")),
        ..UserChanges::default()
    };
    assert_forbidden(ports.service().update_me(&member(), changes, None).await);
}

#[tokio::test]
async fn update_me_with_a_wrong_current_password_is_forbidden_and_never_writes() {
    let actor = member();
    let mut ports = Ports::default();
    ports.current_password_matches(actor.id, "not-my-password", false);
    ports.users.expect_update().never();
    let changes = UserChanges {
        email: Some(email("new@example.com")),
        ..UserChanges::default()
    };
    assert_forbidden(
        ports
            .service()
            .update_me(&actor, changes, Some("not-my-password"))
            .await,
    );
}

#[tokio::test]
async fn update_me_keeping_the_same_email_needs_no_current_password() {
    let actor = member();
    let mut ports = Ports::default();
    ports.users.expect_password_hash().never();
    ports.hasher.expect_verify().never();
    ports
        .users
        .expect_update()
        .withf(|user, hash, effect, _| {
            user.email.as_str() == "alice@example.com"
                && user.full_name.as_ref().map(FullName::as_str) == Some("Alice A.")
                && hash.is_none()
                && *effect == SessionEffect::Keep
        })
        .times(1)
        .returning(|user, _, _, _| Ok(user.clone()));
    let changes = UserChanges {
        email: Some(email("ALICE@example.com")),
        full_name: Some(FullName::parse("Alice A.").unwrap()),
        ..UserChanges::default()
    };
    let updated = ports
        .service()
        .update_me(&actor, changes, None)
        .await
        .unwrap();
    assert_eq!(
        updated.full_name.as_ref().map(FullName::as_str),
        Some("Alice A.")
    );
}

#[tokio::test]
async fn update_me_changing_email_with_the_right_current_password_keeps_sessions() {
    let actor = member();
    let mut ports = Ports::default();
    ports.current_password_matches(actor.id, "my-password", true);
    ports
        .users
        .expect_update()
        .withf(|user, hash, effect, _| {
            user.email.as_str() == "new@example.com"
                && hash.is_none()
                && *effect == SessionEffect::Keep
        })
        .times(1)
        .returning(|user, _, _, _| Ok(user.clone()));
    let changes = UserChanges {
        email: Some(email("new@example.com")),
        ..UserChanges::default()
    };
    let updated = ports
        .service()
        .update_me(&actor, changes, Some("my-password"))
        .await
        .unwrap();
    assert_eq!(updated.email.as_str(), "new@example.com");
}

#[tokio::test]
async fn update_me_changing_password_stores_the_new_hash_and_revokes_all_sessions() {
    let actor = member();
    let id = actor.id;
    let mut ports = Ports::default();
    ports.current_password_matches(actor.id, "my-password", true);
    ports
        .hasher
        .expect_hash()
        .withf(|p| p.expose() == "brand-new-pass")
        .times(1)
        .returning(|_| Ok(PasswordHash::new("new-hash")));
    ports
        .users
        .expect_update()
        .withf(move |user, hash, effect, at| {
            user.id == id
                && hash.as_ref().map(PasswordHash::as_str) == Some("new-hash")
                && *effect == SessionEffect::RevokeAll
                && *at == now()
                && user.updated_at == earlier()
        })
        .times(1)
        .returning(|user, _, _, at| {
            Ok(User {
                updated_at: at,
                ..user.clone()
            })
        });
    let changes = UserChanges {
        password: Some(password("brand-new-pass")),
        ..UserChanges::default()
    };
    let updated = ports
        .service()
        .update_me(&actor, changes, Some("my-password"))
        .await
        .unwrap();
    assert_eq!(updated.updated_at, now());
}

#[tokio::test]
async fn update_me_by_an_admin_needs_no_current_password() {
    let actor = admin();
    let mut ports = Ports::default();
    ports.users.expect_password_hash().never();
    ports.hasher.expect_verify().never();
    ports.hashes();
    ports
        .users
        .expect_update()
        .withf(|user, hash, effect, _| {
            user.email.as_str() == "boss@example.com"
                && hash.as_ref().map(PasswordHash::as_str) == Some("hashed:brand-new-pass")
                && *effect == SessionEffect::RevokeAll
        })
        .times(1)
        .returning(|user, _, _, _| Ok(user.clone()));
    let changes = UserChanges {
        email: Some(email("boss@example.com")),
        password: Some(password("brand-new-pass")),
        ..UserChanges::default()
    };
    assert!(
        ports
            .service()
            .update_me(&actor, changes, None)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn update_me_with_username_some_none_clears_the_username() {
    let actor = member();
    assert!(actor.username.is_some());
    let mut ports = Ports::default();
    ports
        .users
        .expect_update()
        .withf(|user, _, effect, _| user.username.is_none() && *effect == SessionEffect::Keep)
        .times(1)
        .returning(|user, _, _, _| Ok(user.clone()));
    let changes = UserChanges {
        username: Some(None),
        ..UserChanges::default()
    };
    let updated = ports
        .service()
        .update_me(&actor, changes, None)
        .await
        .unwrap();
    assert_eq!(updated.username, None);
}

#[tokio::test]
async fn update_me_leaves_absent_fields_alone() {
    let actor = UserBuilder::new("alice").full_name("Alice Liddell").build();
    let before = actor.clone();
    let mut ports = Ports::default();
    ports
        .users
        .expect_update()
        .withf(move |user, _, _, _| {
            user.email == before.email
                && user.full_name == before.full_name
                && user.role == before.role
                && user.is_active == before.is_active
                && user.created_at == before.created_at
                && user.username.as_ref().map(Username::as_str) == Some("alice2")
        })
        .times(1)
        .returning(|user, _, _, _| Ok(user.clone()));
    let changes = UserChanges {
        username: Some(Some(Username::parse("alice2").unwrap())),
        ..UserChanges::default()
    };
    assert!(
        ports
            .service()
            .update_me(&actor, changes, None)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn update_me_passes_a_taken_username_on_as_conflict() {
    let mut ports = Ports::default();
    ports
        .users
        .expect_update()
        .times(1)
        .returning(|_, _, _, _| Err(DomainError::Conflict("username taken".into())));
    let changes = UserChanges {
        username: Some(Some(Username::parse("bob").unwrap())),
        ..UserChanges::default()
    };
    let result = ports.service().update_me(&member(), changes, None).await;
    assert_conflict(result);
}
