//! `SequentialIds`: the same increasing UUID v7 sequence in every run.

use std::collections::HashSet;
use std::sync::Arc;

use uuid::{Uuid, Variant};

use crate::ids::IdSource;
use crate::testing::SequentialIds;

#[test]
fn sequential_ids_hand_out_nth_1_2_3_in_increasing_order() {
    let ids = SequentialIds::new();
    let drawn: Vec<Uuid> = (0..5).map(|_| ids.new_id()).collect();
    let expected: Vec<Uuid> = (1..=5).map(SequentialIds::nth).collect();
    assert_eq!(drawn, expected);
    assert!(drawn.windows(2).all(|w| w[0] < w[1]), "{drawn:?}");
}

#[test]
fn every_sequence_starts_over_at_nth_1() {
    let first = SequentialIds::new();
    first.new_id();
    first.new_id();
    assert_eq!(SequentialIds::new().new_id(), SequentialIds::nth(1));
    assert_eq!(SequentialIds::default().new_id(), SequentialIds::nth(1));
    assert_eq!(first.new_id(), SequentialIds::nth(3));
}

#[test]
fn sequential_ids_are_version_7_rfc_4122_uuids() {
    let ids = SequentialIds::new();
    for _ in 0..3 {
        let id = ids.new_id();
        assert_eq!(id.get_version_num(), 7, "{id}");
        assert_eq!(id.get_variant(), Variant::RFC4122, "{id}");
    }
    assert_eq!(
        SequentialIds::nth(1).to_string(),
        "01900000-0000-7000-8000-000000000001"
    );
    assert_eq!(
        SequentialIds::nth(0xABC).to_string(),
        "01900000-0000-7000-8000-000000000abc"
    );
}

#[test]
fn sequential_ids_drawn_from_many_threads_are_the_first_n_of_the_sequence() {
    let ids = Arc::new(SequentialIds::new());
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let ids = Arc::clone(&ids);
            std::thread::spawn(move || (0..250).map(|_| ids.new_id()).collect::<Vec<_>>())
        })
        .collect();
    let drawn: HashSet<Uuid> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let expected: HashSet<Uuid> = (1..=1000).map(SequentialIds::nth).collect();
    assert_eq!(drawn, expected);
}
