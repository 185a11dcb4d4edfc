//! The user's value objects: email, username, password, display name, role and the
//! login identifier.

use super::account;
use crate::tests::fixtures::{admin, invalid_fields, member};
use crate::user::{
    Email, FullName, LoginIdentifier, NewAccount, Password, PasswordHash, Role, UserChanges,
    UserCredentials, Username,
};

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

#[test]
fn full_name_and_email_with_a_nul_character_are_rejected_on_their_field() {
    assert_eq!(invalid_fields(FullName::parse("Ada\0")), ["full_name"]);
    assert_eq!(invalid_fields(Email::parse("a\0@example.com")), ["email"]);
}
