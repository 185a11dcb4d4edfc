//! Unit tests of cross-cutting domain pieces (errors, pages, clock), and the fixtures
//! the aggregate test modules share (the clock's instant, users, error inspection).

use chrono::{DateTime, Timelike};

use crate::page::{DEFAULT_LIMIT, MAX_LIMIT, Page, PageRequest};
use crate::task::Title;
use crate::user::Email;
use crate::{DomainError, FieldError, Validator};

use fixtures::invalid_fields;

/// What `auth::tests`, `user::tests` and `task::tests` share: the instants the
/// `testing` clock and builders use, users, and error inspection.
pub(crate) mod fixtures {
    use std::fmt::Debug;
    use std::sync::Arc;

    use chrono::{DateTime, TimeZone, Utc};

    use crate::DomainError;
    use crate::clock::Clock;
    use crate::testing::{FixedClock, UserBuilder};
    use crate::user::User;

    /// The instant every service clock of the unit tests reads (a default [`FixedClock`]).
    pub(crate) fn now() -> DateTime<Utc> {
        FixedClock::default().now()
    }

    /// When built users and tasks were created (the builders' default), well before
    /// [`now`]: rows that already existed.
    pub(crate) fn earlier() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap()
    }

    /// A clock standing at [`now`].
    pub(crate) fn clock() -> Arc<FixedClock> {
        Arc::new(FixedClock::default())
    }

    /// An active ordinary user, `alice`.
    pub(crate) fn member() -> User {
        UserBuilder::new("alice").build()
    }

    /// An active admin, `root`.
    pub(crate) fn admin() -> User {
        UserBuilder::new("root").admin().build()
    }

    /// The fields of a validation error; panics on success or any other error.
    pub(crate) fn invalid_fields<T: Debug>(result: Result<T, DomainError>) -> Vec<String> {
        match result {
            Err(DomainError::Validation(errors)) => {
                assert!(!errors.is_empty(), "a validation error is never empty");
                errors.into_iter().map(|e| e.field).collect()
            }
            other => panic!("expected a validation error, got {other:?}"),
        }
    }
}

#[test]
fn page_request_defaults_to_twenty_items_from_the_start() {
    let page = PageRequest::new(None, None).unwrap();
    assert_eq!((page.limit(), page.offset()), (20, 0));
    assert_eq!(DEFAULT_LIMIT, 20);
    assert_eq!(PageRequest::default(), page);
}

#[test]
fn page_request_accepts_limits_one_to_one_hundred() {
    assert_eq!(PageRequest::new(Some(1), None).unwrap().limit(), 1);
    assert_eq!(PageRequest::new(Some(100), Some(40)).unwrap().limit(), 100);
    assert_eq!(PageRequest::new(Some(100), Some(40)).unwrap().offset(), 40);
    assert_eq!(MAX_LIMIT, 100);
}

#[test]
fn page_request_rejects_limit_zero_and_above_one_hundred_on_limit() {
    assert_eq!(invalid_fields(PageRequest::new(Some(0), None)), ["limit"]);
    assert_eq!(invalid_fields(PageRequest::new(Some(101), None)), ["limit"]);
    assert_eq!(
        invalid_fields(PageRequest::new(Some(u64::MAX), None)),
        ["limit"]
    );
}

#[test]
fn page_request_accepts_offsets_up_to_bigint_max() {
    let max = i64::MAX as u64;
    assert_eq!(PageRequest::new(None, Some(max)).unwrap().offset(), max);
}

#[test]
fn page_request_rejects_offsets_beyond_bigint_on_offset() {
    let too_far = i64::MAX as u64 + 1;
    assert_eq!(
        invalid_fields(PageRequest::new(None, Some(too_far))),
        ["offset"]
    );
    assert_eq!(
        invalid_fields(PageRequest::new(None, Some(u64::MAX))),
        ["offset"]
    );
}

#[test]
fn page_request_reports_a_bad_limit_and_a_bad_offset_together() {
    let fields = invalid_fields(PageRequest::new(Some(0), Some(u64::MAX)));
    assert_eq!(fields, ["limit", "offset"]);
}

#[test]
fn page_map_converts_items_and_keeps_the_window() {
    let page = Page {
        items: vec![1, 2, 3],
        total: 42,
        limit: 3,
        offset: 9,
    };
    let mapped = page.map(|n| n.to_string());
    assert_eq!(
        mapped,
        Page {
            items: vec!["1".to_owned(), "2".to_owned(), "3".to_owned()],
            total: 42,
            limit: 3,
            offset: 9,
        }
    );
}

#[test]
fn validator_collects_every_field_error_in_order() {
    let mut v = Validator::new();
    assert_eq!(v.check(Email::parse("not-an-email")), None);
    assert_eq!(v.check(Title::parse("   ")), None);
    v.push("limit", "must be between 1 and 100");
    let fields = invalid_fields(v.finish());
    assert_eq!(fields, ["email", "title", "limit"]);
}

#[test]
fn validator_keeps_the_value_of_a_successful_parse_and_finishes_ok() {
    let mut v = Validator::new();
    let title = v.check(Title::parse("  Buy milk "));
    assert_eq!(
        title.map(|t| t.as_str().to_owned()),
        Some("Buy milk".to_owned())
    );
    assert!(v.finish().is_ok());
}

#[test]
fn validator_keeps_every_entry_of_a_multi_field_error() {
    let mut v = Validator::new();
    let result: Result<(), _> = Err(DomainError::Validation(vec![
        FieldError::new("a", "bad"),
        FieldError::new("b", "worse"),
    ]));
    assert_eq!(v.check(result), None);
    assert_eq!(invalid_fields(v.finish()), ["a", "b"]);
}

#[test]
fn validator_records_a_non_validation_error_under_body() {
    let mut v = Validator::new();
    let result: Result<(), _> = Err(DomainError::Forbidden("nope".into()));
    assert_eq!(v.check(result), None);
    match v.finish() {
        Err(DomainError::Validation(errors)) => {
            assert_eq!(errors, [FieldError::new("body", "nope")]);
        }
        other => panic!("expected a validation error, got {other:?}"),
    }
}

#[test]
fn invalid_builds_a_single_field_validation_error() {
    match DomainError::invalid("title", "must be 1 to 200 characters") {
        DomainError::Validation(errors) => assert_eq!(
            errors,
            [FieldError::new("title", "must be 1 to 200 characters")]
        ),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

#[test]
fn unexpected_error_displays_nothing_of_its_source_but_keeps_it_for_logs() {
    let err = DomainError::unexpected("SELECT * FROM users: connection refused");
    assert_eq!(err.to_string(), "unexpected error");
    let source = std::error::Error::source(&err).expect("the source is kept");
    assert!(source.to_string().contains("connection refused"));
}

#[test]
fn business_errors_display_their_message() {
    assert_eq!(
        DomainError::NotFound("task x not found".into()).to_string(),
        "task x not found"
    );
    assert_eq!(
        DomainError::Validation(vec![]).to_string(),
        "validation failed"
    );
}

#[test]
fn to_micros_truncates_below_the_microsecond() {
    let t = DateTime::from_timestamp(1_700_000_000, 123_456_789).unwrap();
    let truncated = crate::clock::to_micros(t);
    assert_eq!(truncated.nanosecond(), 123_456_000);
    assert_eq!(truncated.timestamp(), 1_700_000_000);
    assert_eq!(crate::clock::to_micros(truncated), truncated);
}
