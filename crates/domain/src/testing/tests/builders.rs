//! `UserBuilder` and `TaskBuilder`: their defaults and setters.

use uuid::Uuid;

use super::{with_micros, with_nanos};
use crate::task::{Priority, TaskStatus};
use crate::testing::{TaskBuilder, UserBuilder};
use crate::tests::fixtures::{earlier, now};
use crate::user::Role;

#[test]
fn user_builder_defaults_to_an_active_ordinary_user_named_after_its_name() {
    let alice = UserBuilder::new("alice").build();
    assert_eq!(alice.username.as_ref().map(|n| n.as_str()), Some("alice"));
    assert_eq!(alice.email.as_str(), "alice@example.com");
    assert_eq!(alice.full_name, None);
    assert_eq!((alice.role, alice.is_active), (Role::User, true));
    assert_eq!((alice.created_at, alice.updated_at), (earlier(), earlier()));
    assert_ne!(
        alice.id,
        UserBuilder::new("alice").build().id,
        "every built user has an id of its own"
    );
}

#[test]
fn user_builder_setters_set_every_field() {
    let id = Uuid::now_v7();
    let user = UserBuilder::new("Root_1")
        .id(id)
        .email("Boss@Example.COM")
        .full_name("  Ada Lovelace ")
        .admin()
        .inactive()
        .created_at(with_nanos())
        .build();
    assert_eq!(user.id, id);
    assert_eq!(user.username.as_ref().map(|n| n.as_str()), Some("Root_1"));
    assert_eq!(user.email.as_str(), "boss@example.com");
    assert_eq!(
        user.full_name.as_ref().map(|n| n.as_str()),
        Some("Ada Lovelace")
    );
    assert_eq!((user.role, user.is_active), (Role::Admin, false));
    assert!(user.is_admin() && !user.is_active_admin());
    assert_eq!(
        (user.created_at, user.updated_at),
        (with_micros(), with_micros())
    );
}

#[test]
#[should_panic(expected = "a valid username")]
fn user_builder_panics_on_a_name_that_is_no_username() {
    UserBuilder::new("x").build();
}

// ---------------------------------------------------------------- TaskBuilder

#[test]
fn task_builder_defaults_are_the_contracts() {
    let owner = Uuid::now_v7();
    let task = TaskBuilder::new(owner).build();
    assert_eq!(task.owner_id, owner);
    assert_eq!(task.title.as_str(), "A task");
    assert_eq!(task.description, None);
    assert_eq!(
        (task.status, task.priority, task.version),
        (TaskStatus::Todo, Priority::Medium, 1)
    );
    assert_eq!((task.due_date, task.completed_at), (None, None));
    assert_eq!((task.created_at, task.updated_at), (earlier(), earlier()));
    assert_ne!(task.id, TaskBuilder::new(owner).build().id);
}

#[test]
fn task_builder_setters_set_every_field() {
    let (id, owner) = (Uuid::now_v7(), Uuid::now_v7());
    let task = TaskBuilder::new(owner)
        .id(id)
        .title("  Report ")
        .description("for the board")
        .status(TaskStatus::InProgress)
        .priority(Priority::High)
        .due(with_nanos())
        .version(7)
        .created_at(now())
        .build();
    assert_eq!((task.id, task.owner_id), (id, owner));
    assert_eq!(task.title.as_str(), "Report");
    assert_eq!(
        task.description.as_ref().map(|d| d.as_str()),
        Some("for the board")
    );
    assert_eq!(
        (task.status, task.priority, task.version),
        (TaskStatus::InProgress, Priority::High, 7)
    );
    assert_eq!(task.due_date, Some(with_micros()));
    assert_eq!(task.completed_at, None);
    assert_eq!((task.created_at, task.updated_at), (now(), now()));
}

#[test]
fn a_task_built_done_was_completed_when_it_was_created() {
    let task = TaskBuilder::new(Uuid::now_v7())
        .status(TaskStatus::Done)
        .build();
    assert!(task.completed());
    assert_eq!(task.completed_at, Some(earlier()));

    // Whatever order the setters come in.
    let task = TaskBuilder::new(Uuid::now_v7())
        .status(TaskStatus::Done)
        .created_at(now())
        .build();
    assert_eq!(task.completed_at, Some(now()));
}

#[test]
#[should_panic(expected = "a valid title")]
fn task_builder_panics_on_a_blank_title() {
    TaskBuilder::new(Uuid::now_v7()).title("   ").build();
}
