//! Counts of list matches kept between pages (see [`KnownCount`]): a page counts up to
//! the cap (10 001 index entries for a large list, most of the page's cost), and the
//! next page of the same filter takes that count unless a task the filter's scope sees
//! has changed since, which the page's own statement checks in the change log. So
//! paging through a list, or a list polled while its tasks stay as they are, counts
//! once; the first page after a change counts again.

use std::time::{Duration, Instant};

use taskforge_domain::task::TaskFilter;

use super::pages::{Counting, KnownCount, PageRows};

/// The smallest count of a list's matches worth keeping for the next page of the same
/// filter. Below it, counting costs less than checking the change log (about 85 ns an
/// index entry, against two index probes and a longer statement: keeping every count
/// made the 100-task list of `bench/ab.sh` 8 % slower), so such a filter's pages count,
/// with the statement they had before.
pub const KEEP_COUNTS_FROM: u64 = 1_000;

/// How many filters' counts a repository keeps (the least used go first).
const KEPT_COUNTS: usize = 4096;

/// A kept count is counted again this long after it was taken, whatever the log says:
/// a bound on how long a write that bypassed the server (and so its change log) could
/// go unseen.
const RECOUNT_AFTER: Duration = Duration::from_secs(60);

/// What is known of a filter's count.
#[derive(Debug, Clone)]
pub(crate) enum Kept {
    /// Under [`KEEP_COUNTS_FROM`] when last counted: its pages count.
    Small,
    /// A count, and when it was taken.
    Count { count: KnownCount, taken: Instant },
}

impl Kept {
    /// How a page given what is known (`None`: nothing) gets its count.
    pub(crate) fn counting(known: Option<&Self>) -> Counting<'_> {
        match known {
            Some(Self::Small) => Counting::Count,
            Some(Self::Count { count, taken }) if taken.elapsed() < RECOUNT_AFTER => {
                Counting::Known(count)
            }
            _ => Counting::Keep,
        }
    }
}

/// The counts kept, per filter and count cap.
pub(crate) struct KeptCounts(quick_cache::sync::Cache<(TaskFilter, u64), Kept>);

impl std::fmt::Debug for KeptCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeptCounts")
            .field("filters", &self.0.len())
            .finish()
    }
}

impl Default for KeptCounts {
    fn default() -> Self {
        Self(quick_cache::sync::Cache::new(KEPT_COUNTS))
    }
}

impl KeptCounts {
    /// What is known of the count of `filter` up to `cap`.
    pub(crate) fn get(&self, filter: &TaskFilter, cap: u64) -> Option<Kept> {
        self.0.get(&(filter.clone(), cap))
    }

    /// Learns from a page of `filter` up to `cap` that got its count by `counting`.
    pub(crate) fn learn(
        &self,
        filter: &TaskFilter,
        cap: u64,
        counting: Counting<'_>,
        rows: &PageRows,
    ) {
        let key = (filter.clone(), cap);
        match &rows.counted {
            Some(count) if count.matching >= KEEP_COUNTS_FROM => {
                let count = count.clone();
                let taken = Instant::now();
                self.0.insert(key, Kept::Count { count, taken });
            }
            Some(_) => self.0.insert(key, Kept::Small),
            // A small filter grown large: kept from its next page on.
            None if matches!(counting, Counting::Count) && rows.matching() >= KEEP_COUNTS_FROM => {
                self.0.remove(&key);
            }
            None => {}
        }
    }
}
