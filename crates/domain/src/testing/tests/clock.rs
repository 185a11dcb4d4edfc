//! `FixedClock`: stands still, moves when told, reads whole microseconds.

use std::sync::Arc;

use chrono::{Duration, TimeZone, Timelike, Utc};

use super::{with_micros, with_nanos};
use crate::clock::Clock;
use crate::testing::FixedClock;
use crate::tests::fixtures::{earlier, now};

#[test]
fn fixed_clock_stands_still_at_its_default_instant() {
    let clock = FixedClock::default();
    let expected = Utc.with_ymd_and_hms(2026, 11, 22, 10, 15, 0).unwrap();
    assert_eq!(clock.now(), expected);
    assert_eq!(clock.now(), expected, "reading does not move it");
    assert_eq!(now(), expected, "the unit tests' `now` is this instant");
}

#[test]
fn fixed_clock_advances_forward_and_back() {
    let clock = FixedClock::at(now());
    clock.advance(Duration::hours(1));
    assert_eq!(clock.now(), now() + Duration::hours(1));
    clock.advance(Duration::minutes(-90));
    assert_eq!(clock.now(), now() - Duration::minutes(30));
}

#[test]
fn fixed_clock_set_moves_it_to_any_instant() {
    let clock = FixedClock::default();
    clock.set(earlier());
    assert_eq!(clock.now(), earlier());
    clock.set(now());
    assert_eq!(clock.now(), now());
}

#[test]
fn fixed_clock_reads_whole_microseconds_however_it_is_moved() {
    let clock = FixedClock::at(with_nanos());
    assert_eq!(clock.now(), with_micros(), "at");

    clock.set(earlier());
    clock.set(with_nanos());
    assert_eq!(clock.now(), with_micros(), "set");

    clock.advance(Duration::nanoseconds(1_999));
    assert_eq!(
        clock.now(),
        with_micros() + Duration::microseconds(1),
        "advance"
    );
    assert_eq!(clock.now().nanosecond() % 1_000, 0);
}

#[test]
fn fixed_clock_is_seen_moving_through_a_shared_arc() {
    let clock = Arc::new(FixedClock::default());
    let port: Arc<dyn Clock> = clock.clone();
    clock.advance(Duration::seconds(5));
    assert_eq!(port.now(), now() + Duration::seconds(5));
}
