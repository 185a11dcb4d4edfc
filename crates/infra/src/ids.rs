//! UUID v7 ids, as the domain's [`IdSource`] port.

use taskforge_domain::ids::IdSource;
use uuid::Uuid;

/// UUID v7 from the system clock and a fast random source: ids that sort by creation.
#[derive(Debug, Default, Clone, Copy)]
pub struct TimeOrderedIds;

impl IdSource for TimeOrderedIds {
    fn new_id(&self) -> Uuid {
        Uuid::now_v7()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_version_7_and_increase() {
        let ids: Vec<Uuid> = (0..100).map(|_| TimeOrderedIds.new_id()).collect();
        assert!(ids.iter().all(|id| id.get_version_num() == 7));
        assert!(ids.windows(2).all(|pair| pair[0] < pair[1]));
    }
}
