//! The change log: every task write leaves an event, field by field, written in the
//! same transaction as the write. Clients sync from it (an incremental feed), read a
//! task's history from it, and follow it live.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::model::Task;
use crate::idempotency::Completion;

/// What a change did to its task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeOp {
    /// The task was created.
    Created,
    /// The task was changed (PUT, PATCH, toggle, reassignment).
    Updated,
    /// The task was deleted (by itself, or with its owner).
    Deleted,
}

impl ChangeOp {
    /// The wire and storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeOp::Created => "created",
            ChangeOp::Updated => "updated",
            ChangeOp::Deleted => "deleted",
        }
    }

    /// Parses the storage name.
    pub fn parse(raw: &str) -> Option<Self> {
        [ChangeOp::Created, ChangeOp::Updated, ChangeOp::Deleted]
            .into_iter()
            .find(|op| op.as_str() == raw)
    }
}

/// One value of a task field, as a change records it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum FieldValue {
    /// No value.
    Null,
    /// Text, or an enum's wire name.
    Text(String),
    /// A whole number.
    Int(i64),
    /// A yes/no.
    Bool(bool),
    /// An instant.
    Timestamp(DateTime<Utc>),
    /// An id.
    Uuid(Uuid),
}

/// One field a change touched: its value before and after.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct FieldChange {
    /// The Task field's name (`title`, `status`, ...).
    pub field: String,
    /// Before (`Null` for a created task).
    pub old: FieldValue,
    /// After.
    pub new: FieldValue,
}

/// A task's fields as a change lists them: every field of the Task but `version` and
/// `updated_at`, which every change moves.
fn fields(task: &Task) -> Vec<(&'static str, FieldValue)> {
    let text = |s: &str| FieldValue::Text(s.to_owned());
    let time = |t: Option<DateTime<Utc>>| t.map_or(FieldValue::Null, FieldValue::Timestamp);
    vec![
        ("id", FieldValue::Uuid(task.id)),
        ("owner_id", FieldValue::Uuid(task.owner_id)),
        ("title", text(task.title.as_str())),
        (
            "description",
            task.description
                .as_ref()
                .map_or(FieldValue::Null, |d| text(d.as_str())),
        ),
        ("status", text(task.status.as_str())),
        ("completed", FieldValue::Bool(task.completed())),
        ("priority", text(task.priority.as_str())),
        ("due_date", time(task.due_date)),
        ("completed_at", time(task.completed_at)),
        ("created_at", FieldValue::Timestamp(task.created_at)),
    ]
}

/// One change of one task, as it is logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskChange {
    /// The task.
    pub task_id: Uuid,
    /// Its owner after the change (before it, for a deletion).
    pub owner_id: Uuid,
    /// Its owner before the change, when the change moved it to another owner.
    pub previous_owner_id: Option<Uuid>,
    /// Created, updated or deleted.
    pub op: ChangeOp,
    /// The task's version after the change (its last, for a deletion).
    pub version: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// Who made it.
    pub actor_id: Uuid,
    /// The fields it changed: every field `[null, value]` for a creation, none for a
    /// deletion.
    pub changes: Vec<FieldChange>,
    /// The task right after the change; `None` for a deletion.
    pub after: Option<Task>,
}

impl TaskChange {
    /// The creation of `task` by `actor_id`.
    pub fn created(task: &Task, actor_id: Uuid) -> Self {
        Self {
            task_id: task.id,
            owner_id: task.owner_id,
            previous_owner_id: None,
            op: ChangeOp::Created,
            version: task.version,
            at: task.created_at,
            actor_id,
            changes: fields(task)
                .into_iter()
                .map(|(field, new)| FieldChange {
                    field: field.to_owned(),
                    old: FieldValue::Null,
                    new,
                })
                .collect(),
            after: Some(task.clone()),
        }
    }

    /// The change from `before` to `after` by `actor_id`.
    pub fn updated(before: &Task, after: &Task, actor_id: Uuid) -> Self {
        let changes = fields(before)
            .into_iter()
            .zip(fields(after))
            .filter(|((_, old), (_, new))| old != new)
            .map(|((field, old), (_, new))| FieldChange {
                field: field.to_owned(),
                old,
                new,
            })
            .collect();
        Self {
            task_id: after.id,
            owner_id: after.owner_id,
            previous_owner_id: (before.owner_id != after.owner_id).then_some(before.owner_id),
            op: ChangeOp::Updated,
            version: after.version,
            at: after.updated_at,
            actor_id,
            changes,
            after: Some(after.clone()),
        }
    }

    /// The deletion of `task` by `actor_id` at `at`.
    pub fn deleted(task: &Task, actor_id: Uuid, at: DateTime<Utc>) -> Self {
        Self {
            task_id: task.id,
            owner_id: task.owner_id,
            previous_owner_id: None,
            op: ChangeOp::Deleted,
            version: task.version,
            at,
            actor_id,
            changes: Vec::new(),
            after: None,
        }
    }

    /// Whether a viewer (`None`: an admin, who sees every task) sees this change:
    /// its task is, or was until this change, theirs.
    pub fn visible_to(&self, viewer: Option<Uuid>) -> bool {
        viewer.is_none_or(|user| self.owner_id == user || self.previous_owner_id == Some(user))
    }

    /// What this change is to a viewer who sees it: to the owner a task was taken
    /// from, the task is gone (a deletion, without the task); to everyone else it is
    /// what it is, with the task as the change left it.
    pub fn seen_by(&self, viewer: Option<Uuid>) -> (ChangeOp, Option<&Task>) {
        match viewer {
            Some(user) if self.owner_id != user => (ChangeOp::Deleted, None),
            _ => (self.op, self.after.as_ref()),
        }
    }
}

/// What a task write stores beside the task, in the same transaction: its change,
/// and the outcome of its idempotency key, if it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteLog {
    /// The change the write makes.
    pub change: TaskChange,
    /// The record answering the write's repeats.
    pub completion: Option<Completion>,
}

/// A logged change and where it stands in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeEvent {
    /// The change's position, unique and increasing within one database.
    pub seq: i64,
    /// Where a reader continues right after this change (opaque; see [`FeedCursor`]).
    pub cursor: FeedCursor,
    /// The change.
    pub change: TaskChange,
}

/// A position in the change log, as the storage defines it: opaque to everyone else.
/// A reader that continues from one gets every change committed after it exactly
/// once, even changes of transactions that were still running when it was made.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FeedCursor(pub String);

/// One item of the incremental feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedItem {
    /// The task as it is now.
    Task(Task),
    /// The task no longer exists (or no longer belongs to the reader).
    Deleted(Uuid),
}

/// A page of the incremental feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedPage {
    /// Each task that changed, once, in change order.
    pub items: Vec<FeedItem>,
    /// Where to continue.
    pub next: FeedCursor,
    /// Whether more changes follow right away.
    pub has_more: bool,
}
