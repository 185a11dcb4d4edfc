//! Unit tests of the task rules, against mockall mocks of the ports.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use mockall::Sequence;
use uuid::Uuid;

use super::model::{
    Description, Priority, Task, TaskFilter, TaskSort, TaskSortKey, TaskStatus, Title,
};
use super::ports::MockTaskRepository;
use super::service::{Precondition, TaskDraft, TaskPatch, TaskScope, TaskService, resolve_status};
use crate::DomainError;
use crate::page::{Page, PageRequest};
use crate::tests::fixtures::{admin, clock, earlier, invalid_fields, member, now, user};
use crate::user::{MockUserRepository, Role, User};

/// The mocked ports of one [`TaskService`].
#[derive(Default)]
struct Ports {
    tasks: MockTaskRepository,
    users: MockUserRepository,
}

impl Ports {
    fn service(self) -> TaskService {
        TaskService::new(Arc::new(self.tasks), Arc::new(self.users), clock())
    }

    /// `find_by_id` answers `task` for its id, once.
    fn stored(&mut self, task: &Task) {
        let found = task.clone();
        let id = task.id;
        self.tasks
            .expect_find_by_id()
            .withf(move |task_id| *task_id == id)
            .times(1)
            .returning(move |_| Ok(Some(found.clone())));
    }

    /// No task is written or deleted.
    fn never_writes(&mut self) {
        self.tasks.expect_insert().never();
        self.tasks.expect_update().never();
        self.tasks.expect_delete().never();
    }

    /// `update` succeeds once, expecting `version`.
    fn update_succeeds_from(&mut self, version: i64) {
        self.tasks
            .expect_update()
            .withf(move |_, expected| *expected == version)
            .times(1)
            .returning(|_, _| Ok(()));
    }
}

fn title(raw: &str) -> Title {
    Title::parse(raw).unwrap()
}

fn description(raw: &str) -> Description {
    Description::parse(raw).unwrap()
}

fn due() -> DateTime<Utc> {
    now() + Duration::days(3)
}

/// A stored task of `owner` at `version` in `status`, with every optional field set.
fn task_of(owner: &User, version: i64, status: TaskStatus) -> Task {
    Task {
        id: Uuid::now_v7(),
        owner_id: owner.id,
        title: title("Write the report"),
        description: Some(description("for the board")),
        status,
        priority: Priority::High,
        due_date: Some(due()),
        completed_at: (status == TaskStatus::Done).then(earlier),
        created_at: earlier(),
        updated_at: earlier(),
        version,
    }
}

fn assert_forbidden<T: std::fmt::Debug>(result: Result<T, DomainError>) {
    assert!(
        matches!(result, Err(DomainError::Forbidden(_))),
        "{result:?}"
    );
}

fn assert_not_found<T: std::fmt::Debug>(result: Result<T, DomainError>) {
    assert!(
        matches!(result, Err(DomainError::NotFound(_))),
        "{result:?}"
    );
}

fn assert_stale<T: std::fmt::Debug>(result: Result<T, DomainError>) {
    assert!(
        matches!(result, Err(DomainError::PreconditionFailed(_))),
        "{result:?}"
    );
}

fn rename() -> TaskPatch {
    TaskPatch {
        title: Some(title("Renamed")),
        ..TaskPatch::default()
    }
}

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

// ---------------------------------------------------------------- create

#[tokio::test]
async fn create_applies_the_defaults_and_owns_the_task_to_the_actor() {
    let actor = member();
    let owner = actor.id;
    let mut ports = Ports::default();
    ports
        .tasks
        .expect_insert()
        .withf(move |t| {
            t.owner_id == owner
                && t.title.as_str() == "Buy milk"
                && t.description.is_none()
                && t.status == TaskStatus::Todo
                && t.priority == Priority::Medium
                && t.due_date.is_none()
                && t.completed_at.is_none()
                && t.created_at == now()
                && t.updated_at == now()
                && t.version == 1
        })
        .times(1)
        .returning(|_| Ok(()));

    let task = ports
        .service()
        .create(
            &actor,
            TaskScope::Visible,
            TaskDraft::new(title(" Buy milk ")),
        )
        .await
        .unwrap();
    assert_eq!(
        (task.owner_id, task.status, task.version),
        (owner, TaskStatus::Todo, 1)
    );
    assert_eq!(task.completed_at, None);
}

#[tokio::test]
async fn create_keeps_the_fields_of_the_draft() {
    let actor = member();
    let mut ports = Ports::default();
    ports
        .tasks
        .expect_insert()
        .withf(|t| {
            t.description.as_ref().map(Description::as_str) == Some("details")
                && t.priority == Priority::Low
                && t.status == TaskStatus::InProgress
                && t.due_date == Some(due())
                && t.completed_at.is_none()
        })
        .times(1)
        .returning(|_| Ok(()));
    let draft = TaskDraft {
        description: Some(description("details")),
        status: TaskStatus::InProgress,
        priority: Priority::Low,
        due_date: Some(due()),
        ..TaskDraft::new(title("t"))
    };
    assert!(
        ports
            .service()
            .create(&actor, TaskScope::Visible, draft)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn create_with_status_done_sets_completed_at() {
    let mut ports = Ports::default();
    ports
        .tasks
        .expect_insert()
        .withf(|t| t.status == TaskStatus::Done && t.completed_at == Some(now()))
        .times(1)
        .returning(|_| Ok(()));
    let draft = TaskDraft {
        status: TaskStatus::Done,
        ..TaskDraft::new(title("t"))
    };
    let task = ports
        .service()
        .create(&member(), TaskScope::Visible, draft)
        .await
        .unwrap();
    assert_eq!(task.completed_at, Some(now()));
}

#[tokio::test]
async fn create_for_another_owner_by_a_non_admin_is_forbidden_and_never_inserts() {
    let mut ports = Ports::default();
    ports.never_writes();
    let draft = TaskDraft {
        owner_id: Some(Uuid::now_v7()),
        ..TaskDraft::new(title("t"))
    };
    assert_forbidden(
        ports
            .service()
            .create(&member(), TaskScope::Visible, draft)
            .await,
    );
}

#[tokio::test]
async fn create_naming_oneself_as_owner_is_allowed_for_a_non_admin() {
    let actor = member();
    let owner = actor.id;
    let mut ports = Ports::default();
    ports
        .tasks
        .expect_insert()
        .withf(move |t| t.owner_id == owner)
        .times(1)
        .returning(|_| Ok(()));
    let draft = TaskDraft {
        owner_id: Some(actor.id),
        ..TaskDraft::new(title("t"))
    };
    assert!(
        ports
            .service()
            .create(&actor, TaskScope::Visible, draft)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn create_for_another_owner_by_an_admin_owns_it_to_them() {
    let other = Uuid::now_v7();
    let mut ports = Ports::default();
    ports
        .tasks
        .expect_insert()
        .withf(move |t| t.owner_id == other)
        .times(1)
        .returning(|_| Ok(()));
    let draft = TaskDraft {
        owner_id: Some(other),
        ..TaskDraft::new(title("t"))
    };
    let task = ports
        .service()
        .create(&admin(), TaskScope::Visible, draft)
        .await
        .unwrap();
    assert_eq!(task.owner_id, other);
}

#[tokio::test]
async fn create_for_a_missing_owner_is_a_validation_error_on_owner_id() {
    let mut ports = Ports::default();
    ports
        .tasks
        .expect_insert()
        .times(1)
        .returning(|_| Err(DomainError::NotFound("owner".into())));
    let draft = TaskDraft {
        owner_id: Some(Uuid::now_v7()),
        ..TaskDraft::new(title("t"))
    };
    assert_eq!(
        invalid_fields(
            ports
                .service()
                .create(&admin(), TaskScope::Visible, draft)
                .await
        ),
        ["owner_id"]
    );
}

#[tokio::test]
async fn scoped_create_for_another_user_by_a_non_admin_is_forbidden() {
    let mut ports = Ports::default();
    ports.never_writes();
    let result = ports
        .service()
        .create(
            &member(),
            TaskScope::OwnedBy(Uuid::now_v7()),
            TaskDraft::new(title("t")),
        )
        .await;
    assert_forbidden(result);
}

#[tokio::test]
async fn scoped_create_by_a_non_admin_for_themselves_is_allowed() {
    let actor = member();
    let owner = actor.id;
    let mut ports = Ports::default();
    ports
        .tasks
        .expect_insert()
        .withf(move |t| t.owner_id == owner)
        .times(1)
        .returning(|_| Ok(()));
    let result = ports
        .service()
        .create(
            &actor,
            TaskScope::OwnedBy(actor.id),
            TaskDraft::new(title("t")),
        )
        .await;
    assert!(result.is_ok(), "{result:?}");
}

#[tokio::test]
async fn scoped_create_by_an_admin_creates_for_the_scoped_user() {
    let scoped = Uuid::now_v7();
    let mut ports = Ports::default();
    ports
        .tasks
        .expect_insert()
        .withf(move |t| t.owner_id == scoped)
        .times(1)
        .returning(|_| Ok(()));
    let task = ports
        .service()
        .create(
            &admin(),
            TaskScope::OwnedBy(scoped),
            TaskDraft::new(title("t")),
        )
        .await
        .unwrap();
    assert_eq!(task.owner_id, scoped);
}

#[tokio::test]
async fn scoped_create_with_a_different_owner_id_is_a_validation_error_on_owner_id() {
    let mut ports = Ports::default();
    ports.never_writes();
    let draft = TaskDraft {
        owner_id: Some(Uuid::now_v7()),
        ..TaskDraft::new(title("t"))
    };
    let result = ports
        .service()
        .create(&admin(), TaskScope::OwnedBy(Uuid::now_v7()), draft)
        .await;
    assert_eq!(invalid_fields(result), ["owner_id"]);
}

#[tokio::test]
async fn scoped_create_for_a_missing_user_is_not_found() {
    let mut ports = Ports::default();
    ports
        .tasks
        .expect_insert()
        .times(1)
        .returning(|_| Err(DomainError::NotFound("owner".into())));
    let result = ports
        .service()
        .create(
            &admin(),
            TaskScope::OwnedBy(Uuid::now_v7()),
            TaskDraft::new(title("t")),
        )
        .await;
    assert_not_found(result);
}

// ---------------------------------------------------------------- get

#[tokio::test]
async fn get_returns_an_own_task() {
    let actor = member();
    let task = task_of(&actor, 1, TaskStatus::Todo);
    let mut ports = Ports::default();
    ports.stored(&task);
    assert_eq!(
        ports
            .service()
            .get(&actor, TaskScope::Visible, task.id)
            .await
            .unwrap(),
        task
    );
}

#[tokio::test]
async fn get_of_another_users_task_is_not_found_for_a_non_admin() {
    let task = task_of(&user("bob", Role::User), 1, TaskStatus::Todo);
    let mut ports = Ports::default();
    ports.stored(&task);
    assert_not_found(
        ports
            .service()
            .get(&member(), TaskScope::Visible, task.id)
            .await,
    );
}

#[tokio::test]
async fn get_of_another_users_task_is_allowed_for_an_admin() {
    let task = task_of(&member(), 1, TaskStatus::Todo);
    let mut ports = Ports::default();
    ports.stored(&task);
    assert_eq!(
        ports
            .service()
            .get(&admin(), TaskScope::Visible, task.id)
            .await
            .unwrap(),
        task
    );
}

#[tokio::test]
async fn get_of_a_missing_task_is_not_found() {
    let mut ports = Ports::default();
    ports
        .tasks
        .expect_find_by_id()
        .times(1)
        .returning(|_| Ok(None));
    assert_not_found(
        ports
            .service()
            .get(&admin(), TaskScope::Visible, Uuid::now_v7())
            .await,
    );
}

#[tokio::test]
async fn scoped_get_of_someone_elses_task_is_not_found_even_for_an_admin() {
    let alice = member();
    let task = task_of(&user("bob", Role::User), 1, TaskStatus::Todo);
    let mut ports = Ports::default();
    ports.stored(&task);
    let result = ports
        .service()
        .get(&admin(), TaskScope::OwnedBy(alice.id), task.id)
        .await;
    assert_not_found(result);
}

#[tokio::test]
async fn scoped_get_of_the_scoped_users_task_is_allowed_for_an_admin() {
    let alice = member();
    let task = task_of(&alice, 1, TaskStatus::Todo);
    let mut ports = Ports::default();
    ports.stored(&task);
    let result = ports
        .service()
        .get(&admin(), TaskScope::OwnedBy(alice.id), task.id)
        .await;
    assert_eq!(result.unwrap(), task);
}

#[tokio::test]
async fn scoped_get_under_another_user_by_a_non_admin_is_forbidden_and_reads_nothing() {
    let mut ports = Ports::default();
    ports.tasks.expect_find_by_id().never();
    let result = ports
        .service()
        .get(
            &member(),
            TaskScope::OwnedBy(Uuid::now_v7()),
            Uuid::now_v7(),
        )
        .await;
    assert_forbidden(result);
}

// ---------------------------------------------------------------- list

fn one_page() -> Page<Task> {
    Page {
        items: vec![task_of(&member(), 1, TaskStatus::Todo)],
        total: 1,
        limit: 20,
        offset: 0,
    }
}

/// `list` expects a filter whose owner is `owner` (the rest as `base`), `sort` and `page`.
fn expect_list(
    ports: &mut Ports,
    base: &TaskFilter,
    owner: Option<Uuid>,
    sort: TaskSort,
    page: PageRequest,
) {
    let expected = TaskFilter {
        owner_id: owner,
        ..base.clone()
    };
    ports
        .tasks
        .expect_list()
        .withf(move |f, s, p| *f == expected && *s == sort && *p == page)
        .times(1)
        .returning(|_, _, _| Ok(one_page()));
}

fn busy_filter() -> TaskFilter {
    TaskFilter {
        owner_id: None,
        status: Some(TaskStatus::Done),
        completed: Some(true),
        priority: Some(Priority::High),
        q: Some("50%_off".into()),
        due_before: Some(due()),
        due_after: Some(earlier()),
    }
}

#[tokio::test]
async fn list_by_a_non_admin_is_forced_to_their_own_tasks() {
    let actor = member();
    let filter = busy_filter();
    let sort = TaskSort::parse("-priority").unwrap();
    let page = PageRequest::new(Some(5), Some(10)).unwrap();
    let mut ports = Ports::default();
    expect_list(&mut ports, &filter, Some(actor.id), sort, page);
    let result = ports
        .service()
        .list(&actor, TaskScope::Visible, filter, sort, page)
        .await;
    assert_eq!(result.unwrap().total, 1);
}

#[tokio::test]
async fn list_by_a_non_admin_naming_themselves_as_owner_is_allowed() {
    let actor = member();
    let filter = TaskFilter {
        owner_id: Some(actor.id),
        ..TaskFilter::default()
    };
    let mut ports = Ports::default();
    expect_list(
        &mut ports,
        &filter,
        Some(actor.id),
        TaskSort::default(),
        PageRequest::default(),
    );
    let result = ports
        .service()
        .list(
            &actor,
            TaskScope::Visible,
            filter,
            TaskSort::default(),
            PageRequest::default(),
        )
        .await;
    assert!(result.is_ok(), "{result:?}");
}

#[tokio::test]
async fn list_by_a_non_admin_for_another_owner_is_forbidden() {
    let mut ports = Ports::default();
    ports.tasks.expect_list().never();
    let filter = TaskFilter {
        owner_id: Some(Uuid::now_v7()),
        ..TaskFilter::default()
    };
    let result = ports
        .service()
        .list(
            &member(),
            TaskScope::Visible,
            filter,
            TaskSort::default(),
            PageRequest::default(),
        )
        .await;
    assert_forbidden(result);
}

#[tokio::test]
async fn list_by_an_admin_passes_the_owner_filter_through() {
    let other = Uuid::now_v7();
    let filter = TaskFilter {
        owner_id: Some(other),
        ..busy_filter()
    };
    let mut ports = Ports::default();
    expect_list(
        &mut ports,
        &filter,
        Some(other),
        TaskSort::default(),
        PageRequest::default(),
    );
    let result = ports
        .service()
        .list(
            &admin(),
            TaskScope::Visible,
            filter,
            TaskSort::default(),
            PageRequest::default(),
        )
        .await;
    assert!(result.is_ok(), "{result:?}");
}

#[tokio::test]
async fn list_by_an_admin_without_owner_lists_everyone() {
    let filter = busy_filter();
    let mut ports = Ports::default();
    expect_list(
        &mut ports,
        &filter,
        None,
        TaskSort::default(),
        PageRequest::default(),
    );
    let result = ports
        .service()
        .list(
            &admin(),
            TaskScope::Visible,
            filter,
            TaskSort::default(),
            PageRequest::default(),
        )
        .await;
    assert!(result.is_ok(), "{result:?}");
}

#[tokio::test]
async fn scoped_list_is_forced_to_the_scoped_user_for_admins_too() {
    let scoped = Uuid::now_v7();
    let filter = busy_filter();
    let mut ports = Ports::default();
    expect_list(
        &mut ports,
        &filter,
        Some(scoped),
        TaskSort::default(),
        PageRequest::default(),
    );
    let result = ports
        .service()
        .list(
            &admin(),
            TaskScope::OwnedBy(scoped),
            filter,
            TaskSort::default(),
            PageRequest::default(),
        )
        .await;
    assert!(result.is_ok(), "{result:?}");
}

#[tokio::test]
async fn scoped_list_with_a_different_owner_id_is_a_validation_error_on_owner_id() {
    let mut ports = Ports::default();
    ports.tasks.expect_list().never();
    let filter = TaskFilter {
        owner_id: Some(Uuid::now_v7()),
        ..TaskFilter::default()
    };
    let result = ports
        .service()
        .list(
            &admin(),
            TaskScope::OwnedBy(Uuid::now_v7()),
            filter,
            TaskSort::default(),
            PageRequest::default(),
        )
        .await;
    assert_eq!(invalid_fields(result), ["owner_id"]);
}

#[tokio::test]
async fn scoped_list_under_another_user_by_a_non_admin_is_forbidden() {
    let mut ports = Ports::default();
    ports.tasks.expect_list().never();
    let result = ports
        .service()
        .list(
            &member(),
            TaskScope::OwnedBy(Uuid::now_v7()),
            TaskFilter::default(),
            TaskSort::default(),
            PageRequest::default(),
        )
        .await;
    assert_forbidden(result);
}

// ---------------------------------------------------------------- replace and patch

#[tokio::test]
async fn replace_resets_absent_fields_to_defaults_and_bumps_the_version() {
    let actor = member();
    let stored = task_of(&actor, 3, TaskStatus::InProgress);
    let before = stored.clone();
    let mut ports = Ports::default();
    ports.stored(&stored);
    ports
        .tasks
        .expect_update()
        .withf(move |t, expected| {
            *expected == 3
                && t.id == before.id
                && t.owner_id == before.owner_id
                && t.title.as_str() == "Replaced"
                && t.description.is_none()
                && t.status == TaskStatus::Todo
                && t.priority == Priority::Medium
                && t.due_date.is_none()
                && t.completed_at.is_none()
                && t.created_at == before.created_at
                && t.updated_at == now()
                && t.version == 4
        })
        .times(1)
        .returning(|_, _| Ok(()));

    let task = ports
        .service()
        .replace(
            &actor,
            TaskScope::Visible,
            stored.id,
            None,
            TaskDraft::new(title("Replaced")),
        )
        .await
        .unwrap();
    assert_eq!(
        (task.version, task.updated_at, task.priority),
        (4, now(), Priority::Medium)
    );
    assert_eq!((task.description, task.due_date), (None, None));
}

#[tokio::test]
async fn replace_with_status_done_sets_completed_at() {
    let actor = member();
    let stored = task_of(&actor, 1, TaskStatus::Todo);
    let mut ports = Ports::default();
    ports.stored(&stored);
    ports
        .tasks
        .expect_update()
        .withf(|t, _| t.status == TaskStatus::Done && t.completed_at == Some(now()))
        .times(1)
        .returning(|_, _| Ok(()));
    let draft = TaskDraft {
        status: TaskStatus::Done,
        ..TaskDraft::new(title("t"))
    };
    let task = ports
        .service()
        .replace(&actor, TaskScope::Visible, stored.id, None, draft)
        .await
        .unwrap();
    assert_eq!(task.completed_at, Some(now()));
}

#[tokio::test]
async fn patch_with_explicit_null_clears_description_and_due_date_and_leaves_the_rest() {
    let actor = member();
    let stored = task_of(&actor, 2, TaskStatus::InProgress);
    let before = stored.clone();
    let mut ports = Ports::default();
    ports.stored(&stored);
    ports
        .tasks
        .expect_update()
        .withf(move |t, expected| {
            *expected == 2
                && t.description.is_none()
                && t.due_date.is_none()
                && t.title == before.title
                && t.priority == before.priority
                && t.status == before.status
                && t.completed_at.is_none()
                && t.version == 3
                && t.updated_at == now()
        })
        .times(1)
        .returning(|_, _| Ok(()));
    let patch = TaskPatch {
        description: Some(None),
        due_date: Some(None),
        ..TaskPatch::default()
    };
    let task = ports
        .service()
        .patch(&actor, TaskScope::Visible, stored.id, None, patch)
        .await
        .unwrap();
    assert_eq!(
        (task.description, task.due_date, task.version),
        (None, None, 3)
    );
    assert_eq!(task.priority, Priority::High);
}

#[tokio::test]
async fn patch_sets_the_fields_it_names() {
    let actor = member();
    let stored = task_of(&actor, 1, TaskStatus::Todo);
    let later = due() + Duration::days(1);
    let mut ports = Ports::default();
    ports.stored(&stored);
    ports
        .tasks
        .expect_update()
        .withf(move |t, _| {
            t.title.as_str() == "Renamed"
                && t.description.as_ref().map(Description::as_str) == Some("new words")
                && t.priority == Priority::Low
                && t.due_date == Some(later)
                && t.status == TaskStatus::Done
                && t.completed_at == Some(now())
        })
        .times(1)
        .returning(|_, _| Ok(()));
    let patch = TaskPatch {
        title: Some(title("Renamed")),
        description: Some(Some(description("new words"))),
        status: Some(TaskStatus::Done),
        priority: Some(Priority::Low),
        due_date: Some(Some(later)),
        owner_id: None,
    };
    assert!(
        ports
            .service()
            .patch(&actor, TaskScope::Visible, stored.id, None, patch)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn patch_of_another_users_task_is_not_found_before_if_match_is_looked_at() {
    let task = task_of(&user("bob", Role::User), 5, TaskStatus::Todo);
    let mut ports = Ports::default();
    ports.stored(&task);
    ports.never_writes();
    let result = ports
        .service()
        .patch(
            &member(),
            TaskScope::Visible,
            task.id,
            Some(Precondition::Versions(vec![1])),
            rename(),
        )
        .await;
    assert_not_found(result);
}

#[tokio::test]
async fn patch_of_a_missing_task_is_not_found() {
    let mut ports = Ports::default();
    ports
        .tasks
        .expect_find_by_id()
        .times(1)
        .returning(|_| Ok(None));
    ports.never_writes();
    let result = ports
        .service()
        .patch(&admin(), TaskScope::Visible, Uuid::now_v7(), None, rename())
        .await;
    assert_not_found(result);
}

// ---------------------------------------------------------------- If-Match

#[tokio::test]
async fn stale_if_match_is_precondition_failed_and_never_writes() {
    let actor = member();
    let stored = task_of(&actor, 3, TaskStatus::Todo);
    let mut ports = Ports::default();
    ports.stored(&stored);
    ports.never_writes();
    let result = ports
        .service()
        .patch(
            &actor,
            TaskScope::Visible,
            stored.id,
            Some(Precondition::Versions(vec![2])),
            rename(),
        )
        .await;
    assert_stale(result);
}

#[tokio::test]
async fn if_match_that_is_no_version_is_precondition_failed() {
    let actor = member();
    let stored = task_of(&actor, 3, TaskStatus::Todo);
    let mut ports = Ports::default();
    ports.stored(&stored);
    ports.never_writes();
    let result = ports
        .service()
        .replace(
            &actor,
            TaskScope::Visible,
            stored.id,
            Some(Precondition::Versions(vec![])),
            TaskDraft::new(title("t")),
        )
        .await;
    assert_stale(result);
}

#[tokio::test]
async fn if_match_star_writes_from_the_current_version() {
    let actor = member();
    let stored = task_of(&actor, 7, TaskStatus::Todo);
    let mut ports = Ports::default();
    ports.stored(&stored);
    ports.update_succeeds_from(7);
    let task = ports
        .service()
        .patch(
            &actor,
            TaskScope::Visible,
            stored.id,
            Some(Precondition::Any),
            rename(),
        )
        .await
        .unwrap();
    assert_eq!(task.version, 8);
}

#[tokio::test]
async fn matching_if_match_writes_from_that_version() {
    let actor = member();
    let stored = task_of(&actor, 3, TaskStatus::Todo);
    let mut ports = Ports::default();
    ports.stored(&stored);
    ports.update_succeeds_from(3);
    let task = ports
        .service()
        .patch(
            &actor,
            TaskScope::Visible,
            stored.id,
            Some(Precondition::Versions(vec![1, 3])),
            rename(),
        )
        .await
        .unwrap();
    assert_eq!((task.version, task.title.as_str()), (4, "Renamed"));
}

#[tokio::test]
async fn a_write_without_if_match_that_loses_a_race_retries_on_the_re_read_version() {
    let actor = member();
    let first = task_of(&actor, 3, TaskStatus::Todo);
    let second = Task {
        version: 4,
        priority: Priority::Low,
        ..first.clone()
    };
    let mut seq = Sequence::new();
    let mut ports = Ports::default();
    for (read, outcome) in [(first.clone(), false), (second, true)] {
        let expected = read.version;
        ports
            .tasks
            .expect_find_by_id()
            .times(1)
            .in_sequence(&mut seq)
            .returning(move |_| Ok(Some(read.clone())));
        ports
            .tasks
            .expect_update()
            .withf(move |t, v| {
                *v == expected && t.version == expected + 1 && t.status == TaskStatus::Done
            })
            .times(1)
            .in_sequence(&mut seq)
            .returning(move |_, _| {
                if outcome {
                    Ok(())
                } else {
                    Err(DomainError::PreconditionFailed("version moved".into()))
                }
            });
    }
    let task = ports
        .service()
        .toggle_complete(&actor, TaskScope::Visible, first.id, None)
        .await
        .unwrap();
    // The change was applied to what the winner wrote, not to the stale copy.
    assert_eq!(
        (task.version, task.priority, task.status),
        (5, Priority::Low, TaskStatus::Done)
    );
}

#[tokio::test]
async fn a_write_with_a_specific_if_match_that_loses_a_race_is_precondition_failed() {
    let actor = member();
    let stored = task_of(&actor, 3, TaskStatus::Todo);
    let mut ports = Ports::default();
    ports.stored(&stored);
    ports
        .tasks
        .expect_update()
        .times(1)
        .returning(|_, _| Err(DomainError::PreconditionFailed("version moved".into())));
    let result = ports
        .service()
        .patch(
            &actor,
            TaskScope::Visible,
            stored.id,
            Some(Precondition::Versions(vec![3])),
            rename(),
        )
        .await;
    assert_stale(result);
}

#[tokio::test]
async fn a_write_that_never_wins_a_race_gives_up_with_a_conflict() {
    let actor = member();
    let stored = task_of(&actor, 3, TaskStatus::Todo);
    let found = stored.clone();
    let mut ports = Ports::default();
    ports
        .tasks
        .expect_find_by_id()
        .times(32)
        .returning(move |_| Ok(Some(found.clone())));
    ports
        .tasks
        .expect_update()
        .times(32)
        .returning(|_, _| Err(DomainError::PreconditionFailed("version moved".into())));
    let result = ports
        .service()
        .patch(&actor, TaskScope::Visible, stored.id, None, rename())
        .await;
    assert!(
        matches!(result, Err(DomainError::Conflict(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn an_update_of_a_task_deleted_meanwhile_is_not_found() {
    let actor = member();
    let stored = task_of(&actor, 3, TaskStatus::Todo);
    let mut ports = Ports::default();
    ports.stored(&stored);
    ports
        .tasks
        .expect_update()
        .times(1)
        .returning(|_, _| Err(DomainError::NotFound("gone".into())));
    let result = ports
        .service()
        .patch(&actor, TaskScope::Visible, stored.id, None, rename())
        .await;
    assert_not_found(result);
}

// ---------------------------------------------------------------- toggle

#[tokio::test]
async fn toggling_a_done_task_makes_it_todo_and_clears_completed_at() {
    let actor = member();
    let stored = task_of(&actor, 2, TaskStatus::Done);
    let mut ports = Ports::default();
    ports.stored(&stored);
    ports
        .tasks
        .expect_update()
        .withf(|t, v| {
            *v == 2 && t.status == TaskStatus::Todo && t.completed_at.is_none() && t.version == 3
        })
        .times(1)
        .returning(|_, _| Ok(()));
    let task = ports
        .service()
        .toggle_complete(&actor, TaskScope::Visible, stored.id, None)
        .await
        .unwrap();
    assert_eq!(
        (task.status, task.completed_at, task.version),
        (TaskStatus::Todo, None, 3)
    );
}

#[tokio::test]
async fn toggling_an_open_task_makes_it_done_and_sets_completed_at() {
    for from in [TaskStatus::Todo, TaskStatus::InProgress] {
        let actor = member();
        let stored = task_of(&actor, 1, from);
        let mut ports = Ports::default();
        ports.stored(&stored);
        ports
            .tasks
            .expect_update()
            .withf(|t, _| {
                t.status == TaskStatus::Done
                    && t.completed_at == Some(now())
                    && t.updated_at == now()
            })
            .times(1)
            .returning(|_, _| Ok(()));
        let task = ports
            .service()
            .toggle_complete(&actor, TaskScope::Visible, stored.id, None)
            .await
            .unwrap();
        assert_eq!(
            (task.status, task.completed_at, task.version),
            (TaskStatus::Done, Some(now()), 2)
        );
    }
}

#[tokio::test]
async fn toggling_with_a_stale_if_match_is_precondition_failed_and_never_writes() {
    let actor = member();
    let stored = task_of(&actor, 4, TaskStatus::Todo);
    let mut ports = Ports::default();
    ports.stored(&stored);
    ports.never_writes();
    let result = ports
        .service()
        .toggle_complete(
            &actor,
            TaskScope::Visible,
            stored.id,
            Some(Precondition::Versions(vec![3])),
        )
        .await;
    assert_stale(result);
}

// ---------------------------------------------------------------- reassignment

#[tokio::test]
async fn reassigning_a_task_by_a_non_admin_is_forbidden_and_never_writes() {
    let actor = member();
    let stored = task_of(&actor, 1, TaskStatus::Todo);
    let mut ports = Ports::default();
    ports.stored(&stored);
    ports.never_writes();
    ports.users.expect_find_by_id().never();
    let patch = TaskPatch {
        owner_id: Some(Uuid::now_v7()),
        ..TaskPatch::default()
    };
    assert_forbidden(
        ports
            .service()
            .patch(&actor, TaskScope::Visible, stored.id, None, patch)
            .await,
    );
}

#[tokio::test]
async fn naming_oneself_as_owner_is_no_reassignment() {
    let actor = member();
    let stored = task_of(&actor, 1, TaskStatus::Todo);
    let owner = actor.id;
    let mut ports = Ports::default();
    ports.stored(&stored);
    ports.users.expect_find_by_id().never();
    ports
        .tasks
        .expect_update()
        .withf(move |t, _| t.owner_id == owner)
        .times(1)
        .returning(|_, _| Ok(()));
    let draft = TaskDraft {
        owner_id: Some(actor.id),
        ..TaskDraft::new(title("t"))
    };
    assert!(
        ports
            .service()
            .replace(&actor, TaskScope::Visible, stored.id, None, draft)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn reassigning_a_task_by_an_admin_to_a_missing_user_is_a_validation_error_on_owner_id() {
    let stored = task_of(&member(), 1, TaskStatus::Todo);
    let missing = Uuid::now_v7();
    let mut ports = Ports::default();
    ports.stored(&stored);
    ports
        .users
        .expect_find_by_id()
        .withf(move |id| *id == missing)
        .times(1)
        .returning(|_| Ok(None));
    ports.never_writes();
    let patch = TaskPatch {
        owner_id: Some(missing),
        ..TaskPatch::default()
    };
    let result = ports
        .service()
        .patch(&admin(), TaskScope::Visible, stored.id, None, patch)
        .await;
    assert_eq!(invalid_fields(result), ["owner_id"]);
}

#[tokio::test]
async fn reassigning_a_task_by_an_admin_to_an_existing_user_moves_it() {
    let stored = task_of(&member(), 1, TaskStatus::Todo);
    let bob = user("bob", Role::User);
    let bob_id = bob.id;
    let mut ports = Ports::default();
    ports.stored(&stored);
    ports
        .users
        .expect_find_by_id()
        .withf(move |id| *id == bob_id)
        .times(1)
        .returning(move |_| Ok(Some(bob.clone())));
    ports
        .tasks
        .expect_update()
        .withf(move |t, _| t.owner_id == bob_id && t.version == 2)
        .times(1)
        .returning(|_, _| Ok(()));
    let draft = TaskDraft {
        owner_id: Some(bob_id),
        ..TaskDraft::new(title("t"))
    };
    let task = ports
        .service()
        .replace(&admin(), TaskScope::Visible, stored.id, None, draft)
        .await
        .unwrap();
    assert_eq!(task.owner_id, bob_id);
}

// ---------------------------------------------------------------- delete

#[tokio::test]
async fn delete_without_if_match_deletes_unconditionally() {
    let actor = member();
    let stored = task_of(&actor, 3, TaskStatus::Todo);
    let id = stored.id;
    let mut ports = Ports::default();
    ports.stored(&stored);
    ports
        .tasks
        .expect_delete()
        .withf(move |task_id, expected| *task_id == id && expected.is_none())
        .times(1)
        .returning(|_, _| Ok(()));
    assert!(
        ports
            .service()
            .delete(&actor, TaskScope::Visible, id, None)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn delete_with_a_matching_if_match_deletes_only_that_version() {
    let actor = member();
    let stored = task_of(&actor, 3, TaskStatus::Todo);
    let mut ports = Ports::default();
    ports.stored(&stored);
    ports
        .tasks
        .expect_delete()
        .withf(|_, expected| *expected == Some(3))
        .times(1)
        .returning(|_, _| Ok(()));
    let result = ports
        .service()
        .delete(
            &actor,
            TaskScope::Visible,
            stored.id,
            Some(Precondition::Versions(vec![3])),
        )
        .await;
    assert!(result.is_ok(), "{result:?}");
}

#[tokio::test]
async fn delete_with_a_stale_if_match_is_precondition_failed_and_never_deletes() {
    let actor = member();
    let stored = task_of(&actor, 3, TaskStatus::Todo);
    let mut ports = Ports::default();
    ports.stored(&stored);
    ports.never_writes();
    let result = ports
        .service()
        .delete(
            &actor,
            TaskScope::Visible,
            stored.id,
            Some(Precondition::Versions(vec![2])),
        )
        .await;
    assert_stale(result);
}

#[tokio::test]
async fn delete_losing_a_race_with_a_specific_if_match_is_precondition_failed() {
    let actor = member();
    let stored = task_of(&actor, 3, TaskStatus::Todo);
    let mut ports = Ports::default();
    ports.stored(&stored);
    ports
        .tasks
        .expect_delete()
        .times(1)
        .returning(|_, _| Err(DomainError::PreconditionFailed("version moved".into())));
    let result = ports
        .service()
        .delete(
            &actor,
            TaskScope::Visible,
            stored.id,
            Some(Precondition::Versions(vec![3])),
        )
        .await;
    assert_stale(result);
}

#[tokio::test]
async fn delete_that_finds_nothing_in_the_repository_is_not_found() {
    let actor = member();
    let stored = task_of(&actor, 3, TaskStatus::Todo);
    let mut ports = Ports::default();
    ports.stored(&stored);
    ports
        .tasks
        .expect_delete()
        .times(1)
        .returning(|_, _| Err(DomainError::NotFound("gone".into())));
    assert_not_found(
        ports
            .service()
            .delete(&actor, TaskScope::Visible, stored.id, None)
            .await,
    );
}

#[tokio::test]
async fn delete_of_another_users_task_is_not_found_and_never_deletes() {
    let stored = task_of(&user("bob", Role::User), 1, TaskStatus::Todo);
    let mut ports = Ports::default();
    ports.stored(&stored);
    ports.never_writes();
    assert_not_found(
        ports
            .service()
            .delete(&member(), TaskScope::Visible, stored.id, None)
            .await,
    );
}

#[tokio::test]
async fn scoped_delete_of_someone_elses_task_is_not_found_even_for_an_admin() {
    let stored = task_of(&user("bob", Role::User), 1, TaskStatus::Todo);
    let mut ports = Ports::default();
    ports.stored(&stored);
    ports.never_writes();
    let result = ports
        .service()
        .delete(&admin(), TaskScope::OwnedBy(member().id), stored.id, None)
        .await;
    assert_not_found(result);
}

#[tokio::test]
async fn scoped_writes_under_another_user_by_a_non_admin_are_forbidden() {
    let scope = TaskScope::OwnedBy(Uuid::now_v7());
    let id = Uuid::now_v7();
    let actor = member();
    let mut ports = Ports::default();
    ports.tasks.expect_find_by_id().never();
    ports.never_writes();
    let service = ports.service();
    assert_forbidden(
        service
            .replace(&actor, scope, id, None, TaskDraft::new(title("t")))
            .await,
    );
    assert_forbidden(service.patch(&actor, scope, id, None, rename()).await);
    assert_forbidden(service.toggle_complete(&actor, scope, id, None).await);
    assert_forbidden(service.delete(&actor, scope, id, None).await);
}

// ---------------------------------------------------------------- timestamp precision

/// A deadline with nanoseconds, as a client may send it.
fn nanosecond_due() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 123_456_789).unwrap()
}

/// What both databases store of [`nanosecond_due`].
fn microsecond_due() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 123_456_000).unwrap()
}

#[tokio::test]
async fn create_stores_and_returns_the_due_date_to_the_microsecond() {
    let written = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&written);
    let mut ports = Ports::default();
    ports.tasks.expect_insert().times(1).returning(move |t| {
        sink.lock().unwrap().push(t.due_date);
        Ok(())
    });
    let draft = TaskDraft {
        due_date: Some(nanosecond_due()),
        ..TaskDraft::new(title("t"))
    };
    let task = ports
        .service()
        .create(&member(), TaskScope::Visible, draft)
        .await
        .unwrap();
    assert_eq!(
        *written.lock().unwrap(),
        [Some(microsecond_due())],
        "what is stored"
    );
    assert_eq!(task.due_date, Some(microsecond_due()), "what is returned");
}

#[tokio::test]
async fn replace_and_patch_store_and_return_the_due_date_to_the_microsecond() {
    let actor = member();
    let stored = task_of(&actor, 1, TaskStatus::Todo);
    let written = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&written);
    let mut ports = Ports::default();
    let found = stored.clone();
    ports
        .tasks
        .expect_find_by_id()
        .times(2)
        .returning(move |_| Ok(Some(found.clone())));
    ports.tasks.expect_update().times(2).returning(move |t, _| {
        sink.lock().unwrap().push(t.due_date);
        Ok(())
    });
    let service = ports.service();
    let draft = TaskDraft {
        due_date: Some(nanosecond_due()),
        ..TaskDraft::new(title("t"))
    };
    let replaced = service
        .replace(&actor, TaskScope::Visible, stored.id, None, draft)
        .await
        .unwrap();
    let patch = TaskPatch {
        due_date: Some(Some(nanosecond_due())),
        ..TaskPatch::default()
    };
    let patched = service
        .patch(&actor, TaskScope::Visible, stored.id, None, patch)
        .await
        .unwrap();
    assert_eq!(
        *written.lock().unwrap(),
        [Some(microsecond_due()), Some(microsecond_due())],
        "what is stored"
    );
    assert_eq!(
        replaced.due_date,
        Some(microsecond_due()),
        "what PUT returns"
    );
    assert_eq!(
        patched.due_date,
        Some(microsecond_due()),
        "what PATCH returns"
    );
}

// ---------------------------------------------------------------- by access token

/// Verified access-token claims of `user`'s session `sid`.
fn token_of(user: &User, sid: Uuid) -> crate::auth::Claims {
    crate::auth::Claims {
        sub: user.id,
        sid,
        jti: Uuid::now_v7(),
        kind: crate::auth::TokenKind::Access,
        iat: now().timestamp(),
        exp: now().timestamp() + 900,
    }
}

impl Ports {
    /// The fused read answers `found` for session `sid` and task `id`, once; nothing
    /// else is read.
    fn session_read(&mut self, sid: Uuid, id: Uuid, found: Option<(User, Option<Task>)>) {
        self.tasks
            .expect_find_with_session_user()
            .withf(move |session_id, task_id| *session_id == sid && *task_id == id)
            .times(1)
            .returning(move |_, _| Ok(found.clone()));
        self.tasks.expect_find_by_id().never();
    }
}

fn assert_unauthorized<T: std::fmt::Debug>(result: Result<T, DomainError>) {
    assert!(
        matches!(result, Err(DomainError::Unauthorized(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn get_by_token_reads_session_user_and_task_in_one_lookup() {
    let alice = member();
    let task = task_of(&alice, 1, TaskStatus::Todo);
    let sid = Uuid::now_v7();
    let mut ports = Ports::default();
    ports.session_read(sid, task.id, Some((alice.clone(), Some(task.clone()))));
    let got = ports
        .service()
        .get(&token_of(&alice, sid), TaskScope::Visible, task.id)
        .await
        .unwrap();
    assert_eq!(got, task);
}

#[tokio::test]
async fn get_by_token_of_a_revoked_session_is_unauthorized_even_for_a_missing_task() {
    let alice = member();
    let id = Uuid::now_v7();
    let sid = Uuid::now_v7();
    let mut ports = Ports::default();
    ports.session_read(sid, id, None);
    assert_unauthorized(
        ports
            .service()
            .get(&token_of(&alice, sid), TaskScope::Visible, id)
            .await,
    );
}

#[tokio::test]
async fn get_by_token_of_an_inactive_user_is_unauthorized() {
    let mut alice = member();
    let task = task_of(&alice, 1, TaskStatus::Todo);
    let sid = Uuid::now_v7();
    let claims = token_of(&alice, sid);
    alice.is_active = false;
    let mut ports = Ports::default();
    ports.session_read(sid, task.id, Some((alice, Some(task.clone()))));
    assert_unauthorized(
        ports
            .service()
            .get(&claims, TaskScope::Visible, task.id)
            .await,
    );
}

#[tokio::test]
async fn get_by_token_whose_session_belongs_to_another_user_is_unauthorized() {
    let alice = member();
    let bob = user("bob", Role::User);
    let task = task_of(&bob, 1, TaskStatus::Todo);
    let sid = Uuid::now_v7();
    let mut ports = Ports::default();
    ports.session_read(sid, task.id, Some((bob, Some(task.clone()))));
    assert_unauthorized(
        ports
            .service()
            .get(&token_of(&alice, sid), TaskScope::Visible, task.id)
            .await,
    );
}

#[tokio::test]
async fn get_by_token_of_another_users_task_is_not_found_and_of_a_missing_one_too() {
    let alice = member();
    let theirs = task_of(&user("bob", Role::User), 1, TaskStatus::Todo);
    let sid = Uuid::now_v7();
    let mut ports = Ports::default();
    ports.session_read(sid, theirs.id, Some((alice.clone(), Some(theirs.clone()))));
    assert_not_found(
        ports
            .service()
            .get(&token_of(&alice, sid), TaskScope::Visible, theirs.id)
            .await,
    );

    let missing = Uuid::now_v7();
    let mut ports = Ports::default();
    ports.session_read(sid, missing, Some((alice.clone(), None)));
    assert_not_found(
        ports
            .service()
            .get(&token_of(&alice, sid), TaskScope::Visible, missing)
            .await,
    );
}

#[tokio::test]
async fn get_by_token_under_another_users_scope_is_forbidden_for_a_non_admin() {
    let alice = member();
    let bob = user("bob", Role::User);
    let task = task_of(&bob, 1, TaskStatus::Todo);
    let sid = Uuid::now_v7();
    let mut ports = Ports::default();
    ports.session_read(sid, task.id, Some((alice.clone(), Some(task.clone()))));
    assert_forbidden(
        ports
            .service()
            .get(&token_of(&alice, sid), TaskScope::OwnedBy(bob.id), task.id)
            .await,
    );
}

#[tokio::test]
async fn patch_by_token_writes_from_the_fused_read_and_rereads_only_after_a_lost_race() {
    let alice = member();
    let task = task_of(&alice, 4, TaskStatus::Todo);
    let sid = Uuid::now_v7();
    let mut ports = Ports::default();
    let mut seq = Sequence::new();
    let found = Some((alice.clone(), Some(task.clone())));
    ports
        .tasks
        .expect_find_with_session_user()
        .times(1)
        .in_sequence(&mut seq)
        .returning(move |_, _| Ok(found.clone()));
    ports
        .tasks
        .expect_update()
        .withf(|_, expected| *expected == 4)
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| Err(DomainError::PreconditionFailed("raced".into())));
    let mut newer = task.clone();
    newer.version = 5;
    ports
        .tasks
        .expect_find_by_id()
        .times(1)
        .in_sequence(&mut seq)
        .returning(move |_| Ok(Some(newer.clone())));
    ports
        .tasks
        .expect_update()
        .withf(|written, expected| *expected == 5 && written.title.as_str() == "Renamed")
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| Ok(()));
    let patched = ports
        .service()
        .patch(
            &token_of(&alice, sid),
            TaskScope::Visible,
            task.id,
            None,
            rename(),
        )
        .await
        .unwrap();
    assert_eq!(patched.version, 6);
}

#[tokio::test]
async fn writes_by_a_revoked_token_change_nothing() {
    let alice = member();
    let id = Uuid::now_v7();
    let sid = Uuid::now_v7();
    let claims = token_of(&alice, sid);

    let mut ports = Ports::default();
    ports.session_read(sid, id, None);
    ports.never_writes();
    assert_unauthorized(
        ports
            .service()
            .patch(&claims, TaskScope::Visible, id, None, rename())
            .await,
    );

    let mut ports = Ports::default();
    ports.session_read(sid, id, None);
    ports.never_writes();
    assert_unauthorized(
        ports
            .service()
            .delete(&claims, TaskScope::Visible, id, None)
            .await,
    );
}

#[tokio::test]
async fn delete_by_token_deletes_what_the_fused_read_found() {
    let alice = member();
    let task = task_of(&alice, 2, TaskStatus::Done);
    let sid = Uuid::now_v7();
    let mut ports = Ports::default();
    ports.session_read(sid, task.id, Some((alice.clone(), Some(task.clone()))));
    let id = task.id;
    ports
        .tasks
        .expect_delete()
        .withf(move |task_id, expected| *task_id == id && *expected == Some(2))
        .times(1)
        .returning(|_, _| Ok(()));
    ports
        .service()
        .delete(
            &token_of(&alice, sid),
            TaskScope::Visible,
            task.id,
            Some(Precondition::Versions(vec![2])),
        )
        .await
        .unwrap();
}
