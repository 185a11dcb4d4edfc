//! The task's value objects (title, description, status, priority, sort) and how
//! `completed_at` follows the status.

use super::{description, task_of, title};
use crate::task::{
    Description, Priority, TaskDraft, TaskSort, TaskSortKey, TaskStatus, Title, resolve_status,
};
use crate::tests::fixtures::{earlier, invalid_fields, member, now};

// ---------------------------------------------------------------- value objects

#[test]
fn title_is_trimmed() {
    assert_eq!(title("  Buy milk \n").as_str(), "Buy milk");
}

#[test]
fn title_of_1_to_200_code_points_is_accepted() {
    assert_eq!(title("x").as_str(), "x");
    assert_eq!(title(&"a".repeat(200)).as_str(), "a".repeat(200));
    assert_eq!(title(&"😀".repeat(200)).as_str(), "😀".repeat(200));
    let padded = format!("   {}   ", "a".repeat(200));
    assert_eq!(title(&padded).as_str().chars().count(), 200);
}

#[test]
fn title_of_201_code_points_is_rejected_on_title() {
    assert_eq!(invalid_fields(Title::parse(&"a".repeat(201))), ["title"]);
    assert_eq!(invalid_fields(Title::parse(&"😀".repeat(201))), ["title"]);
}

#[test]
fn empty_or_whitespace_only_title_is_rejected() {
    for raw in ["", " ", " \t\r\n ", "\u{3000}"] {
        assert_eq!(invalid_fields(Title::parse(raw)), ["title"], "{raw:?}");
    }
}

#[test]
fn description_allows_10000_characters_and_rejects_10001() {
    assert!(Description::parse(&"é".repeat(10_000)).is_ok());
    assert!(Description::parse("").is_ok());
    assert_eq!(
        invalid_fields(Description::parse(&"é".repeat(10_001))),
        ["description"]
    );
    assert_eq!(
        invalid_fields(Description::parse(&"a".repeat(10_001))),
        ["description"]
    );
}

#[test]
fn description_is_kept_as_sent() {
    assert_eq!(description("  two\nlines  ").as_str(), "  two\nlines  ");
}

#[test]
fn task_status_parses_its_wire_names_and_rejects_others_on_status() {
    for (raw, status) in [
        ("todo", TaskStatus::Todo),
        ("in_progress", TaskStatus::InProgress),
        ("done", TaskStatus::Done),
    ] {
        assert_eq!(TaskStatus::parse(raw).unwrap(), status);
        assert_eq!(status.as_str(), raw);
    }
    for raw in ["", "DONE", "in-progress", "completed"] {
        assert_eq!(
            invalid_fields(TaskStatus::parse(raw)),
            ["status"],
            "{raw:?}"
        );
    }
}

#[test]
fn priority_parses_its_wire_names_and_rejects_others_on_priority() {
    for (raw, priority) in [
        ("low", Priority::Low),
        ("medium", Priority::Medium),
        ("high", Priority::High),
    ] {
        assert_eq!(Priority::parse(raw).unwrap(), priority);
        assert_eq!(priority.as_str(), raw);
    }
    for raw in ["", "urgent", "High", "2"] {
        assert_eq!(
            invalid_fields(Priority::parse(raw)),
            ["priority"],
            "{raw:?}"
        );
    }
}

#[test]
fn priority_ranks_low_below_medium_below_high() {
    assert_eq!(Priority::ALL.map(Priority::rank), [1, 2, 3]);
    assert!(Priority::Low < Priority::Medium && Priority::Medium < Priority::High);
    for p in Priority::ALL {
        assert_eq!(Priority::from_rank(p.rank()), Some(p));
    }
    assert_eq!(Priority::from_rank(0), None);
    assert_eq!(Priority::from_rank(4), None);
}

#[test]
fn task_sort_parses_every_key_ascending_and_descending() {
    for (raw, key) in [
        ("created_at", TaskSortKey::CreatedAt),
        ("updated_at", TaskSortKey::UpdatedAt),
        ("due_date", TaskSortKey::DueDate),
        ("priority", TaskSortKey::Priority),
        ("title", TaskSortKey::Title),
    ] {
        assert_eq!(
            TaskSort::parse(raw).unwrap(),
            TaskSort {
                key,
                descending: false
            }
        );
        assert_eq!(
            TaskSort::parse(&format!("-{raw}")).unwrap(),
            TaskSort {
                key,
                descending: true
            }
        );
    }
}

#[test]
fn task_sort_rejects_unknown_keys_on_sort() {
    for raw in [
        "",
        "-",
        "id",
        "--title",
        "+title",
        "Title",
        "title ",
        "owner_id",
        "-completed_at",
    ] {
        assert_eq!(invalid_fields(TaskSort::parse(raw)), ["sort"], "{raw:?}");
    }
}

#[test]
fn task_sort_defaults_to_newest_first() {
    assert_eq!(
        TaskSort::default(),
        TaskSort {
            key: TaskSortKey::CreatedAt,
            descending: true
        }
    );
}

// ---------------------------------------------------------------- completed_at and status

#[test]
fn entering_done_sets_completed_at() {
    for from in [TaskStatus::Todo, TaskStatus::InProgress] {
        let mut task = task_of(&member(), 1, from);
        task.set_status(TaskStatus::Done, now());
        assert_eq!(
            (task.status, task.completed_at),
            (TaskStatus::Done, Some(now()))
        );
        assert!(task.completed());
    }
}

#[test]
fn staying_done_keeps_the_original_completed_at() {
    let mut task = task_of(&member(), 1, TaskStatus::Done);
    task.set_status(TaskStatus::Done, now());
    assert_eq!(task.completed_at, Some(earlier()));
}

#[test]
fn staying_done_without_completed_at_sets_it() {
    let mut task = task_of(&member(), 1, TaskStatus::Done);
    task.completed_at = None;
    task.set_status(TaskStatus::Done, now());
    assert_eq!(task.completed_at, Some(now()));
}

#[test]
fn leaving_done_clears_completed_at() {
    for to in [TaskStatus::Todo, TaskStatus::InProgress] {
        let mut task = task_of(&member(), 1, TaskStatus::Done);
        task.set_status(to, now());
        assert_eq!((task.status, task.completed_at), (to, None));
        assert!(!task.completed());
    }
}

#[test]
fn moving_between_open_statuses_leaves_completed_at_empty() {
    let mut task = task_of(&member(), 1, TaskStatus::Todo);
    task.set_status(TaskStatus::InProgress, now());
    assert_eq!(
        (task.status, task.completed_at),
        (TaskStatus::InProgress, None)
    );
}

#[test]
fn resolve_status_reconciles_status_and_completed() {
    use TaskStatus::{Done, InProgress, Todo};
    let ok = [
        (None, None, None),
        (None, Some(true), Some(Done)),
        (None, Some(false), Some(Todo)),
        (Some(Todo), None, Some(Todo)),
        (Some(InProgress), None, Some(InProgress)),
        (Some(Done), None, Some(Done)),
        (Some(Done), Some(true), Some(Done)),
        (Some(Todo), Some(false), Some(Todo)),
        (Some(InProgress), Some(false), Some(InProgress)),
    ];
    for (status, completed, expected) in ok {
        assert_eq!(
            resolve_status(status, completed).unwrap(),
            expected,
            "{status:?} {completed:?}"
        );
    }
    for (status, completed) in [
        (Some(Done), Some(false)),
        (Some(Todo), Some(true)),
        (Some(InProgress), Some(true)),
    ] {
        assert_eq!(
            invalid_fields(resolve_status(status, completed)),
            ["completed"],
            "{status:?} {completed:?}"
        );
    }
}

#[test]
fn task_draft_new_holds_the_defaults() {
    let draft = TaskDraft::new(title("t"));
    assert_eq!(
        draft,
        TaskDraft {
            title: title("t"),
            description: None,
            status: TaskStatus::Todo,
            priority: Priority::Medium,
            due_date: None,
            owner_id: None,
        }
    );
}

#[test]
fn title_and_description_with_a_nul_character_are_rejected_on_their_field() {
    assert_eq!(invalid_fields(Title::parse("a\0b")), ["title"]);
    assert_eq!(invalid_fields(Description::parse("\0")), ["description"]);
    assert!(
        Title::parse("a\u{1}b").is_ok(),
        "other control characters are text"
    );
}
