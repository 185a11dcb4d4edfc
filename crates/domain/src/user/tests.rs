//! Unit tests of the user rules, against mockall mocks of the ports.

use std::sync::Arc;

use mockall::Sequence;
use uuid::Uuid;

use super::model::{
    Email, FullName, LoginIdentifier, Password, PasswordHash, Role, SessionEffect, User,
    UserCredentials, UserFilter, Username,
};
use super::ports::MockUserRepository;
use super::service::{NewAccount, UserChanges, UserService};
use crate::DomainError;
use crate::auth::MockPasswordHasher;
use crate::page::{Page, PageRequest};
use crate::tests::fixtures::{admin, clock, earlier, invalid_fields, member, now, user};

/// The mocked ports of one [`UserService`].
#[derive(Default)]
struct Ports {
    users: MockUserRepository,
    hasher: MockPasswordHasher,
}

impl Ports {
    fn service(self) -> UserService {
        UserService::new(Arc::new(self.users), Arc::new(self.hasher), clock())
    }

    /// `hash` turns any password into `hashed:<password>`.
    fn hashes(&mut self) {
        self.hasher
            .expect_hash()
            .returning(|p| Ok(PasswordHash::new(format!("hashed:{}", p.expose()))));
    }

    /// Nothing may be read or written.
    fn untouched(&mut self) {
        self.users.expect_insert().never();
        self.users.expect_find_by_id().never();
        self.users.expect_find_by_email().never();
        self.users.expect_list().never();
        self.users.expect_update().never();
        self.users.expect_delete().never();
        self.users.expect_password_hash().never();
        self.hasher.expect_hash().never();
        self.hasher.expect_verify().never();
    }

    /// `password_hash(id)` is the stored hash and `verify(given, stored)` answers `matches`.
    fn current_password_matches(&mut self, id: Uuid, given: &'static str, matches: bool) {
        self.users
            .expect_password_hash()
            .withf(move |user_id| *user_id == id)
            .times(1)
            .returning(|_| Ok(Some(PasswordHash::new("stored"))));
        self.hasher
            .expect_verify()
            .withf(move |password, hash| {
                password == given && hash.map(PasswordHash::as_str) == Some("stored")
            })
            .times(1)
            .returning(move |_, _| Ok(matches));
    }
}

fn account(email: &str, role: Role) -> NewAccount {
    NewAccount {
        email: Email::parse(email).unwrap(),
        password: Password::parse("s3cret-pass").unwrap(),
        username: Some(Username::parse("newbie").unwrap()),
        full_name: FullName::parse("New Bie").unwrap(),
        role,
    }
}

fn email(raw: &str) -> Email {
    Email::parse(raw).unwrap()
}

fn password(raw: &str) -> Password {
    Password::parse(raw).unwrap()
}

fn assert_forbidden<T: std::fmt::Debug>(result: Result<T, DomainError>) {
    assert!(
        matches!(result, Err(DomainError::Forbidden(_))),
        "{result:?}"
    );
}

/// A valid address of exactly `len` bytes (`len` ≥ 70).
fn email_of_len(len: usize) -> String {
    let local = "a".repeat(64);
    let domain_len = len - 65;
    let last = domain_len - 2 * 64;
    format!(
        "{local}@{}.{}.{}",
        "b".repeat(63),
        "c".repeat(63),
        "d".repeat(last)
    )
}

// ---------------------------------------------------------------- Email

#[test]
fn email_is_trimmed_and_lower_cased() {
    let parsed = Email::parse("  Alice.Smith+Tag@Example.COM \t").unwrap();
    assert_eq!(parsed.as_str(), "alice.smith+tag@example.com");
}

#[test]
fn email_accepts_common_valid_forms() {
    for raw in [
        "a@b.co",
        "first.last@sub.example.org",
        "x_y-z+1@my-host.io",
        "o'neil@example.ie",
    ] {
        assert_eq!(Email::parse(raw).unwrap().as_str(), raw);
    }
}

#[test]
fn email_rejects_invalid_forms_on_email() {
    for raw in [
        "",
        "   ",
        "alice.example.com",
        "alice@example",
        "alice@",
        "@example.com",
        "al ice@example.com",
        "alice@exam ple.com",
        "alice@@example.com",
        "a@b@example.com",
        ".alice@example.com",
        "alice.@example.com",
        "al..ice@example.com",
        "alice@.example.com",
        "alice@example..com",
        "alice@example.com.",
        "alice@-example.com",
        "alice@example-.com",
        "alice@exa_mple.com",
        "al\u{0}ice@example.com",
        "<alice@example.com>",
    ] {
        assert_eq!(invalid_fields(Email::parse(raw)), ["email"], "{raw:?}");
    }
}

#[test]
fn email_of_254_bytes_is_accepted_and_255_rejected() {
    let longest = email_of_len(254);
    assert_eq!(longest.len(), 254);
    assert_eq!(Email::parse(&longest).unwrap().as_str(), longest);
    let too_long = email_of_len(255);
    assert_eq!(too_long.len(), 255);
    assert_eq!(invalid_fields(Email::parse(&too_long)), ["email"]);
}

#[test]
fn email_local_part_is_limited_to_64_bytes() {
    assert!(Email::parse(&format!("{}@example.com", "a".repeat(64))).is_ok());
    assert_eq!(
        invalid_fields(Email::parse(&format!("{}@example.com", "a".repeat(65)))),
        ["email"]
    );
}

// ---------------------------------------------------------------- Username

#[test]
fn username_of_3_to_32_allowed_characters_is_accepted_as_typed() {
    for raw in ["abc", "Alice_B.c-9", &"x".repeat(32), "A.B"] {
        assert_eq!(Username::parse(raw).unwrap().as_str(), raw);
    }
}

#[test]
fn username_shorter_than_3_or_longer_than_32_is_rejected() {
    for raw in ["", "ab", &"x".repeat(33)] {
        assert_eq!(
            invalid_fields(Username::parse(raw)),
            ["username"],
            "{raw:?}"
        );
    }
}

#[test]
fn username_with_characters_outside_the_charset_is_rejected() {
    for raw in [
        "alice@example.com",
        "al@ce",
        "al ice",
        "josé",
        "al+ce",
        "alice!",
        " alice",
        "ali\u{0}ce",
    ] {
        assert_eq!(
            invalid_fields(Username::parse(raw)),
            ["username"],
            "{raw:?}"
        );
    }
}

#[test]
fn username_key_is_lower_case() {
    let name = Username::parse("Alice_B.C").unwrap();
    assert_eq!(name.key(), "alice_b.c");
    assert_eq!(name.as_str(), "Alice_B.C");
    assert_eq!(
        Username::parse("ALICE").unwrap().key(),
        Username::parse("alice").unwrap().key()
    );
}

// ---------------------------------------------------------------- Password

#[test]
fn password_of_8_and_72_bytes_is_accepted_whole() {
    for len in [8, 72] {
        let raw = "p".repeat(len);
        assert_eq!(Password::parse(&raw).unwrap().expose(), raw);
    }
}

#[test]
fn password_of_7_or_73_bytes_is_rejected_on_password() {
    for len in [0, 7, 73, 200] {
        assert_eq!(
            invalid_fields(Password::parse(&"p".repeat(len))),
            ["password"],
            "{len}"
        );
    }
}

#[test]
fn password_length_counts_bytes_not_characters() {
    // "é" is 2 bytes, "😀" is 4.
    assert!(Password::parse(&"é".repeat(4)).is_ok());
    assert!(Password::parse(&"😀".repeat(2)).is_ok());
    assert!(Password::parse(&"é".repeat(36)).is_ok());
    assert_eq!(
        invalid_fields(Password::parse(&"é".repeat(37))),
        ["password"]
    );
    assert_eq!(
        invalid_fields(Password::parse(&"😀".repeat(19))),
        ["password"]
    );
    assert_eq!(invalid_fields(Password::parse("éééa")), ["password"]);
}

#[test]
fn password_is_kept_exactly_as_given() {
    assert_eq!(
        Password::parse("  spaced out  ").unwrap().expose(),
        "  spaced out  "
    );
}

#[test]
fn secrets_never_appear_in_debug_output() {
    let secret = Password::parse("hunter2-hunter2").unwrap();
    assert!(!format!("{secret:?}").contains("hunter2"));
    let hash = PasswordHash::new("$2b$12$abcdefghijklmnop");
    assert!(!format!("{hash:?}").contains("abcdefghijklmnop"));
    let creds = UserCredentials {
        user: member(),
        password_hash: hash,
    };
    assert!(!format!("{creds:?}").contains("abcdefghijklmnop"));
    let new = NewAccount {
        password: secret.clone(),
        ..account("a@example.com", Role::User)
    };
    assert!(!format!("{new:?}").contains("hunter2"));
    let changes = UserChanges {
        password: Some(secret),
        ..UserChanges::default()
    };
    assert!(!format!("{changes:?}").contains("hunter2"));
}

// ---------------------------------------------------------------- FullName, Role, identifiers

#[test]
fn full_name_is_trimmed_and_blank_means_none() {
    assert_eq!(
        FullName::parse("  Ada Lovelace ")
            .unwrap()
            .map(|n| n.as_str().to_owned()),
        Some("Ada Lovelace".to_owned())
    );
    assert_eq!(FullName::parse("").unwrap(), None);
    assert_eq!(FullName::parse(" \t ").unwrap(), None);
}

#[test]
fn full_name_allows_100_characters_and_rejects_101() {
    assert!(FullName::parse(&"é".repeat(100)).unwrap().is_some());
    assert!(
        FullName::parse(&format!("  {}  ", "n".repeat(100)))
            .unwrap()
            .is_some()
    );
    assert_eq!(
        invalid_fields(FullName::parse(&"é".repeat(101))),
        ["full_name"]
    );
}

#[test]
fn role_parses_its_wire_names_and_rejects_others_on_role() {
    for role in [Role::User, Role::Admin] {
        assert_eq!(Role::parse(role.as_str()).unwrap(), role);
    }
    assert_eq!(Role::User.as_str(), "user");
    assert_eq!(Role::Admin.as_str(), "admin");
    for raw in ["", "root", "superuser", "admin "] {
        assert_eq!(invalid_fields(Role::parse(raw)), ["role"], "{raw:?}");
    }
}

#[test]
fn is_admin_follows_the_role_and_active_admin_needs_both() {
    let mut u = admin();
    assert!(u.is_admin() && u.is_active_admin());
    u.is_active = false;
    assert!(u.is_admin() && !u.is_active_admin());
    let m = member();
    assert!(!m.is_admin() && !m.is_active_admin());
}

#[test]
fn login_identifier_with_an_at_sign_is_a_normalised_email() {
    assert_eq!(
        LoginIdentifier::parse("  Alice@Example.COM "),
        LoginIdentifier::Email("alice@example.com".into())
    );
    assert_eq!(
        LoginIdentifier::parse("not@valid"),
        LoginIdentifier::Email("not@valid".into())
    );
}

#[test]
fn login_identifier_without_an_at_sign_is_a_username() {
    match LoginIdentifier::parse(" Alice_B ") {
        LoginIdentifier::Username(name) => assert!(name.eq_ignore_ascii_case("Alice_B"), "{name}"),
        other => panic!("expected a username, got {other:?}"),
    }
}

// ---------------------------------------------------------------- register / create

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
    assert!(
        matches!(result, Err(DomainError::Conflict(_))),
        "{result:?}"
    );
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

// ---------------------------------------------------------------- admin-only reads and writes

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
            .list(&actor, &UserFilter::default(), PageRequest::default())
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
    assert!(
        matches!(result, Err(DomainError::NotFound(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn list_by_an_admin_passes_filter_and_window_through() {
    let filter = UserFilter {
        q: Some("ali".into()),
        role: Some(Role::User),
        is_active: Some(true),
    };
    let page = PageRequest::new(Some(5), Some(10)).unwrap();
    let expected_filter = filter.clone();
    let listed = Page {
        items: vec![member()],
        total: 11,
        limit: 5,
        offset: 10,
    };
    let answer = listed.clone();
    let mut ports = Ports::default();
    ports
        .users
        .expect_list()
        .withf(move |f, p| *f == expected_filter && *p == page)
        .times(1)
        .returning(move |_, _| Ok(answer.clone()));
    assert_eq!(
        ports.service().list(&admin(), &filter, page).await.unwrap(),
        listed
    );
}

// ---------------------------------------------------------------- update_me

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
                && user.updated_at == now()
        })
        .times(1)
        .returning(|user, _, _, _| Ok(user.clone()));
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
    let mut actor = member();
    actor.full_name = FullName::parse("Alice Liddell").unwrap();
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
    assert!(
        matches!(result, Err(DomainError::Conflict(_))),
        "{result:?}"
    );
}

// ---------------------------------------------------------------- admin update / delete

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
    let mut target = member();
    target.is_active = false;
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
                && user.updated_at == now()
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
    assert!(
        matches!(result, Err(DomainError::NotFound(_))),
        "{result:?}"
    );
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
    assert!(
        matches!(result, Err(DomainError::Conflict(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn admin_delete_removes_the_user_by_id() {
    let id = Uuid::now_v7();
    let mut ports = Ports::default();
    ports
        .users
        .expect_delete()
        .withf(move |user_id| *user_id == id)
        .times(1)
        .returning(|_| Ok(()));
    assert!(ports.service().delete(&admin(), id).await.is_ok());
}

#[tokio::test]
async fn admin_delete_of_a_missing_user_is_not_found() {
    let mut ports = Ports::default();
    ports
        .users
        .expect_delete()
        .times(1)
        .returning(|_| Err(DomainError::NotFound("gone".into())));
    let result = ports.service().delete(&admin(), Uuid::now_v7()).await;
    assert!(
        matches!(result, Err(DomainError::NotFound(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn admin_delete_of_the_last_admin_passes_the_conflict_on() {
    let mut ports = Ports::default();
    ports
        .users
        .expect_delete()
        .times(1)
        .returning(|_| Err(DomainError::Conflict("last active admin".into())));
    let result = ports.service().delete(&admin(), Uuid::now_v7()).await;
    assert!(
        matches!(result, Err(DomainError::Conflict(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn delete_me_deletes_the_actor() {
    let actor = member();
    let id = actor.id;
    let mut ports = Ports::default();
    ports
        .users
        .expect_delete()
        .withf(move |user_id| *user_id == id)
        .times(1)
        .returning(|_| Ok(()));
    assert!(ports.service().delete_me(&actor).await.is_ok());
}

#[tokio::test]
async fn delete_me_of_the_last_admin_passes_the_conflict_on() {
    let mut ports = Ports::default();
    ports
        .users
        .expect_delete()
        .times(1)
        .returning(|_| Err(DomainError::Conflict("last active admin".into())));
    let result = ports.service().delete_me(&admin()).await;
    assert!(
        matches!(result, Err(DomainError::Conflict(_))),
        "{result:?}"
    );
}

// ---------------------------------------------------------------- ensure_admin

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
    let mut existing = user("root", Role::User);
    existing.is_active = false;
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
                && user.updated_at == now()
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
    let winner = user("root", Role::User);
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
