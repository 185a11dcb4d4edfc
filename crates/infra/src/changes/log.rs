//! The change log in SQL: appending in the writer's transaction, reading by position.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::NotSet;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, FromQueryResult,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Statement, Value,
};
use taskforge_domain::DomainError;
use taskforge_domain::idempotency::Completion;
use taskforge_domain::page::{Page, PageRequest};
use taskforge_domain::task::{
    ChangeEvent, ChangeOp, FeedCursor, FeedItem, FeedPage, TaskChangeLog, WriteLog,
};
use uuid::Uuid;

use super::cursor::{Cursor, Mark, Position, Seen};
use super::rows::{
    KEY_DONE, KEY_RUNNING, NO_FIELDS, outcome_json, position, to_change_row, to_event,
};
use crate::db::Database;
use crate::entities::{idempotency_key, task, task_change};
use crate::error::db_error;
use crate::purge;
use crate::task_repository::to_task;

/// [`TaskChangeLog`] on PostgreSQL or SQLite through SeaORM.
#[derive(Debug, Clone)]
pub struct SeaTaskChangeLog {
    db: Database,
}

impl SeaTaskChangeLog {
    /// The log on `db` (a pool from [`crate::db::connect`], migrated).
    pub fn new(db: impl Into<Database>) -> Self {
        Self { db: db.into() }
    }
}

/// The statement `sql` (written with `$n` parameters) for `backend`: SQLite numbers
/// them `?n`.
pub(crate) fn statement(backend: DbBackend, sql: &str, values: Vec<Value>) -> Statement {
    let sql = match backend {
        DbBackend::Sqlite => sql.replace('$', "?"),
        _ => sql.to_owned(),
    };
    Statement::from_sql_and_values(backend, sql, values)
}

/// On PostgreSQL, the condition that keeps a reader below its watermark: changes of
/// transactions that are finished for good (below the snapshot's `xmin`), so that no
/// change can later commit before one already read. SQLite commits one writer at a
/// time, in position order: everything it shows is final.
fn below_watermark(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Postgres => " AND txid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint",
        _ => "",
    }
}

/// The changes after `from` that `viewer` sees (`None`: all), in position order, at most
/// `limit`, below the watermark.
pub(crate) async fn changes_after(
    db: &impl ConnectionTrait,
    viewer: Option<Uuid>,
    from: &Mark,
    limit: u64,
) -> Result<Vec<task_change::Model>, DbErr> {
    let backend = db.get_database_backend();
    let unseen = from
        .seen
        .as_ref()
        .map(|seen| format!(" AND {}", seen.unseen_sql("txid")))
        .unwrap_or_default();
    let after = format!("(txid, seq) > ($1, $2){unseen}{}", below_watermark(backend));
    let order = "ORDER BY txid, seq LIMIT $3";
    let mut values = vec![
        from.position.txid.into(),
        from.position.seq.into(),
        limit.into(),
    ];
    let sql = match (viewer, backend) {
        (None, _) => format!("SELECT * FROM task_changes WHERE {after} {order}"),
        // Two index-ordered scans, each stopping at the limit: the cost follows the
        // page, not how far behind the reader is.
        (Some(viewer), DbBackend::Postgres) => {
            values.push(viewer.into());
            format!(
                "SELECT * FROM (\
                   (SELECT * FROM task_changes WHERE owner_id = $4 AND {after} {order}) \
                   UNION ALL \
                   (SELECT * FROM task_changes WHERE previous_owner_id = $4 AND {after} {order})\
                 ) AS c {order}"
            )
        }
        (Some(viewer), _) => {
            values.push(viewer.into());
            format!(
                "SELECT * FROM task_changes \
                 WHERE (owner_id = $4 OR previous_owner_id = $4) AND {after} {order}"
            )
        }
    };
    task_change::Model::find_by_statement(statement(backend, &sql, values))
        .all(db)
        .await
}

/// SQLite: the log's last position, or the last one purged while it holds none. One
/// writer commits at a time, so every position up to it is final.
pub(crate) const SQLITE_LAST_POSITION: &str = "MAX(COALESCE((SELECT MAX(seq) FROM task_changes), 0), \
     (SELECT seq FROM task_change_horizon WHERE id = 1))";

/// How far back and how far on a reader may continue: after the last position purged,
/// and not past where the log has come to.
struct Reach {
    /// The last position purged.
    horizon: Position,
    /// PostgreSQL: the first transaction id not yet handed out (the current
    /// snapshot's `xmax`). SQLite: the log's last position.
    end: i64,
}

impl Reach {
    /// Whether the log ends before `mark`: a cursor another database made (or this one
    /// before it was restored from a backup). Continuing from it would skip every
    /// change until the log got there. (A snapshot taken while no transaction ran marks
    /// its `xmax` itself, so that is not past the end.)
    fn ends_before(&self, backend: DbBackend, mark: &Mark) -> bool {
        match backend {
            DbBackend::Postgres => {
                mark.position.txid > self.end
                    || mark.seen.as_ref().is_some_and(|seen| seen.xmax > self.end)
            }
            // One writer at a time, positions in commit order: no transaction ids.
            _ => mark.position.txid != 0 || mark.seen.is_some() || mark.position.seq > self.end,
        }
    }
}

/// The log's [`Reach`] now, in one statement.
async fn reach(db: &impl ConnectionTrait) -> Result<Reach, DbErr> {
    let backend = db.get_database_backend();
    let end = match backend {
        DbBackend::Postgres => "pg_snapshot_xmax(pg_current_snapshot())::text::bigint",
        _ => SQLITE_LAST_POSITION,
    };
    let row = db
        .query_one_raw(statement(
            backend,
            &format!("SELECT txid, seq, {end} AS end_at FROM task_change_horizon WHERE id = 1"),
            Vec::new(),
        ))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("task_change_horizon".to_owned()))?;
    Ok(Reach {
        horizon: Position {
            txid: row.try_get("", "txid")?,
            seq: row.try_get("", "seq")?,
        },
        end: row.try_get("", "end_at")?,
    })
}

/// Refuses a cursor the log cannot continue from: one from before the horizon
/// (changes after it were purged unread), or one from past the log's end.
pub(crate) async fn check_retention(db: &Database, from: &Mark) -> Result<(), DomainError> {
    let reach = reach(db).await.map_err(db_error)?;
    if from.position < reach.horizon {
        return Err(DomainError::Gone(
            "this cursor is older than the change log's retention; sync again from scratch"
                .to_owned(),
        ));
    }
    if reach.ends_before(db.get_database_backend(), from) {
        return Err(DomainError::Gone(
            "this cursor is past the end of the change log (it was made by another or a \
             restored database); sync again from scratch"
                .to_owned(),
        ));
    }
    Ok(())
}

/// Where the log ends now: every change after it is one a reader has not seen.
pub(crate) async fn end_position(db: &impl ConnectionTrait) -> Result<Mark, DbErr> {
    let backend = db.get_database_backend();
    if backend == DbBackend::Postgres {
        // The current snapshot: transactions below its `xmin` are finished, those up to
        // its `xmax` but not listed as running had committed. A reader starting here
        // skips exactly what the snapshot saw.
        let row = db
            .query_one_raw(statement(
                backend,
                "SELECT pg_current_snapshot()::text AS snapshot",
                Vec::new(),
            ))
            .await?
            .ok_or_else(|| DbErr::RecordNotFound("the current snapshot".to_owned()))?;
        let snapshot: String = row.try_get("", "snapshot")?;
        return parse_snapshot(&snapshot)
            .ok_or_else(|| DbErr::Custom(format!("unreadable snapshot {snapshot:?}")));
    }
    let row = db
        .query_one_raw(statement(
            backend,
            &format!("SELECT {SQLITE_LAST_POSITION} AS seq"),
            Vec::new(),
        ))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("end of task_changes".to_owned()))?;
    Ok(Mark::new(
        Position {
            txid: 0,
            seq: row.try_get("", "seq")?,
        },
        None,
    ))
}

/// The mark of a PostgreSQL snapshot, `xmin:xmax:xip,…`.
fn parse_snapshot(text: &str) -> Option<Mark> {
    let mut parts = text.split(':');
    let xmin = parts.next()?.parse().ok()?;
    let xmax = parts.next()?.parse().ok()?;
    let running = match parts.next()? {
        "" => Vec::new(),
        list => list
            .split(',')
            .map(str::parse)
            .collect::<Result<Vec<i64>, _>>()
            .ok()?,
    };
    Some(Mark::new(
        Position { txid: xmin, seq: 0 },
        Some(Seen { xmax, running }),
    ))
}

/// Appends `change`, and completes the key of `log`, on `db` (the writer's
/// transaction).
pub(crate) async fn record(db: &impl ConnectionTrait, log: &WriteLog) -> Result<(), DomainError> {
    let mut row = task_change::ActiveModel::from(to_change_row(&log.change)?).reset_all();
    row.seq = NotSet;
    row.txid = NotSet;
    task_change::Entity::insert(row)
        .exec_without_returning(db)
        .await
        .map_err(db_error)?;
    if let Some(completion) = &log.completion {
        complete(db, completion).await?;
    }
    Ok(())
}

/// Deletes every task of `owner_id` and appends each one's deletion, of the version
/// deleted, to the change log, inside the caller's transaction. On PostgreSQL one
/// statement does both, so the versions logged are exactly those deleted; SQLite
/// (one writer at a time) logs, then deletes.
pub(crate) async fn delete_owned_tasks(
    db: &impl ConnectionTrait,
    owner_id: Uuid,
    actor_id: Uuid,
    at: DateTime<Utc>,
) -> Result<(), DomainError> {
    let backend = db.get_database_backend();
    let columns = "task_changes \
         (task_id, owner_id, previous_owner_id, op, version, at, actor_id, changes, task)";
    let logged = "SELECT id, owner_id, NULL, $2, version, $3, $4, $5, NULL";
    let values = || {
        vec![
            owner_id.into(),
            ChangeOp::Deleted.as_str().into(),
            at.into(),
            actor_id.into(),
            NO_FIELDS.into(),
        ]
    };
    let run = |sql: String, values| db.execute_raw(statement(backend, &sql, values));
    if backend == DbBackend::Postgres {
        run(
            format!(
                "WITH gone AS (DELETE FROM tasks WHERE owner_id = $1 \
                 RETURNING id, owner_id, version) \
                 INSERT INTO {columns} {logged} FROM gone ORDER BY id"
            ),
            values(),
        )
        .await
        .map_err(db_error)?;
    } else {
        run(
            format!("INSERT INTO {columns} {logged} FROM tasks WHERE owner_id = $1 ORDER BY id"),
            values(),
        )
        .await
        .map_err(db_error)?;
        // Explicit, rather than trusting ON DELETE CASCADE: the outcome does not
        // depend on SQLite having foreign keys switched on.
        run(
            "DELETE FROM tasks WHERE owner_id = $1".to_owned(),
            vec![owner_id.into()],
        )
        .await
        .map_err(db_error)?;
    }
    Ok(())
}

/// Whether a change to a task of `owner_id` was logged by a transaction with a newer
/// id than the caller's (PostgreSQL): one the log orders after the caller's changes.
pub(crate) async fn changed_after_this_transaction(
    db: &impl ConnectionTrait,
    owner_id: Uuid,
) -> Result<bool, DomainError> {
    let backend = db.get_database_backend();
    let row = db
        .query_one_raw(statement(
            backend,
            "SELECT EXISTS (SELECT 1 FROM task_changes \
             WHERE (owner_id = $1 OR previous_owner_id = $1) \
             AND txid > pg_current_xact_id()::text::bigint) AS later",
            vec![owner_id.into()],
        ))
        .await
        .map_err(db_error)?
        .ok_or_else(|| DomainError::unexpected("EXISTS returned no row"))?;
    row.try_get("", "later").map_err(db_error)
}

/// Stores the outcome of a claimed key (see [`taskforge_domain::idempotency`]).
async fn complete(db: &impl ConnectionTrait, completion: &Completion) -> Result<(), DomainError> {
    idempotency_key::Entity::update_many()
        .col_expr(idempotency_key::Column::State, Expr::value(KEY_DONE))
        .col_expr(
            idempotency_key::Column::Outcome,
            Expr::value(outcome_json(&completion.outcome)?),
        )
        .filter(idempotency_key::Column::UserId.eq(completion.user_id))
        .filter(idempotency_key::Column::Key.eq(completion.key.as_str()))
        .filter(idempotency_key::Column::State.eq(KEY_RUNNING))
        .exec(db)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// The first pass of the feed: every task the viewer sees, as it is now, in (created,
/// id) order, from `after` on, but those changed after `start`: the changes hand those
/// out, so that each task comes once.
async fn snapshot_page(
    db: &Database,
    viewer: Option<Uuid>,
    start: &Mark,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: u64,
) -> Result<FeedPage, DomainError> {
    let mut query = task::Entity::find();
    if let Some(viewer) = viewer {
        query = query.filter(task::Column::OwnerId.eq(viewer));
    }
    if let Some((created, id)) = after {
        query = query.filter(
            Expr::tuple([
                Expr::col(task::Column::CreatedAt),
                Expr::col(task::Column::Id),
            ])
            .gt(Expr::tuple([Expr::val(created), Expr::val(id)])),
        );
    }
    let unseen = start
        .seen
        .as_ref()
        .map(|seen| format!(" AND {}", seen.unseen_sql("c.txid")))
        .unwrap_or_default();
    // Integers this crate parsed, written into the text as `unseen_sql` does.
    query = query.filter(Expr::cust(format!(
        "NOT EXISTS (SELECT 1 FROM task_changes c WHERE c.task_id = tasks.id \
         AND (c.txid, c.seq) > ({}, {}){unseen})",
        start.position.txid, start.position.seq
    )));
    let mut rows = query
        .order_by_asc(task::Column::CreatedAt)
        .order_by_asc(task::Column::Id)
        .limit(limit + 1)
        .all(db)
        .await
        .map_err(db_error)?;
    let more_tasks = rows.len() as u64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let (next, has_more) = match rows.last() {
        Some(last) if more_tasks => (
            Cursor::Snapshot {
                start: start.clone(),
                after: Some((last.created_at, last.id)),
            },
            true,
        ),
        _ => {
            let changed = !changes_after(db, viewer, start, 1)
                .await
                .map_err(db_error)?
                .is_empty();
            (Cursor::Log(start.clone()), changed)
        }
    };
    Ok(FeedPage {
        items: rows
            .into_iter()
            .map(|row| to_task(row).map(FeedItem::Task))
            .collect::<Result<_, _>>()?,
        next: next.encode(),
        has_more,
    })
}

/// A page of changes: each task that changed, once, as it is now (or a tombstone),
/// in the order of its last change on the page.
async fn changes_page(
    db: &Database,
    viewer: Option<Uuid>,
    from: &Mark,
    limit: u64,
) -> Result<FeedPage, DomainError> {
    let mut rows = changes_after(db, viewer, from, limit + 1)
        .await
        .map_err(db_error)?;
    let has_more = rows.len() as u64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next = rows
        .last()
        .map_or_else(|| from.clone(), |row| from.advanced_to(position(row)));
    let mut last_change: HashMap<Uuid, usize> = HashMap::new();
    for (i, row) in rows.iter().enumerate() {
        last_change.insert(row.task_id, i);
    }
    let mut order: Vec<(usize, Uuid)> = last_change.into_iter().map(|(id, i)| (i, id)).collect();
    order.sort_unstable();
    let ids: Vec<Uuid> = order.iter().map(|(_, id)| *id).collect();
    let mut current: HashMap<Uuid, task::Model> = if ids.is_empty() {
        HashMap::new()
    } else {
        task::Entity::find()
            .filter(task::Column::Id.is_in(ids.clone()))
            .all(db)
            .await
            .map_err(db_error)?
            .into_iter()
            .map(|row| (row.id, row))
            .collect()
    };
    let items = ids
        .into_iter()
        .map(|id| match current.remove(&id) {
            Some(row) if viewer.is_none_or(|v| row.owner_id == v) => {
                to_task(row).map(FeedItem::Task)
            }
            _ => Ok(FeedItem::Deleted(id)),
        })
        .collect::<Result<_, _>>()?;
    Ok(FeedPage {
        items,
        next: Cursor::Log(next).encode(),
        has_more,
    })
}

#[async_trait]
impl TaskChangeLog for SeaTaskChangeLog {
    #[tracing::instrument(level = "debug", name = "SeaTaskChangeLog::feed", skip_all)]
    async fn feed<'a>(
        &self,
        viewer: Option<Uuid>,
        after: Option<&'a FeedCursor>,
        limit: u64,
    ) -> Result<FeedPage, DomainError> {
        let cursor = match after {
            Some(cursor) => Cursor::decode(cursor, "since")?,
            None => Cursor::Snapshot {
                start: end_position(&self.db).await.map_err(db_error)?,
                after: None,
            },
        };
        check_retention(&self.db, cursor.start()).await?;
        match &cursor {
            Cursor::Snapshot { start, after } => {
                snapshot_page(&self.db, viewer, start, *after, limit).await
            }
            Cursor::Log(from) => changes_page(&self.db, viewer, from, limit).await,
        }
    }

    #[tracing::instrument(level = "debug", name = "SeaTaskChangeLog::events_after", skip_all)]
    async fn events_after(
        &self,
        viewer: Option<Uuid>,
        after: &FeedCursor,
        limit: u64,
    ) -> Result<Vec<ChangeEvent>, DomainError> {
        let cursor = Cursor::decode(after, "Last-Event-ID")?;
        let from = cursor.start();
        check_retention(&self.db, from).await?;
        let rows = changes_after(&self.db, viewer, from, limit)
            .await
            .map_err(db_error)?;
        // Each event's cursor keeps what the reader's snapshot saw, until it is passed.
        rows.into_iter()
            .map(|row| {
                let mark = from.advanced_to(position(&row));
                to_event(row).map(|mut event| {
                    event.cursor = Cursor::Log(mark).encode();
                    event
                })
            })
            .collect()
    }

    async fn end(&self) -> Result<FeedCursor, DomainError> {
        let end = end_position(&self.db).await.map_err(db_error)?;
        Ok(Cursor::Log(end).encode())
    }

    #[tracing::instrument(level = "debug", name = "SeaTaskChangeLog::history", skip_all, fields(task.id = %task_id))]
    async fn history(
        &self,
        task_id: Uuid,
        page: PageRequest,
    ) -> Result<Page<ChangeEvent>, DomainError> {
        let query = task_change::Entity::find().filter(task_change::Column::TaskId.eq(task_id));
        let total = query.clone().count(&self.db).await.map_err(db_error)?;
        let rows = query
            .order_by_asc(task_change::Column::Seq)
            .offset(page.offset())
            .limit(page.limit())
            .all(&self.db)
            .await
            .map_err(db_error)?;
        Ok(Page {
            items: rows.into_iter().map(to_event).collect::<Result<_, _>>()?,
            total,
            limit: page.limit(),
            offset: page.offset(),
        })
    }

    #[tracing::instrument(level = "debug", name = "SeaTaskChangeLog::purge", skip_all)]
    async fn purge(&self, before: DateTime<Utc>) -> Result<u64, DomainError> {
        let mut purged = 0;
        loop {
            let (count, done) = purge_batch(&self.db, before).await.map_err(db_error)?;
            purged += count;
            if done {
                return Ok(purged);
            }
        }
    }
}

/// The position and time of one change, for the purge.
#[derive(Debug, FromQueryResult)]
struct Aged {
    txid: i64,
    seq: i64,
    at: DateTime<Utc>,
}

/// Deletes the oldest changes made before `before`, up to the first younger one, and
/// moves the horizon past them, in one transaction: how many, and whether the purge is
/// done.
async fn purge_batch(db: &Database, before: DateTime<Utc>) -> Result<(u64, bool), DbErr> {
    let backend = db.get_database_backend();
    let txn = db.begin().await?;
    let oldest = Aged::find_by_statement(statement(
        backend,
        &format!(
            "SELECT txid, seq, at FROM task_changes WHERE 1 = 1{} \
             ORDER BY txid, seq LIMIT $1",
            below_watermark(backend)
        ),
        vec![purge::batch(backend).into()],
    ))
    .all(&txn)
    .await?;
    let old = oldest.iter().take_while(|row| row.at < before).count();
    let Some(last) = oldest[..old].last() else {
        return Ok((0, true));
    };
    let last = Position {
        txid: last.txid,
        seq: last.seq,
    };
    let deleted = txn
        .execute_raw(statement(
            backend,
            "DELETE FROM task_changes WHERE (txid, seq) <= ($1, $2)",
            vec![last.txid.into(), last.seq.into()],
        ))
        .await?
        .rows_affected();
    txn.execute_raw(statement(
        backend,
        "UPDATE task_change_horizon SET txid = $1, seq = $2 WHERE id = 1",
        vec![last.txid.into(), last.seq.into()],
    ))
    .await?;
    txn.commit().await?;
    let done = old < oldest.len() || (oldest.len() as u64) < purge::batch(backend);
    Ok((deleted, done))
}
