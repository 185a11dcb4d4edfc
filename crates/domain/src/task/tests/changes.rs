//! The change every write logs with it (`WriteLog.change`), and `TaskChange` itself.

use mockall::Sequence;
use uuid::Uuid;

use super::{Ports, Write, description, due, fresh, once, rename, task_of, title};
use crate::DomainError;
use crate::idempotency::{Claim, IdempotentOutcome};
use crate::task::{
    ChangeOp, FieldChange, FieldValue, Precondition, Priority, Task, TaskChange, TaskDraft,
    TaskPatch, TaskScope, TaskStatus,
};
use crate::testing::{TaskBuilder, UserBuilder};
use crate::tests::fixtures::{admin, earlier, member, now};

fn field(name: &str, old: FieldValue, new: FieldValue) -> FieldChange {
    FieldChange {
        field: name.to_owned(),
        old,
        new,
    }
}

fn text(raw: &str) -> FieldValue {
    FieldValue::Text(raw.to_owned())
}

/// The names of the fields a change lists, in order.
fn names(change: &TaskChange) -> Vec<&str> {
    change.changes.iter().map(|c| c.field.as_str()).collect()
}

// ---------------------------------------------------------------- what each write logs

#[tokio::test]
async fn create_logs_a_creation_by_the_actor_with_every_field_from_null() {
    let root = admin();
    let owner = Uuid::now_v7();
    let placeholder = task_of(&root, 1, TaskStatus::Todo);
    let mut ports = Ports::default();
    let writes = Write::Create.succeeds(&mut ports, &placeholder);
    let draft = TaskDraft {
        description: Some(description("details")),
        status: TaskStatus::Done,
        priority: Priority::Low,
        due_date: Some(due()),
        owner_id: Some(owner),
        ..TaskDraft::new(title("Buy milk"))
    };
    let task = fresh(
        ports
            .service()
            .create(&root, TaskScope::Visible, draft, None)
            .await,
    );
    let (written, log) = writes.only();
    assert_eq!(written.as_ref(), Some(&task));
    assert_eq!(
        log.change,
        TaskChange {
            task_id: task.id,
            owner_id: owner,
            previous_owner_id: None,
            op: ChangeOp::Created,
            version: 1,
            at: now(),
            actor_id: root.id,
            changes: vec![
                field("id", FieldValue::Null, FieldValue::Uuid(task.id)),
                field("owner_id", FieldValue::Null, FieldValue::Uuid(owner)),
                field("title", FieldValue::Null, text("Buy milk")),
                field("description", FieldValue::Null, text("details")),
                field("status", FieldValue::Null, text("done")),
                field("completed", FieldValue::Null, FieldValue::Bool(true)),
                field("priority", FieldValue::Null, text("low")),
                field("due_date", FieldValue::Null, FieldValue::Timestamp(due())),
                field(
                    "completed_at",
                    FieldValue::Null,
                    FieldValue::Timestamp(now())
                ),
                field("created_at", FieldValue::Null, FieldValue::Timestamp(now())),
            ],
            after: Some(task),
        }
    );
    assert_eq!(log.completion, None);
}

#[tokio::test]
async fn create_logs_absent_optional_fields_as_null_to_null() {
    let actor = member();
    let placeholder = task_of(&actor, 1, TaskStatus::Todo);
    let mut ports = Ports::default();
    let writes = Write::Create.succeeds(&mut ports, &placeholder);
    fresh(
        ports
            .service()
            .create(&actor, TaskScope::Visible, TaskDraft::new(title("t")), None)
            .await,
    );
    let change = writes.only().1.change;
    assert_eq!(change.actor_id, actor.id);
    assert_eq!(change.owner_id, actor.id);
    for name in ["description", "due_date", "completed_at"] {
        let listed = change.changes.iter().find(|c| c.field == name).unwrap();
        assert_eq!(
            (&listed.old, &listed.new),
            (&FieldValue::Null, &FieldValue::Null),
            "{name}"
        );
    }
}

#[tokio::test]
async fn patch_logs_only_the_fields_it_changed_with_old_and_new_values() {
    let actor = member();
    let stored = task_of(&actor, 3, TaskStatus::InProgress);
    let mut ports = Ports::default();
    let writes = Write::Patch.succeeds(&mut ports, &stored);
    let patch = TaskPatch {
        title: Some(title("Renamed")),
        priority: Some(Priority::Low),
        // Unchanged values are no change.
        status: Some(TaskStatus::InProgress),
        description: Some(Some(description("for the board"))),
        ..TaskPatch::default()
    };
    let task = fresh(
        ports
            .service()
            .patch(&actor, TaskScope::Visible, stored.id, None, patch, None)
            .await,
    );
    let (_, log) = writes.only();
    assert_eq!(
        log.change,
        TaskChange {
            task_id: stored.id,
            owner_id: actor.id,
            previous_owner_id: None,
            op: ChangeOp::Updated,
            version: 4,
            at: now(),
            actor_id: actor.id,
            changes: vec![
                field("title", text("Write the report"), text("Renamed")),
                field("priority", text("high"), text("low")),
            ],
            after: Some(task),
        }
    );
}

#[tokio::test]
async fn replace_logs_every_field_it_reset_to_its_default() {
    let actor = member();
    let stored = task_of(&actor, 2, TaskStatus::InProgress);
    let mut ports = Ports::default();
    let writes = Write::Replace.succeeds(&mut ports, &stored);
    let task = fresh(
        ports
            .service()
            .replace(
                &actor,
                TaskScope::Visible,
                stored.id,
                None,
                TaskDraft::new(title("Replaced")),
                None,
            )
            .await,
    );
    let change = writes.only().1.change;
    assert_eq!(
        change.changes,
        [
            field("title", text("Write the report"), text("Replaced")),
            field("description", text("for the board"), FieldValue::Null),
            field("status", text("in_progress"), text("todo")),
            field("priority", text("high"), text("medium")),
            field("due_date", FieldValue::Timestamp(due()), FieldValue::Null),
        ]
    );
    assert_eq!(
        (change.op, change.version, change.at, change.after),
        (ChangeOp::Updated, 3, now(), Some(task))
    );
}

#[tokio::test]
async fn toggling_an_open_task_logs_status_completed_and_completed_at() {
    let actor = member();
    let stored = task_of(&actor, 1, TaskStatus::Todo);
    let mut ports = Ports::default();
    let writes = Write::Toggle.succeeds(&mut ports, &stored);
    fresh(
        ports
            .service()
            .toggle_complete(&actor, TaskScope::Visible, stored.id, None, None)
            .await,
    );
    let change = writes.only().1.change;
    assert_eq!(
        change.changes,
        [
            field("status", text("todo"), text("done")),
            field("completed", FieldValue::Bool(false), FieldValue::Bool(true)),
            field(
                "completed_at",
                FieldValue::Null,
                FieldValue::Timestamp(now())
            ),
        ]
    );
    assert_eq!((change.version, change.at), (2, now()));
}

#[tokio::test]
async fn toggling_a_done_task_logs_the_completion_undone() {
    let actor = member();
    // Built done: completed when it was created, `earlier`.
    let stored = task_of(&actor, 5, TaskStatus::Done);
    let mut ports = Ports::default();
    let writes = Write::Toggle.succeeds(&mut ports, &stored);
    fresh(
        ports
            .service()
            .toggle_complete(&actor, TaskScope::Visible, stored.id, None, None)
            .await,
    );
    let change = writes.only().1.change;
    assert_eq!(
        change.changes,
        [
            field("status", text("done"), text("todo")),
            field("completed", FieldValue::Bool(true), FieldValue::Bool(false)),
            field(
                "completed_at",
                FieldValue::Timestamp(earlier()),
                FieldValue::Null
            ),
        ]
    );
    assert_eq!(change.version, 6);
}

#[tokio::test]
async fn reassigning_a_task_logs_the_new_owner_and_the_previous_one() {
    let alice = member();
    let bob = UserBuilder::new("bob").build();
    let root = admin();
    let stored = task_of(&alice, 1, TaskStatus::Todo);
    let mut ports = Ports::default();
    let found = bob.clone();
    ports
        .users
        .expect_find_by_id()
        .times(1)
        .returning(move |_| Ok(Some(found.clone())));
    let writes = Write::Patch.succeeds(&mut ports, &stored);
    let patch = TaskPatch {
        owner_id: Some(bob.id),
        ..TaskPatch::default()
    };
    fresh(
        ports
            .service()
            .patch(&root, TaskScope::Visible, stored.id, None, patch, None)
            .await,
    );
    let change = writes.only().1.change;
    assert_eq!(
        (change.owner_id, change.previous_owner_id, change.actor_id),
        (bob.id, Some(alice.id), root.id)
    );
    assert_eq!(
        change.changes,
        [field(
            "owner_id",
            FieldValue::Uuid(alice.id),
            FieldValue::Uuid(bob.id)
        )]
    );
}

#[tokio::test]
async fn a_write_that_changes_nothing_still_logs_an_update_of_no_field_at_the_new_version() {
    let actor = member();
    let stored = task_of(&actor, 3, TaskStatus::Todo);
    let mut ports = Ports::default();
    let writes = Write::Patch.succeeds(&mut ports, &stored);
    fresh(
        ports
            .service()
            .patch(
                &actor,
                TaskScope::Visible,
                stored.id,
                None,
                TaskPatch::default(),
                None,
            )
            .await,
    );
    let change = writes.only().1.change;
    assert_eq!(
        (change.op, change.version, change.changes),
        (ChangeOp::Updated, 4, vec![])
    );
}

#[tokio::test]
async fn delete_logs_a_deletion_of_the_last_version_by_the_actor_without_fields() {
    let alice = member();
    let root = admin();
    let stored = task_of(&alice, 7, TaskStatus::Todo);
    let mut ports = Ports::default();
    let writes = Write::Delete.succeeds(&mut ports, &stored);
    fresh(
        ports
            .service()
            .delete(&root, TaskScope::Visible, stored.id, None, None)
            .await,
    );
    let (task, log) = writes.only();
    assert_eq!(task, None);
    assert_eq!(
        log.change,
        TaskChange {
            task_id: stored.id,
            owner_id: alice.id,
            previous_owner_id: None,
            op: ChangeOp::Deleted,
            version: 7,
            at: now(),
            actor_id: root.id,
            changes: vec![],
            after: None,
        }
    );
    assert_eq!(log.completion, None);
}

#[tokio::test]
async fn every_write_logs_the_change_of_its_own_task() {
    for write in Write::ALL {
        let actor = member();
        let stored = task_of(&actor, 3, TaskStatus::Todo);
        let mut ports = Ports::default();
        let writes = write.succeeds(&mut ports, &stored);
        let result = fresh(
            write
                .run(&ports.service(), &actor, &stored, None, None)
                .await,
        );
        let (task, log) = writes.only();
        assert_eq!(task, result, "{write:?}");
        let id = task.as_ref().map_or(stored.id, |t| t.id);
        assert_eq!(log.change.task_id, id, "{write:?}");
        assert_eq!(
            log.change.after.as_ref().map(|t| t.version),
            task.as_ref().map(|t| t.version),
            "{write:?}"
        );
        assert_eq!(log.change.at, now(), "{write:?}");
    }
}

// ---------------------------------------------------------------- lost races

#[tokio::test]
async fn the_change_of_a_write_that_wins_after_a_lost_race_describes_the_re_read_task() {
    let actor = member();
    let first = task_of(&actor, 3, TaskStatus::Todo);
    let second = Task {
        version: 4,
        title: title("Changed meanwhile"),
        priority: Priority::Low,
        ..first.clone()
    };
    let key = once("race-1", "PATCH");
    let logs = super::Writes::default();
    let mut seq = Sequence::new();
    let mut ports = Ports::default();
    ports
        .keys
        .expect_claim()
        .times(1)
        .returning(|_, _, _, _, _, _| Ok(Claim::Claimed));
    for (read, wins) in [(first.clone(), false), (second.clone(), true)] {
        let sink = logs.clone();
        ports
            .tasks
            .expect_find_by_id()
            .times(1)
            .in_sequence(&mut seq)
            .returning(move |_| Ok(Some(read.clone())));
        ports
            .tasks
            .expect_update()
            .times(1)
            .in_sequence(&mut seq)
            .returning(move |task, _, log| {
                sink.push(Some(task.clone()), log);
                if wins {
                    Ok(())
                } else {
                    Err(DomainError::PreconditionFailed("version moved".into()))
                }
            });
    }
    let task = fresh(
        ports
            .service()
            .patch(
                &actor,
                TaskScope::Visible,
                first.id,
                None,
                rename(),
                Some(&key),
            )
            .await,
    );
    let all = logs.all();
    assert_eq!(all.len(), 2);
    let (_, lost) = &all[0];
    let (_, won) = &all[1];
    assert_eq!(lost.change.version, 4, "the lost attempt wrote from v3");
    assert_eq!(
        won.change.changes,
        [field("title", text("Changed meanwhile"), text("Renamed"))],
        "old values are the re-read task's, and its priority is no change"
    );
    assert_eq!(won.change.version, 5);
    assert_eq!(won.change, TaskChange::updated(&second, &task, actor.id));
    assert_eq!(
        won.completion.as_ref().map(|c| &c.outcome),
        Some(&IdempotentOutcome::Task(Box::new(task)))
    );
}

#[tokio::test]
async fn the_change_of_a_delete_that_wins_after_a_lost_race_has_the_re_read_version() {
    for precondition in [None, Some(Precondition::Any)] {
        the_change_of_a_delete_after_a_lost_race(precondition).await;
    }
}

async fn the_change_of_a_delete_after_a_lost_race(precondition: Option<Precondition>) {
    let actor = member();
    let first = task_of(&actor, 3, TaskStatus::Todo);
    let second = Task {
        version: 4,
        ..first.clone()
    };
    let logs = super::Writes::default();
    let mut seq = Sequence::new();
    let mut ports = Ports::default();
    for (read, wins) in [(first.clone(), false), (second, true)] {
        let sink = logs.clone();
        ports
            .tasks
            .expect_find_by_id()
            .times(1)
            .in_sequence(&mut seq)
            .returning(move |_| Ok(Some(read.clone())));
        ports
            .tasks
            .expect_delete()
            .times(1)
            .in_sequence(&mut seq)
            .returning(move |_, _, log| {
                sink.push(None, log);
                if wins {
                    Ok(())
                } else {
                    Err(DomainError::PreconditionFailed("version moved".into()))
                }
            });
    }
    fresh(
        ports
            .service()
            .delete(
                &actor,
                TaskScope::Visible,
                first.id,
                precondition.clone(),
                None,
            )
            .await,
    );
    let versions: Vec<i64> = logs.all().iter().map(|(_, l)| l.change.version).collect();
    assert_eq!(versions, [3, 4], "{precondition:?}");
}

// ---------------------------------------------------------------- TaskChange

/// A stored task with every optional field set, open, at version 2.
fn stored() -> Task {
    task_of(&member(), 2, TaskStatus::InProgress)
}

/// `before` as a write leaves it: the next version, changed now.
fn next(before: &Task) -> Task {
    Task {
        version: before.version + 1,
        updated_at: now(),
        ..before.clone()
    }
}

#[test]
fn updated_lists_no_field_when_only_the_version_and_updated_at_moved() {
    let before = stored();
    let change = TaskChange::updated(&before, &next(&before), Uuid::now_v7());
    assert_eq!(change.changes, []);
    assert_eq!((change.version, change.at), (3, now()));
}

#[test]
fn updated_lists_only_the_fields_that_differ_in_task_order() {
    let before = stored();
    let after = Task {
        priority: Priority::Low,
        title: title("New"),
        ..next(&before)
    };
    let change = TaskChange::updated(&before, &after, Uuid::now_v7());
    assert_eq!(
        change.changes,
        [
            field("title", text("Write the report"), text("New")),
            field("priority", text("high"), text("low")),
        ]
    );
}

#[test]
fn updated_lists_completed_when_the_status_enters_done() {
    let before = stored();
    let mut after = next(&before);
    after.set_status(TaskStatus::Done, now());
    let change = TaskChange::updated(&before, &after, Uuid::now_v7());
    assert_eq!(names(&change), ["status", "completed", "completed_at"]);
    assert_eq!(
        change.changes[1],
        field("completed", FieldValue::Bool(false), FieldValue::Bool(true))
    );
}

#[test]
fn updated_lists_completed_when_the_status_leaves_done() {
    let before = task_of(&member(), 2, TaskStatus::Done);
    let mut after = next(&before);
    after.set_status(TaskStatus::InProgress, now());
    let change = TaskChange::updated(&before, &after, Uuid::now_v7());
    assert_eq!(
        change.changes,
        [
            field("status", text("done"), text("in_progress")),
            field("completed", FieldValue::Bool(true), FieldValue::Bool(false)),
            field(
                "completed_at",
                FieldValue::Timestamp(earlier()),
                FieldValue::Null
            ),
        ]
    );
}

#[test]
fn updated_does_not_list_completed_between_two_open_statuses() {
    let before = stored();
    let mut after = next(&before);
    after.set_status(TaskStatus::Todo, now());
    let change = TaskChange::updated(&before, &after, Uuid::now_v7());
    assert_eq!(
        change.changes,
        [field("status", text("in_progress"), text("todo"))]
    );
}

#[test]
fn updated_lists_a_cleared_description_as_text_to_null() {
    let before = stored();
    let after = Task {
        description: None,
        ..next(&before)
    };
    let change = TaskChange::updated(&before, &after, Uuid::now_v7());
    assert_eq!(
        change.changes,
        [field(
            "description",
            text("for the board"),
            FieldValue::Null
        )]
    );
}

#[test]
fn updated_lists_a_new_due_date_as_timestamps() {
    let before = TaskBuilder::new(Uuid::now_v7()).build();
    let after = Task {
        due_date: Some(due()),
        ..next(&before)
    };
    let change = TaskChange::updated(&before, &after, Uuid::now_v7());
    assert_eq!(
        change.changes,
        [field(
            "due_date",
            FieldValue::Null,
            FieldValue::Timestamp(due())
        )]
    );
}

#[test]
fn updated_names_the_previous_owner_only_when_the_owner_changed() {
    let before = stored();
    let actor = Uuid::now_v7();
    let kept = TaskChange::updated(&before, &next(&before), actor);
    assert_eq!(
        (kept.owner_id, kept.previous_owner_id),
        (before.owner_id, None)
    );
    let new_owner = Uuid::now_v7();
    let after = Task {
        owner_id: new_owner,
        ..next(&before)
    };
    let moved = TaskChange::updated(&before, &after, actor);
    assert_eq!(
        (moved.owner_id, moved.previous_owner_id, moved.actor_id),
        (new_owner, Some(before.owner_id), actor)
    );
    assert_eq!(moved.after, Some(after));
}

#[test]
fn created_lists_every_field_but_version_and_updated_at_from_null() {
    let task = TaskBuilder::new(Uuid::now_v7()).version(1).build();
    let change = TaskChange::created(&task, task.owner_id);
    assert_eq!(
        names(&change),
        [
            "id",
            "owner_id",
            "title",
            "description",
            "status",
            "completed",
            "priority",
            "due_date",
            "completed_at",
            "created_at"
        ]
    );
    assert!(change.changes.iter().all(|c| c.old == FieldValue::Null));
    assert_eq!(
        (change.op, change.at, change.previous_owner_id),
        (ChangeOp::Created, task.created_at, None)
    );
}

#[test]
fn deleted_lists_no_field_and_keeps_the_owner_and_last_version() {
    let task = stored();
    let actor = Uuid::now_v7();
    let change = TaskChange::deleted(&task, actor, now());
    assert_eq!(
        change,
        TaskChange {
            task_id: task.id,
            owner_id: task.owner_id,
            previous_owner_id: None,
            op: ChangeOp::Deleted,
            version: 2,
            at: now(),
            actor_id: actor,
            changes: vec![],
            after: None,
        }
    );
}

#[test]
fn a_change_is_visible_to_its_owner_its_previous_owner_and_admins_only() {
    let before = stored();
    let new_owner = Uuid::now_v7();
    let moved = TaskChange::updated(
        &before,
        &Task {
            owner_id: new_owner,
            ..next(&before)
        },
        Uuid::now_v7(),
    );
    assert!(moved.visible_to(Some(new_owner)));
    assert!(moved.visible_to(Some(before.owner_id)));
    assert!(moved.visible_to(None));
    assert!(!moved.visible_to(Some(Uuid::now_v7())));

    let kept = TaskChange::updated(&before, &next(&before), Uuid::now_v7());
    assert!(kept.visible_to(Some(before.owner_id)));
    assert!(!kept.visible_to(Some(new_owner)));
}

#[test]
fn a_task_taken_from_its_owner_is_a_deletion_to_them_and_an_update_to_the_rest() {
    let before = stored();
    let new_owner = Uuid::now_v7();
    let after = Task {
        owner_id: new_owner,
        ..next(&before)
    };
    let moved = TaskChange::updated(&before, &after, Uuid::now_v7());
    assert_eq!(
        moved.seen_by(Some(before.owner_id)),
        (ChangeOp::Deleted, None)
    );
    assert_eq!(
        moved.seen_by(Some(new_owner)),
        (ChangeOp::Updated, Some(&after))
    );
    assert_eq!(moved.seen_by(None), (ChangeOp::Updated, Some(&after)));
}

#[test]
fn change_ops_parse_their_own_names_and_nothing_else() {
    for (op, name) in [
        (ChangeOp::Created, "created"),
        (ChangeOp::Updated, "updated"),
        (ChangeOp::Deleted, "deleted"),
    ] {
        assert_eq!(op.as_str(), name);
        assert_eq!(ChangeOp::parse(name), Some(op));
    }
    assert_eq!(ChangeOp::parse("Created"), None);
    assert_eq!(ChangeOp::parse(""), None);
}
