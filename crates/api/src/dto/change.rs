//! The change feed, task history and live events on the wire.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use taskforge_domain::task::{ChangeEvent, ChangeOp, FeedItem, FeedPage, FieldValue};
use utoipa::ToSchema;
use uuid::Uuid;

use super::task::TaskResponse;

/// What a change did to its task.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = ChangeOp)]
pub enum ChangeOpDto {
    /// The task was created.
    Created,
    /// The task was changed.
    Updated,
    /// The task was deleted, or deleted with its owner.
    Deleted,
}

impl From<ChangeOp> for ChangeOpDto {
    fn from(op: ChangeOp) -> Self {
        match op {
            ChangeOp::Created => Self::Created,
            ChangeOp::Updated => Self::Updated,
            ChangeOp::Deleted => Self::Deleted,
        }
    }
}

/// A task that no longer exists, or no longer belongs to the reader.
#[derive(Debug, Serialize, ToSchema)]
pub struct Tombstone {
    /// The task's id.
    pub id: Uuid,
    /// Always `true`.
    pub deleted: bool,
}

impl Tombstone {
    /// The tombstone of task `id`.
    pub fn of(id: Uuid) -> Self {
        Self { id, deleted: true }
    }
}

/// One item of the change feed: the task as it is now, or its tombstone.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum FeedItemResponse {
    /// The task as it is now.
    Task(TaskResponse),
    /// The task is gone.
    Deleted(Tombstone),
}

impl From<FeedItem> for FeedItemResponse {
    fn from(item: FeedItem) -> Self {
        match item {
            FeedItem::Task(task) => Self::Task(TaskResponse::from(task)),
            FeedItem::Deleted(id) => Self::Deleted(Tombstone::of(id)),
        }
    }
}

/// A page of the change feed.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ChangeFeed)]
pub struct ChangeFeedResponse {
    /// Each task that changed, once, in change order.
    pub items: Vec<FeedItemResponse>,
    /// Where to continue (`?since=`): opaque.
    pub next_cursor: String,
    /// Whether more changes follow right away (ask again with `next_cursor`).
    pub has_more: bool,
}

impl From<FeedPage> for ChangeFeedResponse {
    fn from(page: FeedPage) -> Self {
        Self {
            items: page.items.into_iter().map(FeedItemResponse::from).collect(),
            next_cursor: page.next.0,
            has_more: page.has_more,
        }
    }
}

/// One logged change of a task.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = TaskChange)]
pub struct TaskChangeResponse {
    /// The change's number, increasing within the log.
    pub seq: i64,
    /// The task.
    pub task_id: Uuid,
    /// Its owner after the change (before it, for a deletion).
    pub owner_id: Uuid,
    /// What the change did.
    pub op: ChangeOpDto,
    /// The task's version after the change (its last, for a deletion).
    pub version: i64,
    /// When.
    #[serde(serialize_with = "super::rfc3339::serialize")]
    pub at: DateTime<Utc>,
    /// Who made it.
    pub actor_id: Uuid,
    /// Each changed Task field and its `[old, new]` values (`version` and `updated_at`
    /// are not listed; a creation lists every other field as `[null, value]`, a
    /// deletion none).
    #[schema(value_type = Object, additional_properties = true,
        example = json!({"title": ["Old title", "New title"], "status": ["todo", "done"]}))]
    pub changes: Map<String, Value>,
}

impl From<ChangeEvent> for TaskChangeResponse {
    fn from(event: ChangeEvent) -> Self {
        let change = event.change;
        Self {
            seq: event.seq,
            task_id: change.task_id,
            owner_id: change.owner_id,
            op: change.op.into(),
            version: change.version,
            at: change.at,
            actor_id: change.actor_id,
            changes: change
                .changes
                .into_iter()
                .map(|c| (c.field, Value::Array(vec![json(c.old), json(c.new)])))
                .collect(),
        }
    }
}

/// A field value as the Task shows it.
fn json(value: FieldValue) -> Value {
    match value {
        FieldValue::Text(text) => Value::String(text),
        FieldValue::Int(n) => Value::from(n),
        FieldValue::Bool(b) => Value::Bool(b),
        FieldValue::Timestamp(t) => Value::String(t.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
        FieldValue::Uuid(id) => Value::String(id.to_string()),
        FieldValue::Null => Value::Null,
        // A kind of value a later domain adds: shown as no value until this learns it.
        _ => Value::Null,
    }
}
