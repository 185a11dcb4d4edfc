//! Listing tasks: whose tasks a list is forced to, and what is passed through.

use uuid::Uuid;

use super::{Ports, assert_forbidden, due, task_of};
use crate::page::{Page, PageRequest};
use crate::task::{Priority, Task, TaskFilter, TaskScope, TaskSort, TaskStatus};
use crate::tests::fixtures::{admin, earlier, invalid_fields, member};

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
