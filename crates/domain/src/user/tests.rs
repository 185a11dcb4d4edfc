//! Unit tests of the user rules, against mockall mocks of the ports, one file per rule
//! family; this file holds what they share.

use std::sync::Arc;

use uuid::Uuid;

use super::model::{Email, FullName, Password, PasswordHash, Role, Username};
use super::ports::MockUserRepository;
use super::service::{NewAccount, UserService};
use crate::DomainError;
use crate::auth::MockPasswordHasher;
use crate::testing::SequentialIds;
use crate::tests::fixtures::clock;

mod admin;
mod delete;
mod ensure_admin;
mod profile;
mod register;
mod values;

/// The mocked ports of one [`UserService`]; new ids come from a fresh
/// [`SequentialIds`], so the first user created is [`SequentialIds::nth`]`(1)`.
#[derive(Default)]
struct Ports {
    users: MockUserRepository,
    hasher: MockPasswordHasher,
}

impl Ports {
    fn service(self) -> UserService {
        UserService::new(
            Arc::new(self.users),
            Arc::new(self.hasher),
            clock(),
            Arc::new(SequentialIds::new()),
        )
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

fn assert_not_found<T: std::fmt::Debug>(result: Result<T, DomainError>) {
    assert!(
        matches!(result, Err(DomainError::NotFound(_))),
        "{result:?}"
    );
}

fn assert_conflict<T: std::fmt::Debug>(result: Result<T, DomainError>) {
    assert!(
        matches!(result, Err(DomainError::Conflict(_))),
        "{result:?}"
    );
}
