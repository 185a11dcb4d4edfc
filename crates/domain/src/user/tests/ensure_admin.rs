//! `ensure_admin`: the idempotent bootstrap of an admin account.

use mockall::Sequence;

use super::{Ports, email, password};
use crate::DomainError;
use crate::testing::UserBuilder;
use crate::tests::fixtures::{admin, earlier, now};
use crate::user::{Role, SessionEffect, changed_meanwhile};

#[tokio::test]
async fn ensure_admin_creates_a_missing_admin() {
    let mut ports = Ports::default();
    ports
        .users
        .expect_find_by_email()
        .withf(|e| e == "root@example.com")
        .times(1)
        .returning(|_| Ok(None));
    ports.hashes();
    ports
        .users
        .expect_insert()
        .withf(|user, hash| {
            user.email.as_str() == "root@example.com"
                && user.role == Role::Admin
                && user.is_active
                && hash.as_str() == "hashed:bootstrap-pass"
        })
        .times(1)
        .returning(|_, _| Ok(()));
    ports.users.expect_update().never();

    let created = ports
        .service()
        .ensure_admin(email("root@example.com"), password("bootstrap-pass"))
        .await
        .unwrap();
    assert!(created.is_active_admin());
}

#[tokio::test]
async fn ensure_admin_leaves_an_active_admin_untouched() {
    let existing = admin();
    let mut ports = Ports::default();
    ports.hasher.expect_hash().never();
    let found = existing.clone();
    ports
        .users
        .expect_find_by_email()
        .times(1)
        .returning(move |_| Ok(Some(found.clone())));
    ports.users.expect_update().never();
    ports.users.expect_insert().never();

    let result = ports
        .service()
        .ensure_admin(email("root@example.com"), password("bootstrap-pass"))
        .await
        .unwrap();
    assert_eq!(result, existing);
}

#[tokio::test]
async fn ensure_admin_promotes_and_reactivates_an_existing_user_keeping_password_and_sessions() {
    let existing = UserBuilder::new("root").inactive().build();
    let id = existing.id;
    let mut ports = Ports::default();
    let found = existing.clone();
    ports
        .users
        .expect_find_by_email()
        .times(1)
        .returning(move |_| Ok(Some(found.clone())));
    ports.hasher.expect_hash().never();
    ports.users.expect_insert().never();
    ports
        .users
        .expect_update()
        .withf(move |user, hash, effect, at| {
            user.id == id
                && user.role == Role::Admin
                && user.is_active
                && user.created_at == earlier()
                && user.updated_at == earlier()
                && hash.is_none()
                && *effect == SessionEffect::Keep
                && *at == now()
        })
        .times(1)
        .returning(|user, _, _, _| Ok(user.clone()));

    let result = ports
        .service()
        .ensure_admin(email("root@example.com"), password("bootstrap-pass"))
        .await
        .unwrap();
    assert!(result.is_active_admin());
}

#[tokio::test]
async fn ensure_admin_losing_a_creation_race_promotes_the_winner() {
    let winner = UserBuilder::new("root").build();
    let mut seq = Sequence::new();
    let mut ports = Ports::default();
    ports.hashes();
    ports
        .users
        .expect_find_by_email()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(None));
    ports
        .users
        .expect_insert()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| Err(DomainError::Conflict("email taken".into())));
    let found = winner.clone();
    ports
        .users
        .expect_find_by_email()
        .times(1)
        .in_sequence(&mut seq)
        .returning(move |_| Ok(Some(found.clone())));
    let id = winner.id;
    ports
        .users
        .expect_update()
        .withf(move |user, hash, effect, _| {
            user.id == id
                && user.role == Role::Admin
                && hash.is_none()
                && *effect == SessionEffect::Keep
        })
        .times(1)
        .in_sequence(&mut seq)
        .returning(|user, _, _, _| Ok(user.clone()));

    let result = ports
        .service()
        .ensure_admin(email("root@example.com"), password("bootstrap-pass"))
        .await
        .unwrap();
    assert_eq!((result.id, result.role), (id, Role::Admin));
}

#[tokio::test]
async fn ensure_admin_whose_promotion_meets_a_newer_version_looks_again() {
    // Another instance promotes the same user between our lookup and our write: the
    // write is refused (changed meanwhile), and the second lookup finds an admin.
    let existing = UserBuilder::new("root").build();
    let promoted = UserBuilder::new("root").admin().build();
    let mut seq = Sequence::new();
    let mut ports = Ports::default();
    let found = existing.clone();
    ports
        .users
        .expect_find_by_email()
        .times(1)
        .in_sequence(&mut seq)
        .returning(move |_| Ok(Some(found.clone())));
    let id = existing.id;
    ports
        .users
        .expect_update()
        .times(1)
        .in_sequence(&mut seq)
        .returning(move |_, _, _, _| Err(changed_meanwhile(id)));
    let again = promoted.clone();
    ports
        .users
        .expect_find_by_email()
        .times(1)
        .in_sequence(&mut seq)
        .returning(move |_| Ok(Some(again.clone())));
    ports.users.expect_insert().never();

    let result = ports
        .service()
        .ensure_admin(email("root@example.com"), password("bootstrap-pass"))
        .await
        .unwrap();
    assert_eq!(result, promoted);
}
