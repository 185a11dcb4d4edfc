//! Live changes: one reader per process follows the change log and hands each new
//! change to every stream that waits for it ([`LiveChanges`], the domain's
//! [`TaskChangeWatch`]).
//!
//! The reader wakes when this process commits a change ([`changes::signal`]), when
//! PostgreSQL notifies the `task_changes` channel (a write on another instance, which
//! [`announce`]s its commits: see [`listen`]), and once a second in any case. Whatever woke it, it reads every change
//! after the last one it read, so a missed notification, a lost listener connection or
//! a database restart delays changes but never loses one. The changes it read stay in a
//! ring of the most recent; a stream whose cursor the ring no longer reaches back to
//! reads the log itself, so a thousand streams cost one read per change, not a thousand.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use sea_orm::ConnectionTrait;
use sea_orm::sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use taskforge_domain::DomainError;
use taskforge_domain::task::{ChangeEvent, FeedCursor, TaskChangeWatch};
use tokio::sync::{Notify, watch};
use uuid::Uuid;

use crate::changes::cursor::{Cursor, Mark, Position};
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
    /// Every change `base` wants, up to `read`, is in `entries`. `None` until the
    /// reader has found the end of the log.
    base: Option<Mark>,
    /// Where the reader reads next.
    read: Option<Mark>,
    entries: VecDeque<(Position, Arc<ChangeEvent>)>,
}

impl Ring {
    fn push(&mut self, at: Position, event: ChangeEvent) {
        if self.entries.len() == RING_CAPACITY
            && let Some((evicted, _)) = self.entries.pop_front()
        {
            self.base = self.base.as_ref().map(|base| base.advanced_to(evicted));
        }
        self.entries.push_back((at, Arc::new(event)));
        self.read = self.read.as_ref().map(|read| read.advanced_to(at));
    }

    /// Whether every change a reader at `after` wants is in the ring (or yet to come).
    fn serves(&self, after: &Mark) -> bool {
        self.base.as_ref().is_some_and(|base| {
            after.position >= base.position
                && match &base.seen {
                    None => true,
                    // The ring skipped what the base's snapshot saw: so must the reader.
                    Some(seen) => {
                        after.seen.as_ref() == Some(seen) || seen.xmax <= after.position.txid
                    }
                }
        })
    }
}

/// What a stream gets from the ring.
enum FromRing {
    /// Changes after the cursor (maybe none the viewer sees) and the mark after them.
    Found(Vec<ChangeEvent>, Mark),
    /// Nothing after the cursor yet.
    Wait,
    /// The ring does not reach back to the cursor (or is not filled yet): where the
    /// ring starts, if it has.
    Behind(Option<Mark>),
}

/// `event` with the cursor of a reader at `mark`.
fn at_mark(mut event: ChangeEvent, mark: &Mark) -> ChangeEvent {
    event.cursor = Cursor::Log(mark.clone()).encode();
    event
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
            tokio::spawn(announce(shared.db.clone()));
            match url.parse::<PgConnectOptions>() {
                Ok(options) => {
                    tokio::spawn(listen(options, Arc::clone(&shared)));
                }
                Err(err) => tracing::error!(error = %err, "cannot listen for changes: bad URL"),
            }
        }
        Self { shared }
    }

    fn ring_after(&self, viewer: Option<Uuid>, after: &Mark, limit: usize) -> FromRing {
        let ring = self
            .shared
            .ring
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if !ring.serves(after) {
            return FromRing::Behind(ring.base.clone());
        }
        let first = ring
            .entries
            .partition_point(|(at, _)| *at <= after.position);
        let mut events = Vec::new();
        let mut last = None;
        for (at, event) in ring.entries.range(first..) {
            if !after.wants(*at) {
                continue;
            }
            let mark = after.advanced_to(*at);
            if event.change.visible_to(viewer) {
                events.push(at_mark(ChangeEvent::clone(event), &mark));
            }
            last = Some(mark);
            if events.len() == limit {
                break;
            }
        }
        match last {
            Some(mark) => FromRing::Found(events, mark),
            None => FromRing::Wait,
        }
    }
}

/// What a stream behind the ring found in the log.
enum FromLog {
    /// Changes for the viewer (the last one's cursor included in each).
    Found(Vec<ChangeEvent>, FeedCursor),
    /// Nothing for the viewer up to the ring's base, and everything the base skipped is
    /// finished: wait from here on, where the ring takes over.
    CaughtUp(Mark),
    /// Nothing yet, but the ring cannot take over yet either: read the log again.
    Again,
}

impl LiveChanges {
    /// Reads the log after `after` for a stream the ring does not reach back to.
    /// Boxed by its caller: a waiting stream then holds a small future, not this one's
    /// database reads (a thousand idle streams hold a thousand of them).
    async fn read_behind(
        &self,
        viewer: Option<Uuid>,
        after: &Mark,
        base: Option<Mark>,
        limit: usize,
    ) -> Result<FromLog, DomainError> {
        let db = &self.shared.db;
        check_retention(db, after).await?;
        // Taken before the read: every transaction it lists as finished is one the read
        // sees all of.
        let end = end_position(db).await.map_err(db_error)?;
        let rows = changes_after(db, viewer, after, limit as u64)
            .await
            .map_err(db_error)?;
        if let Some(last) = rows.last().map(position) {
            let events = rows
                .into_iter()
                .map(|row| {
                    let mark = after.advanced_to(position(&row));
                    to_event(row).map(|event| at_mark(event, &mark))
                })
                .collect::<Result<_, _>>()?;
            return Ok(FromLog::Found(
                events,
                Cursor::Log(after.advanced_to(last)).encode(),
            ));
        }
        // Nothing for the viewer up to the ring's base: once everything the base skipped
        // is finished, the stream waits from the base on. Until then it reads the log
        // again.
        Ok(match base {
            Some(base)
                if base
                    .seen
                    .as_ref()
                    .is_none_or(|seen| seen.xmax <= end.position.txid) =>
            {
                FromLog::CaughtUp(Mark::new(base.position.max(after.position), base.seen))
            }
            _ => FromLog::Again,
        })
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
        let mut after = Cursor::decode(after, "Last-Event-ID")?.start().clone();
        let limit = usize::try_from(limit).unwrap_or(usize::MAX).max(1);
        let mut read = self.shared.read.subscribe();
        self.shared.subscribed.notify_one();
        loop {
            read.borrow_and_update();
            let behind = match self.ring_after(viewer, &after, limit) {
                FromRing::Found(events, last) => return Ok((events, Cursor::Log(last).encode())),
                FromRing::Wait => false,
                FromRing::Behind(base) => {
                    match Box::pin(self.read_behind(viewer, &after, base, limit)).await? {
                        FromLog::Found(events, cursor) => return Ok((events, cursor)),
                        FromLog::CaughtUp(mark) => {
                            after = mark;
                            continue;
                        }
                        FromLog::Again => true,
                    }
                }
            };
            // The reader's next read that found changes. A stream behind the ring also
            // reads the log again after a while, since the changes it waits for may never
            // come to this process's ring; one the ring serves needs no timer (a thousand
            // idle streams would otherwise wake a thousand times a second).
            let changed = async {
                if read.changed().await.is_err() {
                    return Err(DomainError::Unavailable(
                        "the change reader stopped".to_owned(),
                    ));
                }
                Ok(())
            };
            if behind {
                tokio::select! {
                    changed = changed => changed?,
                    () = tokio::time::sleep(POLL_EVERY) => {}
                }
            } else {
                changed.await?;
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
    let read = live
        .ring
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .read
        .clone();
    let mut from = match read {
        Some(read) => read,
        None => {
            let end = end_position(&live.db).await.map_err(db_error)?;
            let mut ring = live.ring.lock().unwrap_or_else(PoisonError::into_inner);
            ring.base = Some(end.clone());
            ring.read = Some(end.clone());
            end
        }
    };
    loop {
        let rows = changes_after(&live.db, None, &from, READ_BATCH)
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
        from = from.advanced_to(last);
        if !full {
            return Ok(());
        }
    }
}

/// Tells every instance's listener (this one's too) that this process committed
/// changes: one `NOTIFY` per burst of commits, sent after they committed and outside
/// the writers' transactions. A notification queued inside a transaction takes a
/// cluster-wide lock at its commit, which would line every writer up behind the others.
/// A notification lost here (the database away, this process killed) only delays the
/// other instances until their reader's next poll.
async fn announce(db: Database) {
    let mut next = Box::pin(signal::next_commit());
    loop {
        next.as_mut().await;
        // Commits of the next moment go with this one.
        tokio::time::sleep(READ_GAP).await;
        // Made before sending, so that a commit while it is sent is announced again.
        next = Box::pin(signal::next_commit());
        let sent = tokio::time::timeout(
            RETRY_AFTER,
            db.execute_unprepared(&format!("NOTIFY {CHANNEL}")),
        )
        .await;
        match sent {
            Ok(Ok(_)) => {}
            Ok(Err(err)) => tracing::warn!(error = %err, "cannot announce committed changes"),
            Err(_) => tracing::warn!("announcing committed changes timed out"),
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
