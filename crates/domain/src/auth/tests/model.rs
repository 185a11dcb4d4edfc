//! Token kinds, token pairs and lifetimes.

use crate::DomainError;
use crate::auth::{TokenKind, TokenLifetimes, TokenPair};

#[test]
fn token_kind_round_trips_its_type_claim() {
    for kind in [TokenKind::Access, TokenKind::Refresh] {
        assert_eq!(TokenKind::parse(kind.as_str()).unwrap(), kind);
    }
    assert_eq!(TokenKind::Access.as_str(), "access");
    assert_eq!(TokenKind::Refresh.as_str(), "refresh");
}

#[test]
fn token_kind_refuses_any_other_type_claim_as_unauthorized() {
    for raw in ["", "Access", "id", "bearer"] {
        assert!(
            matches!(TokenKind::parse(raw), Err(DomainError::Unauthorized(_))),
            "{raw}"
        );
    }
}

#[test]
fn token_pair_debug_never_prints_the_tokens() {
    let pair = TokenPair {
        access_token: "eyJ.secret-access.sig".into(),
        refresh_token: "eyJ.secret-refresh.sig".into(),
        expires_in: 1800,
        refresh_expires_in: 604_800,
    };
    let printed = format!("{pair:?}");
    assert!(!printed.contains("secret-access"), "{printed}");
    assert!(!printed.contains("secret-refresh"), "{printed}");
    assert!(
        printed.contains("1800") && printed.contains("604800"),
        "{printed}"
    );
}

#[test]
fn token_lifetimes_default_to_thirty_minutes_and_seven_days() {
    assert_eq!(
        TokenLifetimes::default(),
        TokenLifetimes {
            access_secs: 1800,
            refresh_secs: 604_800
        }
    );
}
