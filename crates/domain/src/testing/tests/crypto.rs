//! `PlainHasher` and `PlainTokens`: the ports' contracts without cryptography.

use std::sync::Arc;

use chrono::Duration;
use uuid::Uuid;

use super::assert_unauthorized;
use crate::DomainError;
use crate::auth::{Claims, PasswordHasher, TokenKind, TokenService};
use crate::clock::Clock;
use crate::testing::{FixedClock, PlainHasher, PlainTokens};
use crate::user::{Password, PasswordHash};

// ---------------------------------------------------------------- PlainHasher

#[tokio::test]
async fn plain_hasher_verifies_only_the_right_password() {
    let hash = PlainHasher
        .hash(&Password::parse("correct horse").unwrap())
        .await
        .unwrap();
    assert!(
        PlainHasher
            .verify("correct horse", Some(&hash))
            .await
            .unwrap()
    );
    for wrong in ["Correct horse", "correct horse ", "", "plain:correct horse"] {
        assert!(
            !PlainHasher.verify(wrong, Some(&hash)).await.unwrap(),
            "{wrong:?}"
        );
    }
}

#[tokio::test]
async fn plain_hasher_never_matches_a_password_over_72_bytes() {
    let longest = "x".repeat(72);
    let hash = PlainHasher
        .hash(&Password::parse(&longest).unwrap())
        .await
        .unwrap();
    assert!(PlainHasher.verify(&longest, Some(&hash)).await.unwrap());

    // A stored secret of 73 bytes (which no `Password` can hold) never matches, not
    // even itself: nothing is truncated, as with bcrypt.
    let too_long = "x".repeat(73);
    let hash = PasswordHash::new(format!("plain:{too_long}"));
    assert!(!PlainHasher.verify(&too_long, Some(&hash)).await.unwrap());
}

#[tokio::test]
async fn plain_hasher_answers_false_without_a_hash() {
    assert!(!PlainHasher.verify("correct horse", None).await.unwrap());
    assert!(!PlainHasher.verify("", None).await.unwrap());
}

#[tokio::test]
async fn plain_hasher_refuses_a_hash_it_did_not_make_as_unexpected() {
    let bcrypt = PasswordHash::new("$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW");
    let result = PlainHasher.verify("correct horse", Some(&bcrypt)).await;
    assert!(
        matches!(result, Err(DomainError::Unexpected(_))),
        "{result:?}"
    );
}

// ---------------------------------------------------------------- PlainTokens

/// Claims of `kind` issued at the clock's instant, valid for `secs`.
fn claims_for(kind: TokenKind, clock: &FixedClock, secs: i64) -> Claims {
    let iat = clock.now().timestamp();
    Claims {
        sub: Uuid::now_v7(),
        sid: Uuid::now_v7(),
        jti: Uuid::now_v7(),
        kind,
        iat,
        exp: iat + secs,
    }
}

#[test]
fn plain_tokens_round_trip_the_claims_of_both_kinds() {
    let clock = Arc::new(FixedClock::default());
    let tokens = PlainTokens::new(clock.clone());
    for kind in [TokenKind::Access, TokenKind::Refresh] {
        let claims = claims_for(kind, &clock, 600);
        let token = tokens.issue(&claims).unwrap();
        assert_eq!(tokens.verify(&token, kind).unwrap(), claims, "{token}");
    }
}

#[test]
fn plain_tokens_refuse_a_token_of_the_other_kind() {
    let clock = Arc::new(FixedClock::default());
    let tokens = PlainTokens::new(clock.clone());
    let access = tokens
        .issue(&claims_for(TokenKind::Access, &clock, 600))
        .unwrap();
    let refresh = tokens
        .issue(&claims_for(TokenKind::Refresh, &clock, 600))
        .unwrap();
    assert_unauthorized(tokens.verify(&access, TokenKind::Refresh));
    assert_unauthorized(tokens.verify(&refresh, TokenKind::Access));
}

#[test]
fn plain_tokens_refuse_a_token_once_the_clock_passes_its_expiry() {
    let clock = Arc::new(FixedClock::default());
    let tokens = PlainTokens::new(clock.clone());
    let token = tokens
        .issue(&claims_for(TokenKind::Access, &clock, 60))
        .unwrap();
    clock.advance(Duration::seconds(60));
    assert!(
        tokens.verify(&token, TokenKind::Access).is_ok(),
        "valid through its exp second, as a JWT without leeway"
    );
    clock.advance(Duration::seconds(1));
    assert_unauthorized(tokens.verify(&token, TokenKind::Access));
}

#[test]
fn plain_tokens_refuse_garbage() {
    let clock = Arc::new(FixedClock::default());
    let tokens = PlainTokens::new(clock.clone());
    let good = tokens
        .issue(&claims_for(TokenKind::Access, &clock, 600))
        .unwrap();
    let parts: Vec<&str> = good.split('.').collect();
    let with_part = |i: usize, value: &str| {
        let mut parts = parts.clone();
        parts[i] = value;
        parts.join(".")
    };
    let garbage = [
        String::new(),
        "garbage".into(),
        "eyJhbGciOiJub25lIn0.e30.".into(),
        parts[..6].join("."),
        format!("{good}.extra"),
        with_part(0, "jwt"),
        with_part(1, "id"),
        with_part(2, "not-a-uuid"),
        with_part(3, ""),
        with_part(4, "42"),
        with_part(5, "yesterday"),
        with_part(6, "1e9"),
    ];
    for token in garbage {
        assert_unauthorized(tokens.verify(&token, TokenKind::Access));
    }
    assert!(tokens.verify(&good, TokenKind::Access).is_ok());
}
