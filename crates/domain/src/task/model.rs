//! The task aggregate and its value objects.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::DomainError;

/// Where a task stands. `completed` is `status == Done`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum TaskStatus {
    /// Not started (the default).
    Todo,
    /// Being worked on.
    InProgress,
    /// Finished; `completed_at` is set.
    Done,
}

impl TaskStatus {
    /// Every status, in wire order.
    pub const ALL: [TaskStatus; 3] = [TaskStatus::Todo, TaskStatus::InProgress, TaskStatus::Done];

    /// The wire and storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Todo => "todo",
            TaskStatus::InProgress => "in_progress",
            TaskStatus::Done => "done",
        }
    }

    /// Parses the wire name.
    ///
    /// # Errors
    /// [`DomainError::Validation`] on `status` for an unknown value.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| {
                DomainError::invalid("status", "must be one of: todo, in_progress, done")
            })
    }
}

/// How urgent a task is; ordered by rank (low < medium < high).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
#[non_exhaustive]
pub enum Priority {
    /// Rank 1.
    Low,
    /// Rank 2 (the default).
    Medium,
    /// Rank 3.
    High,
}

impl Priority {
    /// Every priority, by rank.
    pub const ALL: [Priority; 3] = [Priority::Low, Priority::Medium, Priority::High];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Medium => "medium",
            Priority::High => "high",
        }
    }

    /// The rank stored and sorted on: 1, 2, 3.
    pub fn rank(self) -> i16 {
        match self {
            Priority::Low => 1,
            Priority::Medium => 2,
            Priority::High => 3,
        }
    }

    /// The priority of a stored rank.
    pub fn from_rank(rank: i16) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.rank() == rank)
    }

    /// Parses the wire name.
    ///
    /// # Errors
    /// [`DomainError::Validation`] on `priority` for an unknown value.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| DomainError::invalid("priority", "must be one of: low, medium, high"))
    }
}

/// A task title: 1–200 characters (code points) after trimming; stored trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Title(String);

impl Title {
    /// Maximum length in characters.
    pub const MAX_CHARS: usize = 200;

    /// Trims and validates.
    ///
    /// # Errors
    /// [`DomainError::Validation`] on `title` when empty, too long, or holding a NUL
    /// character.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        crate::error::refuse_nul("title", raw)?;
        let title = raw.trim();
        let count = title.chars().count();
        if (1..=Self::MAX_CHARS).contains(&count) {
            Ok(Self(title.to_owned()))
        } else {
            Err(DomainError::invalid("title", "must be 1 to 200 characters"))
        }
    }

    /// The title.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A task description: at most 10 000 characters, kept as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description(String);

impl Description {
    /// Maximum length in characters.
    pub const MAX_CHARS: usize = 10_000;

    /// Validates the length.
    ///
    /// # Errors
    /// [`DomainError::Validation`] on `description` when longer than 10 000 characters
    /// or holding a NUL character.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        crate::error::refuse_nul("description", raw)?;
        if raw.chars().count() <= Self::MAX_CHARS {
            Ok(Self(raw.to_owned()))
        } else {
            Err(DomainError::invalid(
                "description",
                "must be at most 10000 characters",
            ))
        }
    }

    /// The description.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    /// UUID v7.
    pub id: Uuid,
    /// The user the task belongs to.
    pub owner_id: Uuid,
    /// Trimmed, 1–200 characters.
    pub title: Title,
    /// Optional, ≤ 10 000 characters.
    pub description: Option<Description>,
    /// `todo`, `in_progress` or `done`.
    pub status: TaskStatus,
    /// `low`, `medium` or `high`.
    pub priority: Priority,
    /// Optional deadline (microseconds).
    pub due_date: Option<DateTime<Utc>>,
    /// Set when the status became `done`; `None` otherwise.
    pub completed_at: Option<DateTime<Utc>>,
    /// Creation instant (microseconds).
    pub created_at: DateTime<Utc>,
    /// Last change instant (microseconds).
    pub updated_at: DateTime<Utc>,
    /// Starts at 1 and rises by one on every change; the ETag.
    pub version: i64,
}

impl Task {
    /// `status == done`.
    pub fn completed(&self) -> bool {
        self.status == TaskStatus::Done
    }

    /// Moves to `status`, keeping `completed_at` in step: set (to `now`) on entering
    /// `done`, kept while staying `done`, cleared on leaving it.
    pub fn set_status(&mut self, status: TaskStatus, now: DateTime<Utc>) {
        self.completed_at = match (self.status, status) {
            (TaskStatus::Done, TaskStatus::Done) => self.completed_at.or(Some(now)),
            (_, TaskStatus::Done) => Some(now),
            _ => None,
        };
        self.status = status;
    }
}

/// Filters of the task list. `owner_id` is always set for non-admins.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct TaskFilter {
    /// Only this owner's tasks.
    pub owner_id: Option<Uuid>,
    /// Only tasks in this status.
    pub status: Option<TaskStatus>,
    /// Only completed (or not completed) tasks.
    pub completed: Option<bool>,
    /// Only tasks of this priority.
    pub priority: Option<Priority>,
    /// Literal, case-insensitive substring of title or description.
    pub q: Option<String>,
    /// Only tasks due strictly before this instant.
    pub due_before: Option<DateTime<Utc>>,
    /// Only tasks due strictly after this instant.
    pub due_after: Option<DateTime<Utc>>,
}

/// A key the task list can be sorted by.
///
/// Exhaustive on purpose: a new key is a breaking change for every adapter of
/// [`TaskRepository`](crate::task::TaskRepository), which must then sort by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskSortKey {
    /// Creation instant.
    CreatedAt,
    /// Last change instant.
    UpdatedAt,
    /// Deadline; tasks without one sort last in either direction.
    DueDate,
    /// Rank: low < medium < high.
    Priority,
    /// By Unicode code point.
    Title,
}

/// A sort order: a key, a direction, and always the id as tie-breaker in that direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TaskSort {
    /// What to sort by.
    pub key: TaskSortKey,
    /// Descending when true.
    pub descending: bool,
}

impl TaskSort {
    /// Parses `key` or `-key` (descending).
    ///
    /// # Errors
    /// [`DomainError::Validation`] on `sort` for an unknown key.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let (descending, name) = match raw.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, raw),
        };
        let key = match name {
            "created_at" => TaskSortKey::CreatedAt,
            "updated_at" => TaskSortKey::UpdatedAt,
            "due_date" => TaskSortKey::DueDate,
            "priority" => TaskSortKey::Priority,
            "title" => TaskSortKey::Title,
            _ => {
                return Err(DomainError::invalid(
                    "sort",
                    "must be one of: created_at, updated_at, due_date, priority, title, optionally prefixed with '-'",
                ));
            }
        };
        Ok(Self { key, descending })
    }
}

impl Default for TaskSort {
    /// Newest first.
    fn default() -> Self {
        Self {
            key: TaskSortKey::CreatedAt,
            descending: true,
        }
    }
}
