//! Live changes: one reader per process follows the change log and hands each new
//! change to every stream that waits for it ([`LiveChanges`], the domain's
//! [`TaskChangeWatch`]).
//!
//! The reader wakes when this process commits a change ([`changes::signal`]), when
//! PostgreSQL notifies the `task_changes` channel (a write on another instance: see
//! [`listen`]), and once a second in any case. Whatever woke it, it reads every change
//! after the last one it read, so a missed notification, a lost listener connection or
//! a database restart delays changes but never loses one. The changes it read stay in a
//! ring of the most recent; a stream whose cursor the ring no longer reaches back to
//! reads the log itself, so a thousand streams cost one read per change, not a thousand.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use sea_orm::sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use taskforge_domain::DomainError;
use taskforge_domain::task::{ChangeEvent, FeedCursor, TaskChangeWatch};
use tokio::sync::{Notify, watch};
use uuid::Uuid;

use crate::changes::cursor::{Cursor, Position};
use crate::changes::log::{changes_after, check_retention, end_position};
use crate::changes::rows::{position, to_event};
use crate::changes::signal;
use crate::db::Database;
use crate::error::db_error;

/// The channel the change log's trigger notifies (see the migration).
pub const CHANNEL: &str = "task_changes";

/// How many recent changes the ring keeps.
const RING_CAPACITY: usize = 1024;
/// How many changes one read of the reader takes.
const READ_BATCH: u64 = 500;
/// How often the reader looks even when nothing woke it: changes committed while a
/// transaction below PostgreSQL's watermark was still open are read once it ends.
const POLL_EVERY: Duration = Duration::from_secs(1);
/// How long the reader keeps its ring while no stream waits.
const IDLE_AFTER: Duration = Duration::from_secs(5);
/// The least time between two reads: writes committed meanwhile are read together.
const READ_GAP: Duration = Duration::from_millis(10);
/// The pause after a failed read or a lost listener connection.
const RETRY_AFTER: Duration = Duration::from_millis(500);

/// The recent changes, in log order, and where they start.
#[derive(Debug, Default)]
struct Ring {
    /// Every change after `base` up to the last entry is in `entries`. `None` until
    /// the reader has found the end of the log.
    base: Option<Position>,
    entries: VecDeque<(Position, Arc<ChangeEvent>)>,
}

impl Ring {
    fn push(&mut self, at: Position, event: ChangeEvent) {
        if self.entries.len() == RING_CAPACITY
            && let Some((evicted, _)) = self.entries.pop_front()
        {
            self.base = Some(evicted);
        }
        self.entries.push_back((at, Arc::new(event)));
    }

    fn head(&self) -> Option<Position> {
        self.entries.back().map(|(at, _)| *at).or(self.base)
    }
}

/// What a stream gets from the ring.
enum FromRing {
    /// Changes after the cursor (maybe none the viewer sees) and the cursor after them.
    Found(Vec<ChangeEvent>, Position),
    /// Nothing after the cursor yet.
    Wait,
    /// The ring does not reach back to the cursor (or is not filled yet): the log's
    /// oldest position the ring covers, if any.
    Behind(Option<Position>),
}

#[derive(Debug)]
struct Shared {
    db: Database,
    ring: Mutex<Ring>,
    /// Counts the reader's reads that found changes.
    read: watch::Sender<u64>,
    /// Rung by the listener.
    woken: Notify,
    /// Rung by each stream that starts to wait (the reader may be idle).
    subscribed: Notify,
}

/// The domain's [`TaskChangeWatch`] over the SQL change log.
#[derive(Debug, Clone)]
pub struct LiveChanges {
    shared: Arc<Shared>,
}

impl LiveChanges {
    /// Starts the reader on `db` (and, on PostgreSQL with `listen_url`, a listener of
    /// the `task_changes` channel on a connection of its own) on the current Tokio
    /// runtime.
    pub fn start(db: Database, listen_url: Option<&str>) -> Self {
        let shared = Arc::new(Shared {
            db,
            ring: Mutex::new(Ring::default()),
            read: watch::channel(0).0,
            woken: Notify::new(),
            subscribed: Notify::new(),
        });
        tokio::spawn(follow(Arc::clone(&shared)));
        if let Some(url) = listen_url {
            match url.parse::<PgConnectOptions>() {
                Ok(options) => {
                    tokio::spawn(listen(options, Arc::clone(&shared)));
                }
                Err(err) => tracing::error!(error = %err, "cannot listen for changes: bad URL"),
            }
        }
        Self { shared }
    }

    fn from_ring(&self, viewer: Option<Uuid>, after: Position, limit: usize) -> FromRing {
        let ring = self
            .shared
            .ring
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match ring.base {
            Some(base) if after >= base => {
                let first = ring.entries.partition_point(|(at, _)| *at <= after);
                if first == ring.entries.len() {
                    return FromRing::Wait;
                }
                let mut events = Vec::new();
                let mut last = after;
                for (at, event) in ring.entries.range(first..) {
                    last = *at;
                    if event.change.visible_to(viewer) {
                        events.push(ChangeEvent::clone(event));
                        if events.len() == limit {
                            break;
                        }
                    }
                }
                FromRing::Found(events, last)
            }
            base => FromRing::Behind(base),
        }
    }
}

#[async_trait]
impl TaskChangeWatch for LiveChanges {
    async fn next(
        &self,
        viewer: Option<Uuid>,
        after: &FeedCursor,
        limit: u64,
    ) -> Result<(Vec<ChangeEvent>, FeedCursor), DomainError> {
        let after = Cursor::decode(after, "Last-Event-ID")?.start();
        let limit = usize::try_from(limit).unwrap_or(usize::MAX).max(1);
        let mut read = self.shared.read.subscribe();
        self.shared.subscribed.notify_one();
        loop {
            read.borrow_and_update();
            match self.from_ring(viewer, after, limit) {
                FromRing::Found(events, last) => return Ok((events, Cursor::Log(last).encode())),
                FromRing::Wait => {}
                FromRing::Behind(base) => {
                    // Everything up to `base` was final before this read: the read sees
                    // all of it, and a stream that finds nothing there goes on from
                    // `base`, where the ring takes over.
                    let db = &self.shared.db;
                    check_retention(db, after).await?;
                    let rows = changes_after(db, viewer, after, limit as u64)
                        .await
                        .map_err(db_error)?;
                    if let Some(last) = rows.last().map(position) {
                        let events = rows.into_iter().map(to_event).collect::<Result<_, _>>()?;
                        return Ok((events, Cursor::Log(last).encode()));
                    }
                    if let Some(base) = base {
                        return Ok((Vec::new(), Cursor::Log(base.max(after)).encode()));
                    }
                }
            }
            if read.changed().await.is_err() {
                return Err(DomainError::Unavailable(
                    "the change reader stopped".to_owned(),
                ));
            }
        }
    }
}

/// The reader: reads every change after the last one read whenever woken, for the
/// life of the runtime. While no stream waits it reads nothing (a write costs no read
/// then), and after [`IDLE_AFTER`] it forgets the ring: the next stream starts it again
/// from the end of the log.
async fn follow(live: Arc<Shared>) {
    loop {
        if live.read.receiver_count() == 0 {
            // No stream waits (streams wait between the frames they send): read again
            // when one does; after a while, forget the ring too.
            let subscribed = live.subscribed.notified();
            if live.read.receiver_count() == 0
                && tokio::time::timeout(IDLE_AFTER, subscribed).await.is_err()
            {
                *live.ring.lock().unwrap_or_else(PoisonError::into_inner) = Ring::default();
                live.subscribed.notified().await;
            }
        }
        // Made before reading, so that a commit during the read wakes the next wait.
        let committed = signal::next_commit();
        let woken = live.woken.notified();
        let pause = match read_new(&live).await {
            Ok(()) => POLL_EVERY,
            Err(err) => {
                tracing::warn!(error = %err, "reading the change log failed; retrying");
                RETRY_AFTER
            }
        };
        // Under a stream of writes, one read per gap takes all of them.
        tokio::time::sleep(READ_GAP).await;
        tokio::select! {
            () = committed => {}
            () = woken => {}
            () = tokio::time::sleep(pause) => {}
        }
    }
}

/// Reads every change after the ring's head into the ring.
async fn read_new(live: &Shared) -> Result<(), DomainError> {
    let head = live
        .ring
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .head();
    let mut head = match head {
        Some(head) => head,
        None => {
            let end = end_position(&live.db).await.map_err(db_error)?;
            live.ring
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .base = Some(end);
            end
        }
    };
    loop {
        let rows = changes_after(&live.db, None, head, READ_BATCH)
            .await
            .map_err(db_error)?;
        let Some(last) = rows.last().map(position) else {
            return Ok(());
        };
        let full = rows.len() as u64 == READ_BATCH;
        let events = rows
            .into_iter()
            .map(|row| Ok((position(&row), to_event(row)?)))
            .collect::<Result<Vec<_>, DomainError>>()?;
        {
            let mut ring = live.ring.lock().unwrap_or_else(PoisonError::into_inner);
            for (at, event) in events {
                ring.push(at, event);
            }
        }
        live.read.send_modify(|reads| *reads += 1);
        head = last;
        if !full {
            return Ok(());
        }
    }
}

/// Listens to the `task_changes` channel on a connection of its own and wakes the
/// reader at each notification and each reconnection (it may have missed some).
async fn listen(options: PgConnectOptions, live: Arc<Shared>) {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        .connect_lazy_with(options);
    loop {
        let listener = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen(CHANNEL).await?;
            Ok::<_, sea_orm::sqlx::Error>(listener)
        };
        match listener.await {
            Ok(mut listener) => loop {
                // Connected (again), or notified: read what was committed meanwhile.
                live.woken.notify_one();
                if let Err(err) = listener.try_recv().await {
                    tracing::warn!(error = %err, "the change listener lost its connection");
                    break;
                }
            },
            Err(err) => tracing::warn!(error = %err, "cannot listen for changes; retrying"),
        }
        tokio::time::sleep(RETRY_AFTER).await;
    }
}
