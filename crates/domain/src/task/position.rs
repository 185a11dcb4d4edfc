//! Where a page of tasks ends: the position a cursor carries to the next page.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::model::{Priority, Task, TaskFilter, TaskSort, TaskSortKey};
use crate::DomainError;
use crate::page::cursor;

/// The sort value of a task in a list, of the sort's key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TaskSortValue {
    /// `created_at` or `updated_at`.
    Instant(DateTime<Utc>),
    /// `due_date`; `None` sorts after every deadline in either direction.
    Due(Option<DateTime<Utc>>),
    /// `priority`, by rank.
    Priority(Priority),
    /// `title`, by code point.
    Title(String),
}

/// A task's place in a sorted list: its sort value, and its id (the tie-breaker).
/// The page after it starts with the next task in the sort's order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TaskPosition {
    /// The value of the sort's key (always of that key: positions come from
    /// [`TaskPosition::of`] or a cursor checked against the sort).
    pub value: TaskSortValue,
    /// The task's id.
    pub id: Uuid,
}

impl TaskPosition {
    /// Where `task` stands in a list sorted by `key`.
    pub fn of(task: &Task, key: TaskSortKey) -> Self {
        let value = match key {
            TaskSortKey::CreatedAt => TaskSortValue::Instant(task.created_at),
            TaskSortKey::UpdatedAt => TaskSortValue::Instant(task.updated_at),
            TaskSortKey::DueDate => TaskSortValue::Due(task.due_date),
            TaskSortKey::Priority => TaskSortValue::Priority(task.priority),
            TaskSortKey::Title => TaskSortValue::Title(task.title.as_str().to_owned()),
        };
        Self { value, id: task.id }
    }

    /// The cursor of the page after `task` in the list of `filter` and `sort`.
    pub fn cursor_after(task: &Task, filter: &TaskFilter, sort: TaskSort) -> String {
        let position = Self::of(task, sort.key);
        let value = match &position.value {
            TaskSortValue::Instant(at) | TaskSortValue::Due(Some(at)) => {
                at.timestamp_micros().to_string()
            }
            TaskSortValue::Due(None) => String::new(),
            TaskSortValue::Priority(priority) => priority.rank().to_string(),
            TaskSortValue::Title(title) => title.clone(),
        };
        cursor::encode(&list_of(filter, sort), position.id, &value)
    }

    /// The position a cursor made by [`TaskPosition::cursor_after`] for the same
    /// filter and sort carries.
    ///
    /// # Errors
    /// [`DomainError::Validation`] on `cursor` for a malformed cursor or one of
    /// another list.
    pub fn from_cursor(
        raw: &str,
        filter: &TaskFilter,
        sort: TaskSort,
    ) -> Result<Self, DomainError> {
        let (id, value) = cursor::decode(raw, &list_of(filter, sort))?;
        let instant = |raw: &str| {
            raw.parse::<i64>()
                .ok()
                .and_then(DateTime::from_timestamp_micros)
                .ok_or_else(cursor::malformed)
        };
        let value = match sort.key {
            TaskSortKey::CreatedAt | TaskSortKey::UpdatedAt => {
                TaskSortValue::Instant(instant(&value)?)
            }
            TaskSortKey::DueDate if value.is_empty() => TaskSortValue::Due(None),
            TaskSortKey::DueDate => TaskSortValue::Due(Some(instant(&value)?)),
            TaskSortKey::Priority => TaskSortValue::Priority(
                value
                    .parse::<i16>()
                    .ok()
                    .and_then(Priority::from_rank)
                    .ok_or_else(cursor::malformed)?,
            ),
            TaskSortKey::Title => TaskSortValue::Title(value),
        };
        Ok(Self { value, id })
    }
}

/// The canonical description of a task list, which its cursors are bound to. The
/// owner is part of it: a cursor of one user's list is no cursor of another's.
fn list_of(filter: &TaskFilter, sort: TaskSort) -> String {
    let micros = |at: Option<DateTime<Utc>>| at.map(|at| at.timestamp_micros());
    // `q` last and length-prefixed: it may contain any separator.
    format!(
        "tasks owner={:?} status={:?} completed={:?} priority={:?} due_before={:?} \
         due_after={:?} sort={:?}/{} q={:?}",
        filter.owner_id,
        filter.status.map(|s| s.as_str()),
        filter.completed,
        filter.priority.map(|p| p.rank()),
        micros(filter.due_before),
        micros(filter.due_after),
        sort.key,
        sort.descending,
        filter.q.as_ref().map(|q| (q.len(), q)),
    )
}
