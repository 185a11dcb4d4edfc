//! Task bodies and the Task response.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use taskforge_domain::DomainError;
use taskforge_domain::Validator;
use taskforge_domain::task::{
    Description, Priority, Task, TaskDraft, TaskPatch, TaskStatus, Title, resolve_status,
};
use utoipa::ToSchema;
use uuid::Uuid;

use super::enums::{PriorityDto, StatusDto};
use super::{not_null, nullable};

/// The Task of the contract.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Task)]
pub struct TaskResponse {
    /// UUID.
    pub id: Uuid,
    /// The owner's id.
    pub owner_id: Uuid,
    /// 1–200 characters.
    pub title: String,
    /// Up to 10 000 characters, or null.
    #[schema(required = true)]
    pub description: Option<String>,
    /// `todo`, `in_progress` or `done` (the domain's own wire name).
    #[schema(value_type = StatusDto)]
    pub status: &'static str,
    /// `status == done`.
    pub completed: bool,
    /// `low`, `medium` or `high` (the domain's own wire name).
    #[schema(value_type = PriorityDto)]
    pub priority: &'static str,
    /// Deadline or null.
    #[serde(serialize_with = "super::rfc3339::option")]
    #[schema(required = true)]
    pub due_date: Option<DateTime<Utc>>,
    /// When it became done, or null.
    #[serde(serialize_with = "super::rfc3339::option")]
    #[schema(required = true)]
    pub completed_at: Option<DateTime<Utc>>,
    /// Creation instant.
    #[serde(serialize_with = "super::rfc3339::serialize")]
    pub created_at: DateTime<Utc>,
    /// Last change instant.
    #[serde(serialize_with = "super::rfc3339::serialize")]
    pub updated_at: DateTime<Utc>,
    /// Starts at 1, +1 per change; the ETag.
    pub version: i64,
}

impl From<Task> for TaskResponse {
    fn from(task: Task) -> Self {
        Self {
            id: task.id,
            owner_id: task.owner_id,
            completed: task.completed(),
            title: task.title.as_str().to_owned(),
            description: task.description.map(|d| d.as_str().to_owned()),
            status: task.status.as_str(),
            priority: task.priority.as_str(),
            due_date: task.due_date,
            completed_at: task.completed_at,
            created_at: task.created_at,
            updated_at: task.updated_at,
            version: task.version,
        }
    }
}

/// `POST /tasks` and `PUT /tasks/{id}`: a whole task; absent fields take defaults.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskBody {
    /// Required, 1–200 characters after trimming.
    #[schema(min_length = 1, max_length = 200, example = "Write the report")]
    pub title: String,
    /// Optional, ≤ 10 000 characters.
    #[schema(max_length = 10000)]
    pub description: Option<String>,
    /// Default `todo`.
    pub status: Option<StatusDto>,
    /// Must agree with `status` when both are sent.
    pub completed: Option<bool>,
    /// Default `medium`.
    pub priority: Option<PriorityDto>,
    /// Optional deadline (RFC 3339).
    pub due_date: Option<DateTime<Utc>>,
    /// Owner (admins may name another user).
    pub owner_id: Option<Uuid>,
}

impl TryFrom<TaskBody> for TaskDraft {
    type Error = DomainError;

    fn try_from(body: TaskBody) -> Result<Self, DomainError> {
        let mut v = Validator::new();
        let title = v.check(Title::parse(&body.title));
        let description = body
            .description
            .and_then(|d| v.check(Description::parse(&d)));
        let status = v
            .check(resolve_status(
                body.status.map(TaskStatus::from),
                body.completed,
            ))
            .flatten();
        v.finish()?;
        let title = title.ok_or_else(|| DomainError::invalid("title", "is invalid"))?;
        Ok(TaskDraft {
            description,
            status: status.unwrap_or(TaskStatus::Todo),
            priority: body.priority.map_or(Priority::Medium, Priority::from),
            due_date: body.due_date,
            owner_id: body.owner_id,
            ..TaskDraft::new(title)
        })
    }
}

/// `PATCH /tasks/{id}`: only the keys sent change; `null` clears `description`/`due_date`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchTaskBody {
    /// New title.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub title: Option<Option<String>>,
    /// New description, or null to clear it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    /// New status.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<StatusDto>)]
    pub status: Option<Option<StatusDto>>,
    /// `true` → done, `false` → todo.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<bool>)]
    pub completed: Option<Option<bool>>,
    /// New priority.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<PriorityDto>)]
    pub priority: Option<Option<PriorityDto>>,
    /// New deadline, or null to clear it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub due_date: Option<Option<DateTime<Utc>>>,
    /// New owner (admins only).
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Uuid>)]
    pub owner_id: Option<Option<Uuid>>,
}

impl TryFrom<PatchTaskBody> for TaskPatch {
    type Error = DomainError;

    fn try_from(body: PatchTaskBody) -> Result<Self, DomainError> {
        let mut v = Validator::new();
        let title = not_null("title", body.title, &mut v).and_then(|t| v.check(Title::parse(&t)));
        let description = body
            .description
            .map(|d| d.and_then(|d| v.check(Description::parse(&d))));
        let status = not_null("status", body.status, &mut v).map(TaskStatus::from);
        let completed = not_null("completed", body.completed, &mut v);
        let status = v.check(resolve_status(status, completed)).flatten();
        let priority = not_null("priority", body.priority, &mut v).map(Priority::from);
        let owner_id = not_null("owner_id", body.owner_id, &mut v);
        v.finish()?;
        Ok(TaskPatch {
            title,
            description,
            status,
            priority,
            due_date: body.due_date,
            owner_id,
        })
    }
}
