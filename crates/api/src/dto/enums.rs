//! The wire forms of the domain's enums, with their OpenAPI schemas. The domain stays
//! free of serde and utoipa. Requests parse into these and convert to the domain's
//! enums; responses write the domain's own wire names (`as_str`), which stay total
//! when the domain's (non-exhaustive) enums grow.

use serde::{Deserialize, Serialize};
use taskforge_domain::task::{Priority, TaskStatus};
use taskforge_domain::user::Role;
use utoipa::ToSchema;

/// Where a task stands; `completed` is `status == done`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = TaskStatus)]
pub enum StatusDto {
    /// Not started.
    Todo,
    /// Being worked on.
    InProgress,
    /// Finished.
    Done,
}

impl From<StatusDto> for TaskStatus {
    fn from(status: StatusDto) -> Self {
        match status {
            StatusDto::Todo => Self::Todo,
            StatusDto::InProgress => Self::InProgress,
            StatusDto::Done => Self::Done,
        }
    }
}

/// Task priority, ordered low < medium < high.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = Priority)]
pub enum PriorityDto {
    /// Rank 1.
    Low,
    /// Rank 2.
    Medium,
    /// Rank 3.
    High,
}

impl From<PriorityDto> for Priority {
    fn from(priority: PriorityDto) -> Self {
        match priority {
            PriorityDto::Low => Self::Low,
            PriorityDto::Medium => Self::Medium,
            PriorityDto::High => Self::High,
        }
    }
}

/// What a user may administer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = Role)]
pub enum RoleDto {
    /// Own tasks and account only.
    User,
    /// Manages users, sees every task.
    Admin,
}

impl From<RoleDto> for Role {
    fn from(role: RoleDto) -> Self {
        match role {
            RoleDto::User => Self::User,
            RoleDto::Admin => Self::Admin,
        }
    }
}
