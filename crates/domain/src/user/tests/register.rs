//! Registration and admin-created accounts.

use super::{Ports, account, assert_conflict, assert_forbidden};
use crate::DomainError;
use crate::testing::SequentialIds;
use crate::tests::fixtures::{admin, member, now};
use crate::user::{FullName, PasswordHash, Role, Username};

#[tokio::test]
async fn registering_an_admin_without_a_caller_is_forbidden() {
    let mut ports = Ports::default();
    ports.untouched();
    assert_forbidden(
        ports
            .service()
            .register(account("new@example.com", Role::Admin), None)
            .await,
    );
}

#[tokio::test]
async fn registering_an_admin_as_a_non_admin_is_forbidden() {
    let mut ports = Ports::default();
    ports.untouched();
    let caller = member();
    assert_forbidden(
        ports
            .service()
            .register(account("new@example.com", Role::Admin), Some(&caller))
            .await,
    );
}

#[tokio::test]
async fn registering_an_admin_as_an_admin_creates_an_admin() {
    let mut ports = Ports::default();
    ports.hashes();
    ports
        .users
        .expect_insert()
        .withf(|user, _| user.role == Role::Admin)
        .times(1)
        .returning(|_, _| Ok(()));
    let caller = admin();
    let created = ports
        .service()
        .register(account("new@example.com", Role::Admin), Some(&caller))
        .await
        .unwrap();
    assert_eq!(created.role, Role::Admin);
}

#[tokio::test]
async fn register_hashes_the_password_and_stores_an_active_user() {
    let mut ports = Ports::default();
    ports
        .hasher
        .expect_hash()
        .withf(|p| p.expose() == "s3cret-pass")
        .times(1)
        .returning(|_| Ok(PasswordHash::new("bcrypt-hash")));
    ports
        .users
        .expect_insert()
        .withf(|user, hash| {
            user.email.as_str() == "new@example.com"
                && user.username.as_ref().map(Username::as_str) == Some("newbie")
                && user.full_name.as_ref().map(FullName::as_str) == Some("New Bie")
                && user.role == Role::User
                && user.is_active
                && user.created_at == now()
                && user.updated_at == now()
                && hash.as_str() == "bcrypt-hash"
        })
        .times(1)
        .returning(|_, _| Ok(()));

    let created = ports
        .service()
        .register(account("New@Example.com", Role::User), None)
        .await
        .unwrap();
    assert_eq!(created.email.as_str(), "new@example.com");
    assert_eq!((created.role, created.is_active), (Role::User, true));
    assert_eq!((created.created_at, created.updated_at), (now(), now()));
}

#[tokio::test]
async fn register_takes_the_new_user_id_from_the_id_source() {
    let mut ports = Ports::default();
    ports.hashes();
    ports
        .users
        .expect_insert()
        .withf(|user, _| user.id == SequentialIds::nth(1))
        .times(1)
        .returning(|_, _| Ok(()));
    let created = ports
        .service()
        .register(account("new@example.com", Role::User), None)
        .await
        .unwrap();
    assert_eq!(created.id, SequentialIds::nth(1));
}

#[tokio::test]
async fn register_ignores_a_non_admin_caller_for_an_ordinary_account() {
    let mut ports = Ports::default();
    ports.hashes();
    ports
        .users
        .expect_insert()
        .times(1)
        .returning(|_, _| Ok(()));
    let caller = member();
    let created = ports
        .service()
        .register(account("new@example.com", Role::User), Some(&caller))
        .await
        .unwrap();
    assert_eq!(created.role, Role::User);
}

#[tokio::test]
async fn register_passes_a_taken_email_on_as_conflict() {
    let mut ports = Ports::default();
    ports.hashes();
    ports
        .users
        .expect_insert()
        .times(1)
        .returning(|_, _| Err(DomainError::Conflict("email taken".into())));
    let result = ports
        .service()
        .register(account("new@example.com", Role::User), None)
        .await;
    assert_conflict(result);
}

#[tokio::test]
async fn create_by_a_non_admin_is_forbidden_and_stores_nothing() {
    let mut ports = Ports::default();
    ports.untouched();
    let actor = member();
    assert_forbidden(
        ports
            .service()
            .create(&actor, account("new@example.com", Role::User))
            .await,
    );
}

#[tokio::test]
async fn create_by_an_admin_stores_the_requested_role() {
    let mut ports = Ports::default();
    ports.hashes();
    ports
        .users
        .expect_insert()
        .withf(|user, hash| user.role == Role::Admin && hash.as_str() == "hashed:s3cret-pass")
        .times(1)
        .returning(|_, _| Ok(()));
    let actor = admin();
    let created = ports
        .service()
        .create(&actor, account("boss@example.com", Role::Admin))
        .await
        .unwrap();
    assert_eq!(created.role, Role::Admin);
}
