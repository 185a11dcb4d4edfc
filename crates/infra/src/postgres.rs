//! The PostgreSQL fast path: the same ports as the plain SeaORM adapters, served with
//! fewer statements and round trips when many requests arrive together.
//!
//! - **Kept connections** ([`kept`]): a worker's single statements run on connections
//!   kept checked out between statements, skipping sqlx's check of every connection
//!   returned to its pool (a round trip of its own).
//! - **Batches** ([`batch`]): lookups, pages, inserts and updates queued by concurrent
//!   requests on one worker are answered by one statement per batch: the session
//!   checks and task reads of many requests share one (`lookups`), identical pages one
//!   (`pages`), new tasks one multi-row `INSERT` (`inserts`), updates one conditional
//!   `UPDATE` per round of distinct tasks (`updates`). Each request still gets exactly
//!   the outcome its own statement would have had.
//!
//! [`FastPath`] builds [`PgTaskRepository`] and [`PgSessionRepository`] over one
//! request pool ([`request_pool`]); they implement the same ports as the plain
//! adapters (the session repository delegates to [`SeaSessionRepository`] for all but
//! the per-request check; users are served by the plain `SeaUserRepository` on the
//! same pool). The binary chooses this path with `DB_FAST_PATH=auto` (the default) on
//! PostgreSQL; `off` serves the same ports from the plain adapters.

pub(crate) mod batch;
mod inserts;
pub(crate) mod kept;
mod literal;
mod logged;
mod lookups;
mod pages;
#[cfg(test)]
mod plans;
mod rows;
mod sessions;
mod tasks;
mod updates;

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;

use sea_orm::DbErr;

use crate::SeaSessionRepository;
use crate::db::{self, Database, Deadlines};
use batch::{BatchFuture, Batcher};
use kept::KeptConnections;

pub use sessions::PgSessionRepository;
pub use tasks::PgTaskRepository;

/// Batches of one kind that may run at once on one pool. Each holds a connection for
/// one round trip; more would only make the batches smaller.
const CONCURRENT_BATCHES: usize = 2;

/// Planner settings of the fast path's connections. Every statement here finds rows by
/// key or by index, and its plan is cached per connection for as long as the
/// connection lives:
/// - planned while a table is still small, a hash join or sequential scan would be kept
///   after the table has grown a thousandfold (seen: a lookup batch reading 968 pages
///   instead of 30 after a burst of inserts, reads at a fifth of their speed, until the
///   next ANALYZE). Without those, the planner can only choose index scans in nested
///   loops, which cost the same at every size;
/// - a statement whose plan for some values looks cheaper than the cached one (a batch
///   with no task to look up, say) would be planned afresh on every execution (seen: a
///   sixth of PostgreSQL's CPU in the planner on W-create). These statements are
///   written for their one generic plan;
/// - a user's page of tasks is read from the owner's index, not from the index of
///   every task in the same order filtered by owner: with the default
///   `random_page_cost` (4) the planner priced the owner index's scattered row reads
///   above the all-tasks index's ordered ones, a plan that reads every task of the
///   table to learn that a user with 20 has no 21st (seen in bench/scale.sh, 1 000 000
///   tasks: 664 ms instead of 0.08 ms for the 20-task user's list by `-created_at`).
///   Random reads cost about what sequential ones do on solid-state storage and in the
///   cache, which is where these tables live;
/// - no statement starts parallel workers or compiles itself (JIT): a generic plan
///   cannot know that a page's `LIMIT` is 21 and prices it at a tenth of the table.
///   For the admin's list by `updated_at` (`task_recency` joined to `tasks`) that
///   price chose two workers and passed `jit_above_cost`, and their start-up and the
///   compilation cost 5–10 ms a page instead of 0.2 ms (seen in bench/scale.sh: 612
///   req/s where every other list form of the admin did 5 000–7 000).
const PLANNER_SETTINGS: [(&str, &str); 7] = [
    ("enable_seqscan", "off"),
    ("enable_hashjoin", "off"),
    ("enable_mergejoin", "off"),
    ("plan_cache_mode", "force_generic_plan"),
    ("random_page_cost", "1.1"),
    ("max_parallel_workers_per_gather", "0"),
    ("jit", "off"),
];

/// The fewest connections a fast-path pool works with: one kept for single
/// statements and batches, one left in the pool for transactions.
pub const MIN_POOL_CONNECTIONS: u32 = 2;

/// A PostgreSQL pool of `max_connections` (at least [`MIN_POOL_CONNECTIONS`]) that
/// opens none yet: each connection is opened by the first request that needs it, on
/// that request's thread, so a pool given to one HTTP worker is only ever driven by
/// that worker's event loop. All but one connection are kept between single
/// statements; the last is for transactions.
///
/// # Errors
/// The [`DbErr`] of a URL that is not PostgreSQL's or does not parse.
pub async fn request_pool(
    url: &str,
    max_connections: u32,
    deadlines: &Deadlines,
) -> Result<Database, DbErr> {
    if db::is_sqlite(url) {
        return Err(DbErr::Custom(
            "the fast path is for PostgreSQL; SQLite keeps its one shared connection".into(),
        ));
    }
    let size = max_connections.max(MIN_POOL_CONNECTIONS);
    let mut options = db::options(url, size, deadlines, &PLANNER_SETTINGS);
    options.connect_lazy(true);
    let pool = sea_orm::Database::connect(options).await?;
    let keep = usize::try_from(size - 1).unwrap_or(usize::MAX);
    let kept = KeptConnections::new(
        pool.get_postgres_connection_pool().clone(),
        keep,
        deadlines.acquire,
    );
    Ok(Database::keeping(pool, kept, *deadlines))
}

/// `total` connections split between at most `workers` pools of at least
/// [`MIN_POOL_CONNECTIONS`] each, adding up to `total` (or to the minimum, when
/// `total` is smaller). With fewer pools than workers, workers share pools.
pub fn split_connections(total: u32, workers: usize) -> Vec<u32> {
    let total = total.max(MIN_POOL_CONNECTIONS);
    let pools = u32::try_from(workers)
        .unwrap_or(u32::MAX)
        .clamp(1, total / MIN_POOL_CONNECTIONS);
    (0..pools)
        .map(|i| total / pools + u32::from(i < total % pools))
        .collect()
}

/// The batchers of one request pool and the repositories over them. Build one per
/// pool; clone the repositories freely.
pub struct FastPath {
    tasks: PgTaskRepository,
    sessions: PgSessionRepository,
}

impl FastPath {
    /// The fast path over `db`, a pool from [`request_pool`].
    pub fn new(db: &Database) -> Self {
        let lookups = lookups::batcher(db);
        Self {
            tasks: PgTaskRepository::new(db, Arc::clone(&lookups)),
            sessions: PgSessionRepository::new(SeaSessionRepository::new(db.clone()), lookups),
        }
    }

    /// The task repository of this pool.
    pub fn tasks(&self) -> PgTaskRepository {
        self.tasks.clone()
    }

    /// The session repository of this pool.
    pub fn sessions(&self) -> PgSessionRepository {
        self.sessions.clone()
    }
}

/// A batcher of `kind` whose batches run `load` on `db`, `concurrency` at a time.
fn batcher<K, V, F, Fut>(
    kind: &'static str,
    concurrency: usize,
    db: &Database,
    load: F,
) -> Arc<Batcher<K, V>>
where
    K: Hash + Eq + Clone + Send + 'static,
    V: Clone + Send + 'static,
    F: Fn(Database, Vec<K>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<HashMap<K, V>, DbErr>> + Send + 'static,
{
    let db = db.clone();
    Arc::new(Batcher::new(kind, concurrency, move |keys| {
        Box::pin(load(db.clone(), keys)) as BatchFuture<K, V>
    }))
}

#[cfg(test)]
mod tests {
    use super::split_connections;

    #[test]
    fn connections_split_evenly_between_workers_and_add_up_to_the_total() {
        assert_eq!(split_connections(30, 2), [15, 15]);
        assert_eq!(split_connections(10, 3), [4, 3, 3]);
        assert_eq!(split_connections(7, 1), [7]);
    }

    #[test]
    fn every_pool_gets_at_least_two_connections_and_workers_share_pools() {
        assert_eq!(split_connections(10, 64), [2, 2, 2, 2, 2]);
        assert_eq!(split_connections(5, 8), [3, 2]);
        assert_eq!(split_connections(2, 4), [2]);
    }

    #[test]
    fn fewer_than_two_connections_still_make_one_pool_of_two() {
        assert_eq!(split_connections(1, 8), [2]);
        assert_eq!(split_connections(0, 2), [2]);
        assert_eq!(split_connections(5, 0), [5]);
    }
}
