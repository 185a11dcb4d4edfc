//! Password reset: a stored digest and a mail for an active account, nothing for any
//! other address, and a token that works once.

use std::sync::{Arc, Mutex};

use chrono::Duration;

use crate::DomainError;
use crate::auth::ports::{MockOneTimeTokens, MockPasswordHasher, MockPasswordResetRepository};
use crate::auth::{PasswordReset, PasswordResetService, ResetSettings};
use crate::mail::{MailMessage, MockMailer};
use crate::testing::UserBuilder;
use crate::tests::fixtures::{clock, member, now};
use crate::user::{Email, MockUserRepository, Password, PasswordHash};

#[derive(Default)]
struct Ports {
    users: MockUserRepository,
    resets: MockPasswordResetRepository,
    hasher: MockPasswordHasher,
    mailer: MockMailer,
    mail_off: bool,
}

impl Ports {
    fn service(self) -> PasswordResetService {
        let mut tokens = MockOneTimeTokens::new();
        tokens.expect_generate().returning(|| Ok("s3cret".into()));
        tokens
            .expect_digest()
            .returning(|token| format!("sha:{token}"));
        let mailer =
            (!self.mail_off).then(|| Arc::new(self.mailer) as Arc<dyn crate::mail::Mailer>);
        PasswordResetService::new(
            Arc::new(self.users),
            Arc::new(self.resets),
            Arc::new(self.hasher),
            Arc::new(tokens),
            mailer,
            clock(),
            ResetSettings {
                lifetime: Duration::minutes(10),
                link_base: "https://app.example/reset?token=".into(),
            },
        )
    }
}

fn email() -> Email {
    Email::parse("alice@example.com").unwrap()
}

#[tokio::test]
async fn an_active_account_gets_a_stored_digest_and_then_a_mail_with_the_link() {
    let alice = member();
    let alice_id = alice.id;
    let mut ports = Ports::default();
    ports
        .users
        .expect_find_by_email()
        .times(1)
        .returning(move |_| Ok(Some(alice.clone())));
    let stored = Arc::new(Mutex::new(None::<PasswordReset>));
    let slot = Arc::clone(&stored);
    ports.resets.expect_insert().times(1).returning(move |r| {
        *slot.lock().unwrap() = Some(r.clone());
        Ok(())
    });
    let sent = Arc::new(Mutex::new(None::<MailMessage>));
    let outbox = Arc::clone(&sent);
    let stored_first = Arc::clone(&stored);
    ports.mailer.expect_send().times(1).returning(move |m| {
        assert!(
            stored_first.lock().unwrap().is_some(),
            "the token is stored before the mail goes out"
        );
        *outbox.lock().unwrap() = Some(m);
        Ok(())
    });

    ports.service().request(&email()).await.unwrap();

    let reset = stored.lock().unwrap().clone().unwrap();
    assert_eq!(
        reset.token_digest, "sha:s3cret",
        "only the digest is stored"
    );
    assert_eq!(reset.user_id, alice_id);
    assert_eq!(reset.expires_at, now() + Duration::minutes(10));
    let mail = sent.lock().unwrap().clone().unwrap();
    assert_eq!(mail.to, "alice@example.com");
    let link = "https://app.example/reset?token=s3cret";
    assert!(mail.text.contains(link), "{}", mail.text);
    assert!(
        mail.html.contains(&format!("href=\"{link}\"")),
        "{}",
        mail.html
    );
}

#[tokio::test]
async fn an_unknown_or_inactive_address_stores_and_sends_nothing() {
    for user in [None, Some(UserBuilder::new("alice").inactive().build())] {
        let mut ports = Ports::default();
        ports
            .users
            .expect_find_by_email()
            .times(1)
            .returning(move |_| Ok(user.clone()));
        ports.resets.expect_insert().never();
        ports.mailer.expect_send().never();
        assert!(ports.service().request(&email()).await.is_ok());
    }
}

#[tokio::test]
async fn with_mail_off_a_reset_cannot_be_requested() {
    let mut ports = Ports {
        mail_off: true,
        ..Ports::default()
    };
    ports.users.expect_find_by_email().never();
    let result = ports.service().request(&email()).await;
    assert!(
        matches!(result, Err(DomainError::Unavailable(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn an_unknown_used_or_expired_token_is_invalid_and_nothing_is_hashed() {
    let mut ports = Ports::default();
    ports
        .resets
        .expect_find_live()
        .withf(|digest, at| digest == "sha:nope" && *at == now())
        .times(1)
        .returning(|_, _| Ok(None));
    ports.hasher.expect_hash().never();
    ports.resets.expect_complete().never();

    let password = Password::parse("new password").unwrap();
    let result = ports.service().confirm("nope", &password).await;

    assert!(
        matches!(result, Err(DomainError::InvalidToken(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_live_token_sets_the_new_hash_in_one_completion() {
    let alice = member();
    let alice_id = alice.id;
    let mut ports = Ports::default();
    ports
        .resets
        .expect_find_live()
        .times(1)
        .returning(move |_, _| Ok(Some(alice_id)));
    ports
        .hasher
        .expect_hash()
        .times(1)
        .returning(|_| Ok(PasswordHash::new("$2b$new")));
    ports
        .resets
        .expect_complete()
        .withf(|digest, hash, _| digest == "sha:s3cret" && hash.as_str() == "$2b$new")
        .times(1)
        .returning(|_, _, _| Ok(true));

    let password = Password::parse("new password").unwrap();
    assert!(ports.service().confirm("s3cret", &password).await.is_ok());
}

#[tokio::test]
async fn a_token_spent_by_a_parallel_confirmation_is_invalid() {
    let alice_id = member().id;
    let mut ports = Ports::default();
    ports
        .resets
        .expect_find_live()
        .returning(move |_, _| Ok(Some(alice_id)));
    ports
        .hasher
        .expect_hash()
        .returning(|_| Ok(PasswordHash::new("$2b$new")));
    ports
        .resets
        .expect_complete()
        .times(1)
        .returning(|_, _, _| Ok(false));

    let password = Password::parse("new password").unwrap();
    let result = ports.service().confirm("s3cret", &password).await;
    assert!(
        matches!(result, Err(DomainError::InvalidToken(_))),
        "{result:?}"
    );
}

#[test]
fn the_html_body_escapes_the_link() {
    let message = crate::auth::reset_message(
        &email(),
        "https://x.example/r?a=1&token=<t>",
        Duration::minutes(30),
    );
    assert!(message.html.contains("a=1&amp;token=&lt;t&gt;"));
    assert!(
        !format!("{message:?}").contains("token"),
        "Debug hides the bodies"
    );
}
