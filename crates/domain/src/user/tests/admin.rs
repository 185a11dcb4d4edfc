//! What only an admin may do to other accounts: read, list and change them.

use uuid::Uuid;

use super::{Ports, assert_conflict, assert_forbidden, assert_not_found, password};
use crate::DomainError;
use crate::page::{DEFAULT_MAX_EXACT_COUNT, ListRequest, Slice, Window};
use crate::testing::UserBuilder;
use crate::tests::fixtures::{admin, earlier, member, now};
use crate::user::{
    MockUserRepository, PasswordHash, Role, SessionEffect, User, UserChanges, UserFilter,
};

#[tokio::test]
async fn get_list_update_and_delete_by_a_non_admin_are_forbidden_and_touch_nothing() {
    let actor = member();
    let target = Uuid::now_v7();

    let mut ports = Ports::default();
    ports.untouched();
    let service = ports.service();
    assert_forbidden(service.get(&actor, target).await);
    assert_forbidden(
        service
            .list(&actor, &UserFilter::default(), &ListRequest::default())
            .await,
    );
    assert_forbidden(
        service
            .update(
                &actor,
                target,
                UserChanges {
                    full_name: Some(None),
                    ..UserChanges::default()
                },
            )
            .await,
    );
    assert_forbidden(service.delete(&actor, target).await);
}

#[tokio::test]
async fn get_by_an_admin_returns_the_user() {
    let target = member();
    let id = target.id;
    let mut ports = Ports::default();
    let found = target.clone();
    ports
        .users
        .expect_find_by_id()
        .withf(move |user_id| *user_id == id)
        .times(1)
        .returning(move |_| Ok(Some(found.clone())));
    assert_eq!(ports.service().get(&admin(), id).await.unwrap(), target);
}

#[tokio::test]
async fn get_of_a_missing_user_is_not_found() {
    let mut ports = Ports::default();
    ports
        .users
        .expect_find_by_id()
        .times(1)
        .returning(|_| Ok(None));
    let result = ports.service().get(&admin(), Uuid::now_v7()).await;
    assert_not_found(result);
}

#[tokio::test]
async fn list_by_an_admin_passes_filter_and_window_through() {
    let filter = UserFilter {
        q: Some("ali".into()),
        role: Some(Role::User),
        is_active: Some(true),
    };
    let request = ListRequest::new(Some(5), Some(10), None).unwrap();
    let window = Window::at(request.page(), DEFAULT_MAX_EXACT_COUNT);
    let expected_filter = filter.clone();
    let listed = Slice {
        items: vec![member()],
        total: 11,
        total_exact: true,
        more: false,
    };
    let answer = listed.clone();
    let mut ports = Ports::default();
    ports
        .users
        .expect_list()
        .withf(move |f, w| *f == expected_filter && *w == window)
        .times(1)
        .returning(move |_, _| Ok(answer.clone()));
    let page = ports
        .service()
        .list(&admin(), &filter, &request)
        .await
        .unwrap();
    assert_eq!(
        (
            page.items,
            page.total,
            page.limit,
            page.offset,
            page.next_cursor
        ),
        (listed.items, 11, 5, 10, None)
    );
}

// ---------------------------------------------------------------- admin update

fn stored(target: &User) -> MockUserRepository {
    let mut users = MockUserRepository::new();
    let found = target.clone();
    let id = target.id;
    users
        .expect_find_by_id()
        .withf(move |user_id| *user_id == id)
        .times(1)
        .returning(move |_| Ok(Some(found.clone())));
    users
}

#[tokio::test]
async fn admin_deactivating_a_user_revokes_all_their_sessions() {
    let target = member();
    let mut ports = Ports {
        users: stored(&target),
        ..Ports::default()
    };
    ports
        .users
        .expect_update()
        .withf(|user, hash, effect, _| {
            !user.is_active && hash.is_none() && *effect == SessionEffect::RevokeAll
        })
        .times(1)
        .returning(|user, _, _, _| Ok(user.clone()));
    let changes = UserChanges {
        is_active: Some(false),
        ..UserChanges::default()
    };
    let updated = ports
        .service()
        .update(&admin(), target.id, changes)
        .await
        .unwrap();
    assert!(!updated.is_active);
}

#[tokio::test]
async fn admin_reactivating_a_user_keeps_sessions() {
    let target = UserBuilder::new("alice").inactive().build();
    let mut ports = Ports {
        users: stored(&target),
        ..Ports::default()
    };
    ports
        .users
        .expect_update()
        .withf(|user, _, effect, _| user.is_active && *effect == SessionEffect::Keep)
        .times(1)
        .returning(|user, _, _, _| Ok(user.clone()));
    let changes = UserChanges {
        is_active: Some(true),
        ..UserChanges::default()
    };
    assert!(
        ports
            .service()
            .update(&admin(), target.id, changes)
            .await
            .unwrap()
            .is_active
    );
}

#[tokio::test]
async fn admin_setting_is_active_true_on_an_active_user_keeps_sessions() {
    let target = member();
    let mut ports = Ports {
        users: stored(&target),
        ..Ports::default()
    };
    ports
        .users
        .expect_update()
        .withf(|user, _, effect, _| user.is_active && *effect == SessionEffect::Keep)
        .times(1)
        .returning(|user, _, _, _| Ok(user.clone()));
    let changes = UserChanges {
        is_active: Some(true),
        ..UserChanges::default()
    };
    assert!(
        ports
            .service()
            .update(&admin(), target.id, changes)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn admin_changing_a_role_keeps_sessions_and_stores_the_role() {
    let target = member();
    let mut ports = Ports {
        users: stored(&target),
        ..Ports::default()
    };
    ports
        .users
        .expect_update()
        .withf(|user, _, effect, at| {
            user.role == Role::Admin
                && *effect == SessionEffect::Keep
                && user.updated_at == earlier()
                && *at == now()
        })
        .times(1)
        .returning(|user, _, _, _| Ok(user.clone()));
    let changes = UserChanges {
        role: Some(Role::Admin),
        ..UserChanges::default()
    };
    let updated = ports
        .service()
        .update(&admin(), target.id, changes)
        .await
        .unwrap();
    assert_eq!(updated.role, Role::Admin);
}

#[tokio::test]
async fn admin_resetting_a_password_needs_no_current_password_and_revokes_all() {
    let target = member();
    let mut ports = Ports {
        users: stored(&target),
        ..Ports::default()
    };
    ports.hashes();
    ports.users.expect_password_hash().never();
    ports.hasher.expect_verify().never();
    ports
        .users
        .expect_update()
        .withf(|_, hash, effect, _| {
            hash.as_ref().map(PasswordHash::as_str) == Some("hashed:reset-pass-1")
                && *effect == SessionEffect::RevokeAll
        })
        .times(1)
        .returning(|user, _, _, _| Ok(user.clone()));
    let changes = UserChanges {
        password: Some(password("reset-pass-1")),
        ..UserChanges::default()
    };
    assert!(
        ports
            .service()
            .update(&admin(), target.id, changes)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn admin_update_of_a_missing_user_is_not_found_and_never_writes() {
    let mut ports = Ports::default();
    ports
        .users
        .expect_find_by_id()
        .times(1)
        .returning(|_| Ok(None));
    ports.users.expect_update().never();
    let changes = UserChanges {
        is_active: Some(false),
        ..UserChanges::default()
    };
    let result = ports
        .service()
        .update(&admin(), Uuid::now_v7(), changes)
        .await;
    assert_not_found(result);
}

#[tokio::test]
async fn admin_demoting_the_last_admin_passes_the_conflict_on() {
    let target = admin();
    let mut ports = Ports {
        users: stored(&target),
        ..Ports::default()
    };
    ports
        .users
        .expect_update()
        .times(1)
        .returning(|_, _, _, _| Err(DomainError::Conflict("last active admin".into())));
    let changes = UserChanges {
        role: Some(Role::User),
        ..UserChanges::default()
    };
    let result = ports.service().update(&target, target.id, changes).await;
    assert_conflict(result);
}
