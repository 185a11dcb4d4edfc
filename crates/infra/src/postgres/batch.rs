//! Lookups of concurrent requests answered together, by one statement per batch.
//!
//! Under load most of PostgreSQL's work on a one-row lookup is the statement itself
//! (parse of the bound message, executor start, locks, one round trip); the rows are
//! cheap. A [`Batcher`] queues the keys that requests ask for and lets one task load
//! every queued key with a single statement, then hands each request its row. With
//! nothing else queued a batch is one key, so a lone request waits for nothing; under
//! load, keys queue while earlier batches run, and batches grow.
//!
//! A batch takes only keys queued *before* its statement is sent. A request therefore
//! sees every write committed before it was made — a revoked session, a task just
//! changed — exactly as its own statement would.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use sea_orm::DbErr;
use tokio::sync::{Semaphore, oneshot};
use tracing::Instrument;

/// What one batch loads: the distinct keys queued, and the value found for each
/// (absent keys were not found).
pub(crate) type BatchFuture<K, V> =
    Pin<Box<dyn Future<Output = Result<HashMap<K, V>, DbErr>> + Send + 'static>>;

type Waiter<V> = oneshot::Sender<(Result<Option<V>, DbErr>, BatchInfo)>;

/// A queued key: who waits for it, and the span of the request that asked.
struct Queued<K, V> {
    key: K,
    waiter: Waiter<V>,
    asked_in: Option<tracing::Id>,
}

/// Which batch answered a key, for the requester's span: the batch's own span
/// (`batch`, with the same id) links back to every request it served.
#[derive(Debug, Clone, Copy)]
struct BatchInfo {
    id: u64,
    size: usize,
}

/// Queues keys and loads them in batches with `load`, at most `concurrency` batches at
/// a time.
pub(crate) struct Batcher<K, V> {
    kind: &'static str,
    queue: Mutex<Vec<Queued<K, V>>>,
    running: Semaphore,
    load: Box<dyn Fn(Vec<K>) -> BatchFuture<K, V> + Send + Sync>,
}

/// Numbers the batches of the process, for traces.
static BATCHES: AtomicU64 = AtomicU64::new(0);

impl<K, V> Batcher<K, V>
where
    K: Hash + Eq + Clone + Send + 'static,
    V: Clone + Send + 'static,
{
    /// A batcher of `kind` (`lookups`, `pages`, ...: the name its batches' spans
    /// carry) running at most `concurrency` batches of `load` at a time.
    pub(crate) fn new(
        kind: &'static str,
        concurrency: usize,
        load: impl Fn(Vec<K>) -> BatchFuture<K, V> + Send + Sync + 'static,
    ) -> Self {
        Self {
            kind,
            queue: Mutex::new(Vec::new()),
            running: Semaphore::new(concurrency.max(1)),
            load: Box::new(load),
        }
    }

    /// The value of `key`, loaded in the next batch; `None` when there is none. The
    /// caller's span gets `batch.id` and `batch.size` recorded, when it declares them.
    ///
    /// # Errors
    /// The [`DbErr`] of the batch's statement.
    pub(crate) async fn load(self: &Arc<Self>, key: K) -> Result<Option<V>, DbErr> {
        let (waiter, answer) = oneshot::channel();
        let span = tracing::Span::current();
        let first = {
            let mut queue = self.queue();
            queue.push(Queued {
                key,
                waiter,
                asked_in: span.id(),
            });
            queue.len() == 1
        };
        if first {
            // The batch runs as a task of its own, so that a request that gives up
            // (its client went away) does not take the others' answers with it.
            tokio::spawn(Arc::clone(self).run_batch());
        }
        let (answer, batch) = answer
            .await
            .map_err(|_| DbErr::Custom("a batched lookup ended without an answer".to_owned()))?;
        span.record("batch.id", batch.id);
        span.record("batch.size", batch.size);
        answer
    }

    async fn run_batch(self: Arc<Self>) {
        // Let the tasks already woken on this thread run first: the requests a batch
        // just answered ask for their next key now (a read's task after its session
        // check), and join this batch rather than the next. Without it a read took
        // three times the statements it did when session and task were one lookup
        // (0.116 against 0.041 a read; 0.084-0.094 with it), and PostgreSQL's CPU a
        // read rose by a third.
        tokio::task::yield_now().await;
        // Wait for a turn before taking the queue: keys that arrive meanwhile join
        // this batch. The semaphore is never closed.
        let _turn = self.running.acquire().await;
        let mut waiting = std::mem::take(&mut *self.queue());
        // A requester that gave up while its key waited (its deadline passed, or its
        // client went away) has answered already: its key is not loaded, so a write
        // it asked for never starts after its request has answered 503.
        waiting.retain(|queued| !queued.waiter.is_closed());
        if waiting.is_empty() {
            return;
        }
        let mut keys: Vec<K> = waiting.iter().map(|queued| queued.key.clone()).collect();
        dedup(&mut keys);
        let batch = BatchInfo {
            id: BATCHES.fetch_add(1, Ordering::Relaxed),
            size: keys.len(),
        };
        let span = tracing::debug_span!(
            parent: None,
            "batch",
            batch.kind = self.kind,
            batch.id = batch.id,
            batch.size = batch.size,
            batch.rounds = tracing::field::Empty,
        );
        for asked_in in waiting.iter().filter_map(|queued| queued.asked_in.clone()) {
            span.follows_from(asked_in);
        }
        let found = (self.load)(keys).instrument(span).await;
        for Queued { key, waiter, .. } in waiting {
            let answer = match &found {
                Ok(values) => Ok(values.get(&key).cloned()),
                Err(err) => Err(err.clone()),
            };
            // A requester that gave up dropped its receiver: nothing to do.
            let _ = waiter.send((answer, batch));
        }
    }

    fn queue(&self) -> MutexGuard<'_, Vec<Queued<K, V>>> {
        // Only pushes and takes happen under the lock; a poisoned queue is still whole.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A batch key that is one request's own: two requests are never one key, even with
/// equal values, so each gets its own outcome (of two inserts of one id, one
/// conflicts). Equality and hashing look at the ticket only.
#[derive(Debug, Clone)]
pub(crate) struct Ticketed<T> {
    ticket: u64,
    /// What the request asks for.
    pub(crate) value: T,
}

impl<T> Ticketed<T> {
    pub(crate) fn new(value: T) -> Self {
        static TICKETS: AtomicU64 = AtomicU64::new(0);
        Self {
            ticket: TICKETS.fetch_add(1, Ordering::Relaxed),
            value,
        }
    }
}

impl<T> PartialEq for Ticketed<T> {
    fn eq(&self, other: &Self) -> bool {
        self.ticket == other.ticket
    }
}

impl<T> Eq for Ticketed<T> {}

impl<T> Hash for Ticketed<T> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.ticket.hash(state);
    }
}

/// Removes repeated keys, keeping the first of each.
fn dedup<K: Hash + Eq + Clone>(keys: &mut Vec<K>) {
    if keys.len() > 1 {
        let mut seen = std::collections::HashSet::with_capacity(keys.len());
        keys.retain(|key| seen.insert(key.clone()));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use super::*;

    /// The keys of each batch loaded, in order.
    type Loaded = Arc<Mutex<Vec<Vec<u32>>>>;

    /// `batcher.load(key)` on a task of its own.
    fn spawn_load(
        batcher: &Arc<Batcher<u32, u32>>,
        key: u32,
    ) -> tokio::task::JoinHandle<Result<Option<u32>, DbErr>> {
        let batcher = Arc::clone(batcher);
        tokio::spawn(async move { batcher.load(key).await })
    }

    /// A batcher of one batch at a time whose loads take `delay`, answer `key * 10`
    /// for keys below 100 (none for the rest) and record the keys of each batch.
    fn recording(delay: Duration) -> (Arc<Batcher<u32, u32>>, Loaded) {
        let batches = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&batches);
        let batcher = Batcher::new("test", 1, move |keys: Vec<u32>| {
            seen.lock().unwrap().push(keys.clone());
            Box::pin(async move {
                tokio::time::sleep(delay).await;
                Ok(keys
                    .into_iter()
                    .filter(|key| *key < 100)
                    .map(|key| (key, key * 10))
                    .collect())
            }) as BatchFuture<u32, u32>
        });
        (Arc::new(batcher), batches)
    }

    #[tokio::test]
    async fn keys_queued_while_a_batch_runs_are_loaded_together_by_the_next() {
        let (batcher, batches) = recording(Duration::from_millis(50));
        let first = spawn_load(&batcher, 1);
        tokio::time::sleep(Duration::from_millis(10)).await; // the first batch is running
        let rest: Vec<_> = [2, 3, 3, 150, 4]
            .into_iter()
            .map(|key| {
                let batcher = Arc::clone(&batcher);
                tokio::spawn(async move { (key, batcher.load(key).await) })
            })
            .collect();
        assert_eq!(first.await.unwrap().unwrap(), Some(10));
        for handle in rest {
            let (key, answer) = handle.await.unwrap();
            let expected = (key < 100).then_some(key * 10);
            assert_eq!(answer.unwrap(), expected, "key {key}");
        }
        // One batch for the first key, one for everything queued behind it, each
        // distinct key once.
        assert_eq!(*batches.lock().unwrap(), [vec![1], vec![2, 3, 150, 4]]);
    }

    #[tokio::test]
    async fn a_lone_key_is_loaded_at_once() {
        let (batcher, batches) = recording(Duration::ZERO);
        assert_eq!(batcher.load(7).await.unwrap(), Some(70));
        assert_eq!(batcher.load(8).await.unwrap(), Some(80));
        assert_eq!(*batches.lock().unwrap(), [vec![7], vec![8]]);
    }

    #[tokio::test]
    async fn a_failed_batch_fails_each_of_its_keys_and_the_next_batch_is_unaffected() {
        let calls = Arc::new(Mutex::new(0));
        let counted = Arc::clone(&calls);
        let batcher = Arc::new(Batcher::new("test", 1, move |keys: Vec<u32>| {
            let call = {
                let mut calls = counted.lock().unwrap();
                *calls += 1;
                *calls
            };
            Box::pin(async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                if call == 1 {
                    Err(DbErr::Custom("the database went away".into()))
                } else {
                    Ok(keys.into_iter().map(|key| (key, key)).collect())
                }
            }) as BatchFuture<u32, u32>
        }));
        let failing: Vec<_> = [1, 2]
            .into_iter()
            .map(|key| spawn_load(&batcher, key))
            .collect();
        for handle in failing {
            let err = handle.await.unwrap().unwrap_err();
            assert!(err.to_string().contains("the database went away"), "{err}");
        }
        assert_eq!(batcher.load(3).await.unwrap(), Some(3));
    }

    #[test]
    fn tickets_tell_equal_values_apart() {
        let (a, b) = (Ticketed::new(7), Ticketed::new(7));
        assert_ne!(a, b);
        assert_eq!(a, a.clone());
        let keys: std::collections::HashSet<_> = [a.clone(), b, a].into_iter().collect();
        assert_eq!(keys.len(), 2);
    }

    #[tokio::test]
    async fn a_requester_that_gives_up_before_its_batch_runs_is_left_out_and_the_others_are_served()
    {
        let (batcher, batches) = recording(Duration::from_millis(50));
        let blocker = spawn_load(&batcher, 0);
        tokio::time::sleep(Duration::from_millis(10)).await;
        // Key 1 queues first and starts the next batch, key 2 joins it; the requester
        // of key 1 gives up before that batch runs.
        let impatient = tokio::spawn({
            let batcher = Arc::clone(&batcher);
            async move { tokio::time::timeout(Duration::from_millis(20), batcher.load(1)).await }
        });
        tokio::time::sleep(Duration::from_millis(5)).await;
        let patient = batcher.load(2).await;
        assert!(impatient.await.unwrap().is_err(), "gave up");
        assert_eq!(patient.unwrap(), Some(20));
        assert_eq!(blocker.await.unwrap().unwrap(), Some(0));
        // Key 1's requester was gone when the batch took the queue: only key 2 ran.
        assert_eq!(*batches.lock().unwrap(), [vec![0], vec![2]]);
    }

    #[tokio::test]
    async fn a_batch_whose_every_requester_gave_up_loads_nothing() {
        let (batcher, batches) = recording(Duration::from_millis(50));
        let blocker = spawn_load(&batcher, 0);
        tokio::time::sleep(Duration::from_millis(10)).await;
        let gave_up = tokio::time::timeout(Duration::from_millis(10), batcher.load(1)).await;
        assert!(gave_up.is_err(), "gave up");
        assert_eq!(blocker.await.unwrap().unwrap(), Some(0));
        // The next request is served by a batch of its own.
        assert_eq!(batcher.load(3).await.unwrap(), Some(30));
        assert_eq!(*batches.lock().unwrap(), [vec![0], vec![3]]);
    }
}
