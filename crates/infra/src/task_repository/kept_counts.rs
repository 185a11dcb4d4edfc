//! Counts of list matches kept between pages (see [`KnownCount`]): a page counts up to
//! the cap (10 001 index entries for a large list, most of the page's cost), and the
//! next page of the same filter takes that count unless a task the filter's scope sees
//! has changed since, which the page's own statement checks in the change log. So
//! paging through a list, or a list polled while its tasks stay as they are, counts
//! once; the first page after a change counts again.

use std::sync::Arc;
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
pub(crate) const RECOUNT_AFTER: Duration = Duration::from_secs(60);

/// How long a page waits for the turn of a filter whose count another page is taking,
/// before it counts on its own. A count held up until its statement's deadline would
/// otherwise hold every page queued behind it, each of which might then take as long
/// in its turn: one slow count must not fail the pages that wait for it.
const TURN_WAIT: Duration = Duration::from_secs(1);

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

/// A filter and its count cap.
type Key = (TaskFilter, u64);

/// The counts kept, per filter and count cap, and whose turn it is to take one.
pub(crate) struct KeptCounts {
    counts: quick_cache::sync::Cache<Key, Kept>,
    turns: quick_cache::sync::Cache<Key, Arc<tokio::sync::Mutex<()>>>,
    /// [`TURN_WAIT`], shorter in tests.
    turn_wait: Duration,
}

impl std::fmt::Debug for KeptCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeptCounts")
            .field("filters", &self.counts.len())
            .finish_non_exhaustive()
    }
}

impl Default for KeptCounts {
    fn default() -> Self {
        Self {
            counts: quick_cache::sync::Cache::new(KEPT_COUNTS),
            turns: quick_cache::sync::Cache::new(KEPT_COUNTS),
            turn_wait: TURN_WAIT,
        }
    }
}

/// The right to take a filter's count while other pages of it wait (see
/// [`KeptCounts::known`]).
type Turn = tokio::sync::OwnedMutexGuard<()>;

/// One page's use of the kept counts: what is known of its filter's count, and the
/// turn to take it when nothing is. The turn passes on when this is dropped, after
/// [`Ticket::learn`] or without it (a failed page learns nothing).
pub(crate) struct Ticket<'a> {
    kept: &'a KeptCounts,
    key: Key,
    known: Option<Kept>,
    _turn: Option<Turn>,
}

impl Ticket<'_> {
    /// How the page gets its count.
    pub(crate) fn counting(&self) -> Counting<'_> {
        Kept::counting(self.known.as_ref())
    }

    /// Learns from the page's rows.
    pub(crate) fn learn(self, rows: &PageRows) {
        let Ticket {
            kept, key, known, ..
        } = self;
        kept.learn(key, Kept::counting(known.as_ref()), rows);
    }
}

impl KeptCounts {
    /// The ticket of a page of `filter` up to `cap`.
    pub(crate) async fn ticket(&self, filter: &TaskFilter, cap: u64) -> Ticket<'_> {
        let key = (filter.clone(), cap);
        let (known, turn) = self.known(&key).await;
        Ticket {
            kept: self,
            key,
            known,
            _turn: turn,
        }
    }

    /// What is known of the count of `key`, and, when a page of it must take the
    /// count, the turn to do so. Pages of a filter that arrive together while its count
    /// is unknown take turns, so that the first one counts and the others take its
    /// count (a burst of 16 such pages of a frequent word on SQLite's one connection
    /// counted 16 times, 6 s in all); a turn is only waited for while no count is
    /// known, and for [`TURN_WAIT`] at most: then the page counts without it.
    async fn known(&self, key: &Key) -> (Option<Kept>, Option<Turn>) {
        let known = self.counts.get(key);
        if !matches!(Kept::counting(known.as_ref()), Counting::Keep) {
            return (known, None);
        }
        let turn = self
            .turns
            .get_or_insert_with(key, || Ok::<_, std::convert::Infallible>(Arc::default()))
            .unwrap_or_else(|never| match never {});
        let Ok(turn) = tokio::time::timeout(self.turn_wait, turn.lock_owned()).await else {
            return (self.counts.get(key), None);
        };
        // The page that had the turn before may have taken the count.
        let known = self.counts.get(key);
        match Kept::counting(known.as_ref()) {
            Counting::Keep => (known, Some(turn)),
            _ => (known, None),
        }
    }

    /// Learns from a page of `key` that got its count by `counting`.
    fn learn(&self, key: Key, counting: Counting<'_>, rows: &PageRows) {
        match &rows.counted {
            Some(count) if count.matching >= KEEP_COUNTS_FROM => {
                let count = count.clone();
                let taken = Instant::now();
                self.counts.insert(key, Kept::Count { count, taken });
            }
            Some(_) => self.counts.insert(key, Kept::Small),
            // A small filter grown large: kept from its next page on.
            None if matches!(counting, Counting::Count) && rows.matching() >= KEEP_COUNTS_FROM => {
                self.counts.remove(&key);
            }
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counted(matching: u64) -> Kept {
        Kept::Count {
            count: KnownCount {
                matching,
                snapshot: "7".into(),
            },
            taken: Instant::now(),
        }
    }

    #[tokio::test]
    async fn pages_of_an_unknown_count_take_turns_and_the_later_ones_take_the_count() {
        let kept = Arc::new(KeptCounts::default());
        let filter = TaskFilter::default();
        let (known, first) = kept.known(&(filter.clone(), 10)).await;
        assert!(known.is_none() && first.is_some(), "the first page counts");
        let waiting = tokio::spawn({
            let (kept, filter) = (Arc::clone(&kept), filter.clone());
            async move { kept.known(&(filter, 10)).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !waiting.is_finished(),
            "the second waits for the first's count"
        );
        // Another filter, or another cap, waits for nobody.
        let other = TaskFilter {
            q: Some("x".into()),
            ..TaskFilter::default()
        };
        for (filter, cap) in [(&other, 10), (&filter, 20)] {
            let (_, turn) =
                tokio::time::timeout(Duration::from_secs(1), kept.known(&(filter.clone(), cap)))
                    .await
                    .expect("no wait");
            assert!(turn.is_some());
        }

        kept.counts.insert((filter.clone(), 10), counted(5_000));
        drop(first);
        let (known, turn) = waiting.await.unwrap();
        assert!(matches!(known, Some(Kept::Count { .. })), "{known:?}");
        assert!(turn.is_none(), "a known count needs no turn");
    }

    #[tokio::test]
    async fn a_page_waits_for_a_slow_count_no_longer_than_the_turn_wait_then_counts() {
        let kept = KeptCounts {
            turn_wait: Duration::from_millis(100),
            ..KeptCounts::default()
        };
        let key = (TaskFilter::default(), 10);
        let (_, first) = kept.known(&key).await;
        assert!(first.is_some(), "the first page counts, and holds on");
        let started = Instant::now();
        let (known, turn) = tokio::time::timeout(Duration::from_secs(5), kept.known(&key))
            .await
            .expect("the wait ends");
        assert!(started.elapsed() >= Duration::from_millis(100), "it waited");
        assert!(known.is_none() && turn.is_none());
        assert!(
            matches!(Kept::counting(known.as_ref()), Counting::Keep),
            "it counts (and keeps its count) on its own"
        );
        drop(first);
    }

    #[tokio::test]
    async fn a_page_that_took_no_count_passes_the_turn_on() {
        let kept = Arc::new(KeptCounts::default());
        let filter = TaskFilter::default();
        let (_, first) = kept.known(&(filter.clone(), 10)).await;
        let waiting = tokio::spawn({
            let (kept, filter) = (Arc::clone(&kept), filter.clone());
            async move { kept.known(&(filter, 10)).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        // The first page failed: it learned nothing.
        drop(first);
        let (known, turn) = waiting.await.unwrap();
        assert!(known.is_none());
        assert!(turn.is_some(), "the next page counts");
    }

    #[tokio::test]
    async fn a_small_or_fresh_count_is_taken_without_a_turn_and_an_old_one_is_not() {
        let kept = KeptCounts::default();
        let filter = TaskFilter::default();
        let key = (filter.clone(), 10);
        kept.counts.insert(key.clone(), Kept::Small);
        let (known, turn) = kept.known(&key).await;
        assert!(matches!(Kept::counting(known.as_ref()), Counting::Count));
        assert!(turn.is_none());
        kept.counts.insert(key.clone(), counted(5_000));
        let (known, turn) = kept.known(&key).await;
        assert!(matches!(Kept::counting(known.as_ref()), Counting::Known(_)));
        assert!(turn.is_none());
        let Some(Kept::Count { count, .. }) = known else {
            panic!("a count")
        };
        let taken = Instant::now()
            .checked_sub(RECOUNT_AFTER)
            .expect("a clock that has run a minute");
        kept.counts
            .insert(key.clone(), Kept::Count { count, taken });
        let (known, turn) = kept.known(&key).await;
        assert!(matches!(Kept::counting(known.as_ref()), Counting::Keep));
        assert!(turn.is_some(), "counted again after a minute");
    }
}
