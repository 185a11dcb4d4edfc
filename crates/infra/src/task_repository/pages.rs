//! The query plan of a page of tasks, on either database: every list form reads one
//! range of one index in its order, `limit + 1` rows (the extra one says whether a row
//! follows), and counts matches up to the cap.
//!
//! Each sort is one expression with the id as tie-breaker, and an index of
//! `(owner_id, expression, id)` and one of `(expression, id)` (the admin's list) in
//! `m20261206_000007_list_indexes` serves it in both directions. Null due dates sort
//! last in either direction, so the due-date expression replaces NULL by a value past
//! every date in the sort's direction: one index per direction. On PostgreSQL the
//! `updated_at` sort's indexes are on `task_recency` (`m20261206_000009_task_recency`,
//! so that task updates stay HOT): that list walks them and joins each task by its key.

use sea_orm::sea_query::SelectStatement;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, DbErr, EntityTrait, JoinType, Order,
    QueryFilter, QueryOrder, QueryResult, QuerySelect, QueryTrait, RelationTrait, Select,
    Statement,
};
use taskforge_domain::DomainError;
use taskforge_domain::page::{Slice, Window};
use taskforge_domain::task::{
    Task, TaskFilter, TaskPosition, TaskSort, TaskSortKey, TaskSortValue, TaskStatus,
};

use super::{search, to_task};
use crate::changes::log::SQLITE_LAST_POSITION;
use crate::entities::{model_at, task, task_recency};
use crate::{like, paging};

/// The subquery of the ids a page by offset skips, and its one column.
const SKIPPED: &str = "skipped";
const SKIPPED_ID: &str = "skipped_id";

/// The rows of a window: up to `limit + 1` rows, and the matches counted up to one
/// past the cap.
#[derive(Debug, Clone)]
pub(crate) struct PageRows {
    rows: Vec<task::Model>,
    matching: u64,
    /// The count as of the statement's snapshot, when it counted and was asked to
    /// report its snapshot ([`Counting::Keep`], [`Counting::Known`]).
    pub(crate) counted: Option<KnownCount>,
}

/// A page's count of matches (up to one past its cap) as of a snapshot ([`counted_at`]).
/// A later page of the same filter and cap may take it instead of counting again while
/// no task its scope sees has changed since: every task write appends its change to
/// `task_changes` in its own transaction, under the task's owner (and its previous
/// owner, when it moved), so a change the snapshot did not see is a row of that log the
/// snapshot does not see ([`changed_since`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KnownCount {
    pub(crate) matching: u64,
    pub(crate) snapshot: String,
}

/// How a page's statement gets its count.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Counting<'a> {
    /// It counts.
    Count,
    /// It counts, and reports its snapshot so that the count can be kept.
    Keep,
    /// It takes this count, or counts (and reports its snapshot) when a task of the
    /// filter's scope changed since the count's snapshot.
    Known(&'a KnownCount),
}

/// What a page's count column holds when the count it was given still holds.
const UNCHANGED: i64 = -1;

/// Whether a task that `owner` (`None`: anyone) sees, or saw, changed after `snapshot`:
/// a change logged by a transaction the snapshot did not see, which the statement's own
/// snapshot does. The log is read by the owner's index (and the previous owner's, for
/// tasks that moved away) or by position, from the snapshot's position on: on
/// PostgreSQL its `xmin` (changes commit out of position order there), on SQLite its
/// last `seq` (one writer at a time: positions are commit order, `txid` always 0).
fn changed_since(backend: DbBackend, owner: Option<uuid::Uuid>, snapshot: &str) -> Expr {
    if backend == DbBackend::Postgres {
        const UNSEEN: &str = "txid >= pg_snapshot_xmin($2::pg_snapshot)::text::bigint \
             AND NOT pg_visible_in_snapshot(txid::text::xid8, $2::pg_snapshot)";
        return match owner {
            Some(owner) => Expr::cust_with_values(
                format!(
                    "(EXISTS (SELECT 1 FROM task_changes WHERE owner_id = $1 AND {UNSEEN}) \
                     OR EXISTS (SELECT 1 FROM task_changes \
                     WHERE previous_owner_id = $1 AND {UNSEEN}))"
                ),
                [sea_orm::Value::from(owner), snapshot.into()],
            ),
            None => Expr::cust_with_values(
                format!(
                    "EXISTS (SELECT 1 FROM task_changes WHERE {})",
                    UNSEEN.replace("$2", "$1")
                ),
                [snapshot],
            ),
        };
    }
    match owner {
        Some(owner) => Expr::cust_with_values(
            "(EXISTS (SELECT 1 FROM task_changes \
             WHERE owner_id = ? AND txid = 0 AND seq > CAST(? AS INTEGER)) \
             OR EXISTS (SELECT 1 FROM task_changes \
             WHERE previous_owner_id = ? AND txid = 0 AND seq > CAST(? AS INTEGER)))",
            [
                sea_orm::Value::from(owner),
                snapshot.into(),
                owner.into(),
                snapshot.into(),
            ],
        ),
        None => Expr::cust_with_values(
            "EXISTS (SELECT 1 FROM task_changes WHERE seq > CAST(? AS INTEGER))",
            [snapshot],
        ),
    }
}

/// The position a page's count is taken at, as text: PostgreSQL's snapshot, SQLite's
/// last logged position (the last purged one when the log is empty).
fn counted_at(backend: DbBackend) -> Expr {
    Expr::cust(if backend == DbBackend::Postgres {
        "pg_current_snapshot()::text".to_owned()
    } else {
        format!("CAST({SQLITE_LAST_POSITION} AS TEXT)")
    })
}

impl PageRows {
    /// The matches counted, up to one past the cap.
    pub(crate) fn matching(&self) -> u64 {
        self.matching
    }

    /// How many rows there are.
    pub(crate) fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there is no row.
    pub(crate) fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Row `index`, in order.
    pub(crate) fn row(&self, index: usize) -> Option<&task::Model> {
        self.rows.get(index)
    }

    /// The first row, and the others with the same count.
    pub(crate) fn split_first(mut self) -> (Option<task::Model>, Self) {
        let first = (!self.rows.is_empty()).then(|| self.rows.remove(0));
        (first, self)
    }

    /// The domain slice of these rows.
    pub(crate) fn into_slice(
        self,
        window: &Window<TaskPosition>,
    ) -> Result<Slice<Task>, DomainError> {
        let limit = usize::try_from(window.limit).unwrap_or(usize::MAX);
        let more = self.rows.len() > limit;
        let (total, total_exact) = window.total_of(self.matching);
        Ok(Slice {
            items: self
                .rows
                .into_iter()
                .take(limit)
                .map(to_task)
                .collect::<Result<_, _>>()?,
            total,
            total_exact,
            more,
        })
    }
}

/// Which statement of a page a condition is for: its rows, read in the sort's order,
/// or its capped count, read in any order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Read {
    Rows,
    Count,
}

/// The rows that `filter` matches, as the `read` statement of a page in `sort` order
/// on `backend` spells it (the same rows either way).
///
/// SQLite keeps no statistics of how often each status or priority occurs, and given
/// `status = ?` with the sort's index beside the status index it reads the status
/// index and sorts every row of that status (a third of the admin's list, 1.7 req/s
/// at 1 000 000 tasks). A status or priority is seldom rare, so the rows are found
/// sooner by walking the sort's index and testing each: on SQLite the page's rows test
/// them as `+status` / `+priority`, which no index can serve (a unary `+` changes no
/// value). Not a priority filter in a priority sort, whose index holds that priority's
/// rows as one range in order; and not the count, which reads the `(owner_id,
/// status)` / `status` index's entries and no table row.
fn filter_condition(
    filter: &TaskFilter,
    backend: DbBackend,
    sort: TaskSort,
    read: Read,
) -> Condition {
    let walk = backend == DbBackend::Sqlite && read == Read::Rows;
    let status = if walk {
        Expr::cust("+status")
    } else {
        Expr::col(task::Column::Status)
    };
    let priority = if walk && sort.key != TaskSortKey::Priority {
        Expr::cust("+priority")
    } else {
        Expr::col(task::Column::Priority)
    };
    let mut condition = Condition::all();
    if let Some(owner_id) = filter.owner_id {
        // The rows by recency are found through `task_recency`'s owner index.
        condition = condition.add(if by_recency(backend, sort) && read == Read::Rows {
            task_recency::Column::OwnerId.eq(owner_id)
        } else {
            task::Column::OwnerId.eq(owner_id)
        });
    }
    if let Some(wanted) = filter.status {
        condition = condition.add(status.clone().eq(wanted.as_str()));
    }
    if let Some(completed) = filter.completed {
        let done = TaskStatus::Done.as_str();
        condition = condition.add(if completed {
            status.eq(done)
        } else {
            // Every other status, rather than `<> 'done'`: a list of values is ranges
            // of an index (the count reads just the open tasks' entries), a `<>` is not.
            status.is_in(
                TaskStatus::ALL
                    .into_iter()
                    .filter(|s| *s != TaskStatus::Done)
                    .map(TaskStatus::as_str),
            )
        });
    }
    if let Some(wanted) = filter.priority {
        condition = condition.add(priority.eq(wanted.rank()));
    }
    if let Some(q) = &filter.q {
        let needle = q.to_lowercase();
        condition = condition.add(
            Condition::any()
                .add(task::Column::TitleSearch.like(like::contains(&needle)))
                .add(task::Column::DescriptionSearch.like(like::contains(&needle))),
        );
    }
    if let Some(before) = filter.due_before {
        condition = condition.add(task::Column::DueDate.lt(before));
        if backend == DbBackend::Postgres {
            condition = condition.add(due_key(backend, false).lt(before));
        }
    }
    if let Some(after) = filter.due_after {
        condition = condition.add(task::Column::DueDate.gt(after));
        if backend == DbBackend::Postgres {
            condition = condition.add(due_key(backend, true).gt(after));
        }
    }
    condition
}

/// The due-date sort's expression in one direction (see [`sort_expr`]). On PostgreSQL
/// a due-date filter also tests it, which says the same of any date (a missing one is
/// past every date in the direction whose filter it fails), so that the range is read
/// from that direction's list index, which includes the date
/// (`m20261207_000011_drop_old_due_indexes`).
fn due_key(backend: DbBackend, descending: bool) -> Expr {
    sort_expr(
        backend,
        TaskSort {
            key: TaskSortKey::DueDate,
            descending,
        },
    )
}

/// Whether the list is read in `task_recency`'s order: PostgreSQL's `updated_at` sort.
fn by_recency(backend: DbBackend, sort: TaskSort) -> bool {
    backend == DbBackend::Postgres && sort.key == TaskSortKey::UpdatedAt
}

/// The id that breaks ties in `sort`: the one of the index the rows are read from.
fn tie_breaker(backend: DbBackend, sort: TaskSort) -> Expr {
    if by_recency(backend, sort) {
        Expr::col((task_recency::Entity, task_recency::Column::TaskId))
    } else {
        Expr::col((task::Entity, task::Column::Id))
    }
}

/// What a list sorted by `sort` orders by, before the id. The due date's NULL becomes
/// a value past every date in the sort's direction; these expressions are the ones the
/// indexes were built on, character for character (SQLite matches an expression
/// index only to the same expression).
fn sort_expr(backend: DbBackend, sort: TaskSort) -> Expr {
    match sort.key {
        TaskSortKey::CreatedAt => Expr::col(task::Column::CreatedAt),
        // The same instant: the triggers copy it in the write's own statement.
        TaskSortKey::UpdatedAt if by_recency(backend, sort) => {
            Expr::col((task_recency::Entity, task_recency::Column::UpdatedAt))
        }
        TaskSortKey::UpdatedAt => Expr::col(task::Column::UpdatedAt),
        TaskSortKey::DueDate => Expr::cust(format!(
            "COALESCE(due_date, {})",
            no_due_date(backend, sort.descending)
        )),
        // The column holds the rank, so this sorts low < medium < high.
        TaskSortKey::Priority => Expr::col(task::Column::Priority),
        // Code-point order: SQLite's BINARY collation, PostgreSQL's "C" on this column.
        TaskSortKey::Title => Expr::col(task::Column::Title),
    }
}

/// The stand-in for a missing due date: after every date in the sort's direction.
/// SQLite stores instants as RFC 3339 text, which sorts as the instants do; `~` sorts
/// after any digit and the empty string before everything.
pub(crate) fn no_due_date(backend: DbBackend, descending: bool) -> &'static str {
    match (backend, descending) {
        (DbBackend::Postgres, false) => "'infinity'::timestamptz",
        (DbBackend::Postgres, true) => "'-infinity'::timestamptz",
        (_, false) => "'~'",
        (_, true) => "''",
    }
}

/// Whether `filter` tests nothing but the owner.
fn owner_only(filter: &TaskFilter) -> bool {
    let TaskFilter {
        owner_id: _,
        status,
        completed,
        priority,
        q,
        due_before,
        due_after,
    } = filter;
    status.is_none()
        && completed.is_none()
        && priority.is_none()
        && q.is_none()
        && due_before.is_none()
        && due_after.is_none()
}

/// The tasks a list in `sort` order reads: joined to `task_recency` for PostgreSQL's
/// `updated_at` order.
fn listed(backend: DbBackend, sort: TaskSort) -> Select<task::Entity> {
    let tasks = task::Entity::find();
    if by_recency(backend, sort) {
        tasks.join_rev(JoinType::InnerJoin, task_recency::Relation::Task.def())
    } else {
        tasks
    }
}

/// The rows of `select` in `window`: those that meet the condition, ordered by the key,
/// then the id, in the order given, from the window's offset, `limit + 1` of them.
fn in_order<E: EntityTrait>(
    select: Select<E>,
    (condition, key, id, order): (Condition, Expr, Expr, Order),
    window: &Window<TaskPosition>,
) -> Select<E> {
    select
        .filter(condition)
        .order_by(key, order.clone())
        .order_by(id, order)
        .limit(window.limit.saturating_add(1))
        .offset(window.offset)
}

/// The ids of the rows of `select` that a page by offset in `window` skips and its own
/// (see [`in_order`]), as the one column [`SKIPPED_ID`].
fn skipped_ids<E: EntityTrait>(
    select: Select<E>,
    by: (Condition, Expr, Expr, Order),
    window: &Window<TaskPosition>,
) -> SelectStatement {
    let id = by.2.clone();
    in_order(select, by, window)
        .select_only()
        .expr_as(id, SKIPPED_ID)
        .into_query()
}

/// The value of `position` in the terms of [`sort_expr`].
fn position_value(backend: DbBackend, sort: TaskSort, position: &TaskPosition) -> Expr {
    match &position.value {
        TaskSortValue::Instant(at) | TaskSortValue::Due(Some(at)) => Expr::val(*at),
        TaskSortValue::Due(None) => Expr::cust(no_due_date(backend, sort.descending)),
        TaskSortValue::Priority(priority) => Expr::val(priority.rank()),
        TaskSortValue::Title(title) => Expr::val(title.clone()),
    }
}

/// The rows of `window` of the list of `filter` in `sort` order, and the matches
/// counted up to one past the window's cap, in one statement (the count rides along
/// as a scalar subquery), or none for a page that skips the cap (its rows prove the
/// count: [`paging::past_the_cap`]). Only a page with no row to carry the count (past
/// the end) counts in a statement of its own.
pub(crate) async fn page_rows<C: ConnectionTrait>(
    db: &C,
    filter: &TaskFilter,
    sort: TaskSort,
    window: &Window<TaskPosition>,
    counting: Counting<'_>,
) -> Result<PageRows, DbErr> {
    let PageQuery { rows, count } = PageQuery::new(db, filter, sort, window, counting).await?;
    let found = db.query_all_raw(rows).await?;
    count.finish(db, &found).await
}

/// The statements of a page (see [`page_rows`]).
pub(crate) struct PageQuery {
    /// The page's rows, each with the count of every match (capped).
    pub(crate) rows: Statement,
    /// What makes the page of the rows found.
    pub(crate) count: PageCount,
}

/// The count of a page: carried by its rows, proved by them (a page that skips the
/// cap), or counted alone for a page past the end.
pub(crate) struct PageCount {
    alone: SelectStatement,
    /// What a row proves of a page that skips the cap; its rows carry no count.
    proved: Option<u64>,
    may_count_alone: bool,
    /// The count the statement was given, which its rows say [`UNCHANGED`] for.
    known: Option<u64>,
    /// Whether the rows report their snapshot (`counted_at`).
    reported: bool,
}

impl PageQuery {
    /// The statements of the page of `filter` in `sort` order in `window`.
    pub(crate) async fn new<C: ConnectionTrait>(
        db: &C,
        filter: &TaskFilter,
        sort: TaskSort,
        window: &Window<TaskPosition>,
        counting: Counting<'_>,
    ) -> Result<Self, DbErr> {
        let backend = db.get_database_backend();
        let mut counted = filter_condition(filter, backend, sort, Read::Count);
        let mut condition = filter_condition(filter, backend, sort, Read::Rows);
        // On SQLite a rare needle's rows are found through the search index; the `LIKE`
        // of the filter stays the final test either way.
        if let Some(candidates) = search::candidates(db, filter).await? {
            counted = counted.add(candidates.clone());
            condition = condition.add(candidates);
        }
        let count = paging::capped_count(task::Entity, counted, window.count_cap);
        let key = sort_expr(backend, sort);
        let id = tie_breaker(backend, sort);
        if let Some(position) = &window.after {
            condition = condition.add(paging::after(
                key.clone(),
                id.clone(),
                position_value(backend, sort, position),
                Expr::val(position.id),
                sort.descending,
            ));
        }
        let order = if sort.descending {
            Order::Desc
        } else {
            Order::Asc
        };
        // The id breaks ties in the same direction, so pages never repeat or skip a row.
        let by = (condition, key, id, order.clone());
        let rows = if window.offset == 0 {
            in_order(listed(backend, sort), by, window)
        } else {
            // A page deep by offset: the rows it skips are walked as ids only, which the
            // sort's index holds (no table row read for them; the due-date indexes
            // include the date for that, `m20261206_000010_covering_due_indexes`), and
            // the table is read for the page's own rows, by key (1.34 → 0.96 ms 10 000
            // rows deep; PostgreSQL's plans are checked in `postgres::plans`).
            let skipped = if by_recency(backend, sort) && owner_only(filter) {
                // `task_recency` holds every column the condition tests: no task read.
                skipped_ids(task_recency::Entity::find(), by, window)
            } else {
                skipped_ids(listed(backend, sort), by, window)
            };
            let mut page = task::Entity::find();
            QueryTrait::query(&mut page).join_subquery(
                JoinType::InnerJoin,
                skipped,
                SKIPPED,
                Expr::col((SKIPPED, SKIPPED_ID)).equals((task::Entity, task::Column::Id)),
            );
            // The same order over the task's own columns (`task_recency` holds the
            // task's `updated_at`), to sort the page's few rows.
            let key = match sort.key {
                TaskSortKey::UpdatedAt => Expr::col((task::Entity, task::Column::UpdatedAt)),
                _ => sort_expr(backend, sort),
            };
            page.order_by(key, order.clone())
                .order_by(Expr::col((task::Entity, task::Column::Id)), order)
        };
        let proved = paging::past_the_cap(window);
        // A page whose rows prove its count counts nothing.
        let counting = if proved.is_some() {
            Counting::Count
        } else {
            counting
        };
        let rows = match counting {
            _ if proved.is_some() => rows,
            Counting::Count | Counting::Keep => {
                rows.column_as(Expr::from(count.clone()), "total_matching")
            }
            Counting::Known(known) => rows.column_as(
                Expr::Case(Box::new(
                    Expr::case(
                        changed_since(backend, filter.owner_id, &known.snapshot),
                        Expr::from(count.clone()),
                    )
                    .finally(Expr::val(UNCHANGED)),
                )),
                "total_matching",
            ),
        };
        let reported = !matches!(counting, Counting::Count);
        let rows = if reported {
            rows.column_as(counted_at(backend), "counted_at")
        } else {
            rows
        };
        Ok(Self {
            rows: rows.build(backend),
            count: PageCount {
                alone: count,
                proved,
                may_count_alone: window.offset > 0 || window.after.is_some(),
                known: match counting {
                    Counting::Known(known) => Some(known.matching),
                    _ => None,
                },
                reported,
            },
        })
    }
}

impl PageCount {
    /// The page, from the rows its statement returned (counting alone past the end).
    pub(crate) async fn finish<C: ConnectionTrait>(
        self,
        db: &C,
        rows: &[QueryResult],
    ) -> Result<PageRows, DbErr> {
        let mut counted_now = None;
        // The task's columns lead each row (`task::Entity::find()`), the count after them.
        let tasks = rows
            .iter()
            .map(|row| model_at::<task::Entity>(row, 0))
            .collect::<Result<Vec<_>, DbErr>>()?;
        let known = match self.proved {
            Some(proved) => (!tasks.is_empty()).then_some(proved),
            None => match rows.first() {
                None => None,
                Some(row) => match row.try_get::<i64>("", "total_matching")? {
                    UNCHANGED => self.known,
                    total => {
                        let total = u64::try_from(total).unwrap_or_default();
                        if self.reported {
                            counted_now = Some(KnownCount {
                                matching: total,
                                snapshot: row.try_get("", "counted_at")?,
                            });
                        }
                        Some(total)
                    }
                },
            },
        };
        let matching = match known {
            Some(matching) => matching,
            None if !self.may_count_alone => 0,
            None => match db.query_one(&self.alone).await? {
                Some(row) => u64::try_from(row.try_get_by_index::<i64>(0)?).unwrap_or_default(),
                None => 0,
            },
        };
        Ok(PageRows {
            rows: tasks,
            matching,
            counted: counted_now,
        })
    }
}
