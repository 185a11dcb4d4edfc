//! Valid users and tasks in one line, with every field settable.

use chrono::{DateTime, TimeZone, Utc};
use uuid::Uuid;

use crate::task::{Description, Priority, Task, TaskStatus, Title};
use crate::user::{Email, FullName, Role, User, Username};

/// 2026-01-02T03:04:05Z: when built users and tasks were created unless told otherwise.
fn created() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5)
        .single()
        .unwrap_or_default()
}

/// Builds a [`User`]: `UserBuilder::new("alice").admin().build()` is an active admin
/// with username `alice` and email `alice@example.com`.
///
/// # Panics
/// [`UserBuilder::build`] panics when a name does not make a valid username or email:
/// builders are for tests.
#[derive(Debug, Clone)]
pub struct UserBuilder {
    id: Uuid,
    name: String,
    email: Option<String>,
    full_name: Option<String>,
    role: Role,
    is_active: bool,
    at: DateTime<Utc>,
}

impl UserBuilder {
    /// An active ordinary user called `name` (3–32 characters of `A–Z a–z 0–9 _ . -`).
    pub fn new(name: &str) -> Self {
        Self {
            id: Uuid::now_v7(),
            name: name.to_owned(),
            email: None,
            full_name: None,
            role: Role::User,
            is_active: true,
            at: created(),
        }
    }

    /// With this id.
    pub fn id(mut self, id: Uuid) -> Self {
        self.id = id;
        self
    }

    /// With this email instead of `<name>@example.com`.
    pub fn email(mut self, email: &str) -> Self {
        self.email = Some(email.to_owned());
        self
    }

    /// With a display name.
    pub fn full_name(mut self, full_name: &str) -> Self {
        self.full_name = Some(full_name.to_owned());
        self
    }

    /// An admin.
    pub fn admin(mut self) -> Self {
        self.role = Role::Admin;
        self
    }

    /// Deactivated.
    pub fn inactive(mut self) -> Self {
        self.is_active = false;
        self
    }

    /// Created (and last changed) at `at`.
    pub fn created_at(mut self, at: DateTime<Utc>) -> Self {
        self.at = crate::clock::to_micros(at);
        self
    }

    /// The user.
    pub fn build(self) -> User {
        let email = self
            .email
            .unwrap_or_else(|| format!("{}@example.com", self.name));
        User {
            id: self.id,
            email: Email::parse(&email).expect("a valid email for a built user"),
            username: Some(Username::parse(&self.name).expect("a valid username")),
            full_name: self
                .full_name
                .and_then(|name| FullName::parse(&name).expect("a valid full name")),
            role: self.role,
            is_active: self.is_active,
            created_at: self.at,
            updated_at: self.at,
        }
    }
}

/// Builds a [`Task`]: `TaskBuilder::new(owner.id).title("Report").status(TaskStatus::Done).build()`.
/// Defaults are the contract's: no description, `todo`, `medium`, no due date, version 1.
///
/// # Panics
/// [`TaskBuilder::build`] panics on an invalid title or description: builders are for
/// tests.
#[derive(Debug, Clone)]
pub struct TaskBuilder {
    id: Uuid,
    owner_id: Uuid,
    title: String,
    description: Option<String>,
    status: TaskStatus,
    priority: Priority,
    due_date: Option<DateTime<Utc>>,
    version: i64,
    at: DateTime<Utc>,
}

impl TaskBuilder {
    /// A task of `owner_id` titled "A task".
    pub fn new(owner_id: Uuid) -> Self {
        Self {
            id: Uuid::now_v7(),
            owner_id,
            title: "A task".to_owned(),
            description: None,
            status: TaskStatus::Todo,
            priority: Priority::Medium,
            due_date: None,
            version: 1,
            at: created(),
        }
    }

    /// With this id.
    pub fn id(mut self, id: Uuid) -> Self {
        self.id = id;
        self
    }

    /// With this title.
    pub fn title(mut self, title: &str) -> Self {
        self.title = title.to_owned();
        self
    }

    /// With this description.
    pub fn description(mut self, description: &str) -> Self {
        self.description = Some(description.to_owned());
        self
    }

    /// In this status (`done` sets `completed_at` to the creation instant).
    pub fn status(mut self, status: TaskStatus) -> Self {
        self.status = status;
        self
    }

    /// Of this priority.
    pub fn priority(mut self, priority: Priority) -> Self {
        self.priority = priority;
        self
    }

    /// Due at `due`.
    pub fn due(mut self, due: DateTime<Utc>) -> Self {
        self.due_date = Some(crate::clock::to_micros(due));
        self
    }

    /// At this version.
    pub fn version(mut self, version: i64) -> Self {
        self.version = version;
        self
    }

    /// Created (and last changed) at `at`.
    pub fn created_at(mut self, at: DateTime<Utc>) -> Self {
        self.at = crate::clock::to_micros(at);
        self
    }

    /// The task.
    pub fn build(self) -> Task {
        let mut task = Task {
            id: self.id,
            owner_id: self.owner_id,
            title: Title::parse(&self.title).expect("a valid title for a built task"),
            description: self
                .description
                .map(|d| Description::parse(&d).expect("a valid description")),
            status: TaskStatus::Todo,
            priority: self.priority,
            due_date: self.due_date,
            completed_at: None,
            created_at: self.at,
            updated_at: self.at,
            version: self.version,
        };
        task.set_status(self.status, self.at);
        task
    }
}
