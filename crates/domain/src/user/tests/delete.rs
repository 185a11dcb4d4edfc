//! Deleting accounts: by an admin, or one's own.

use uuid::Uuid;

use super::{Ports, assert_conflict, assert_not_found};
use crate::DomainError;
use crate::tests::fixtures::{admin, member, now};

#[tokio::test]
async fn admin_delete_removes_the_user_by_id_as_the_admin_at_the_clocks_now() {
    let id = Uuid::now_v7();
    let root = admin();
    let root_id = root.id;
    let mut ports = Ports::default();
    ports
        .users
        .expect_delete()
        .withf(move |user_id, actor_id, at| *user_id == id && *actor_id == root_id && *at == now())
        .times(1)
        .returning(|_, _, _| Ok(()));
    assert!(ports.service().delete(&root, id).await.is_ok());
}

#[tokio::test]
async fn admin_delete_of_a_missing_user_is_not_found() {
    let mut ports = Ports::default();
    ports
        .users
        .expect_delete()
        .times(1)
        .returning(|_, _, _| Err(DomainError::NotFound("gone".into())));
    let result = ports.service().delete(&admin(), Uuid::now_v7()).await;
    assert_not_found(result);
}

#[tokio::test]
async fn admin_delete_of_the_last_admin_passes_the_conflict_on() {
    let mut ports = Ports::default();
    ports
        .users
        .expect_delete()
        .times(1)
        .returning(|_, _, _| Err(DomainError::Conflict("last active admin".into())));
    let result = ports.service().delete(&admin(), Uuid::now_v7()).await;
    assert_conflict(result);
}

#[tokio::test]
async fn delete_me_deletes_the_actor_as_themselves_at_the_clocks_now() {
    let actor = member();
    let id = actor.id;
    let mut ports = Ports::default();
    ports
        .users
        .expect_delete()
        .withf(move |user_id, actor_id, at| *user_id == id && *actor_id == id && *at == now())
        .times(1)
        .returning(|_, _, _| Ok(()));
    assert!(ports.service().delete_me(&actor).await.is_ok());
}

#[tokio::test]
async fn delete_me_of_the_last_admin_passes_the_conflict_on() {
    let mut ports = Ports::default();
    ports
        .users
        .expect_delete()
        .times(1)
        .returning(|_, _, _| Err(DomainError::Conflict("last active admin".into())));
    let result = ports.service().delete_me(&admin()).await;
    assert_conflict(result);
}
