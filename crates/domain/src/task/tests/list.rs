//! Listing tasks: whose tasks a list is forced to, and what is passed through.

use uuid::Uuid;

use super::{Ports, assert_forbidden, due, task_of};
use crate::page::{DEFAULT_MAX_EXACT_COUNT, ListRequest, Slice, Window};
use crate::task::TaskPosition;
use crate::task::{Priority, Task, TaskFilter, TaskScope, TaskSort, TaskStatus};
use crate::tests::fixtures::{admin, earlier, invalid_fields, member};

fn one_page() -> Slice<Task> {
    Slice {
        items: vec![task_of(&member(), 1, TaskStatus::Todo)],
        total: 1,
        total_exact: true,
        more: false,
    }
}

/// `list` expects a filter whose owner is `owner` (the rest as `base`), `sort` and `page`.
fn expect_list(
    ports: &mut Ports,
    base: &TaskFilter,
    owner: Option<Uuid>,
    sort: TaskSort,
    request: ListRequest,
) {
    let page = Window::at(request.page(), DEFAULT_MAX_EXACT_COUNT);
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
    let page = ListRequest::new(Some(5), Some(10), None).unwrap();
    let mut ports = Ports::default();
    expect_list(&mut ports, &filter, Some(actor.id), sort, page.clone());
    let result = ports
        .service()
        .list(&actor, TaskScope::Visible, filter, sort, &page)
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
        ListRequest::default(),
    );
    let result = ports
        .service()
        .list(
            &actor,
            TaskScope::Visible,
            filter,
            TaskSort::default(),
            &ListRequest::default(),
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
            &ListRequest::default(),
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
        ListRequest::default(),
    );
    let result = ports
        .service()
        .list(
            &admin(),
            TaskScope::Visible,
            filter,
            TaskSort::default(),
            &ListRequest::default(),
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
        ListRequest::default(),
    );
    let result = ports
        .service()
        .list(
            &admin(),
            TaskScope::Visible,
            filter,
            TaskSort::default(),
            &ListRequest::default(),
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
        ListRequest::default(),
    );
    let result = ports
        .service()
        .list(
            &admin(),
            TaskScope::OwnedBy(scoped),
            filter,
            TaskSort::default(),
            &ListRequest::default(),
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
            &ListRequest::default(),
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
            &ListRequest::default(),
        )
        .await;
    assert_forbidden(result);
}

#[tokio::test]
async fn a_page_with_more_rows_carries_a_cursor_that_resumes_after_its_last_task() {
    let actor = member();
    let sort = TaskSort::parse("-priority").unwrap();
    let last = task_of(&actor, 7, TaskStatus::Done);
    let mut ports = Ports::default();
    let answer = Slice {
        items: vec![last.clone()],
        total: 10_000,
        total_exact: false,
        more: true,
    };
    ports
        .tasks
        .expect_list()
        .times(1)
        .returning(move |_, _, _| Ok(answer.clone()));
    let expected = TaskPosition::of(&last, sort.key);
    ports
        .tasks
        .expect_list()
        .withf(move |_, _, window| window.after.as_ref() == Some(&expected))
        .times(1)
        .returning(|_, _, _| Ok(one_page()));
    let service = ports.service();
    let first = service
        .list(
            &actor,
            TaskScope::Visible,
            TaskFilter::default(),
            sort,
            &ListRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!((first.total, first.total_exact), (10_000, false));
    let cursor = first.next_cursor.expect("a cursor while rows follow");
    let next = ListRequest::new(None, None, Some(cursor.clone())).unwrap();
    let second = service
        .list(
            &actor,
            TaskScope::Visible,
            TaskFilter::default(),
            sort,
            &next,
        )
        .await
        .unwrap();
    assert_eq!(second.next_cursor, None);

    // The same cursor on another sort, or another filter, is refused.
    let other_sort = TaskSort::parse("priority").unwrap();
    let refused = service
        .list(
            &actor,
            TaskScope::Visible,
            TaskFilter::default(),
            other_sort,
            &next,
        )
        .await;
    assert_eq!(invalid_fields(refused), ["cursor"]);
    let other_filter = TaskFilter {
        status: Some(TaskStatus::Done),
        ..TaskFilter::default()
    };
    let refused = service
        .list(&actor, TaskScope::Visible, other_filter, sort, &next)
        .await;
    assert_eq!(invalid_fields(refused), ["cursor"]);
}

#[test]
fn a_cursor_with_an_offset_is_refused() {
    assert_eq!(
        invalid_fields(ListRequest::new(None, Some(0), Some("00".into()))),
        ["cursor"]
    );
}
