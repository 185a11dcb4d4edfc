//! `TaskRepository::list`: every filter, literal search, every sort in both directions
//! with id tie-breaks, and pages.

use super::*;

/// Two owners' tasks covering every filter value.
async fn filter_fixture(db: &TestDb) -> (Uuid, Uuid, Vec<Task>) {
    let alice = insert_user(db, "fa@example.com", Role::User).await;
    let bob = insert_user(db, "fb@example.com", Role::User).await;
    let mut tasks = Vec::new();
    let statuses = [TaskStatus::Todo, TaskStatus::InProgress, TaskStatus::Done];
    for i in 0..12_i64 {
        let owner = if i % 2 == 0 { alice.id } else { bob.id };
        let mut task = new_task(owner, &format!("task {i}"));
        task.set_status(statuses[(i % 3) as usize], at(i));
        task.priority = Priority::ALL[((i / 3) % 3) as usize];
        // Every fourth task has no due date; the others are due at 100, 200, ...
        task.due_date = (i % 4 != 0).then(|| at(100 * i));
        task.created_at = at(i);
        task.updated_at = at(i);
        insert_task(db, &task).await;
        tasks.push(task);
    }
    (alice.id, bob.id, tasks)
}

async fn task_list_filters_each_narrow_items_and_total(db: TestDb) {
    let (alice, bob, tasks) = filter_fixture(&db).await;
    let check = |filter: TaskFilter, expected: &dyn Fn(&Task) -> bool| {
        let expected: HashSet<Uuid> = tasks.iter().filter(|t| expected(t)).map(|t| t.id).collect();
        let repo = db.tasks.clone();
        async move {
            assert!(!expected.is_empty(), "the fixture covers {filter:?}");
            let page = repo
                .list(&filter, TaskSort::default(), all())
                .await
                .unwrap();
            let got: HashSet<Uuid> = page.items.iter().map(|t| t.id).collect();
            assert_eq!(got, expected, "{filter:?}");
            assert_eq!(page.total, expected.len() as u64, "{filter:?}");
        }
    };
    let none = TaskFilter::default();

    check(none.clone(), &|_| true).await;
    check(
        TaskFilter {
            owner_id: Some(alice),
            ..none.clone()
        },
        &|t| t.owner_id == alice,
    )
    .await;
    check(
        TaskFilter {
            owner_id: Some(bob),
            ..none.clone()
        },
        &|t| t.owner_id == bob,
    )
    .await;
    for status in TaskStatus::ALL {
        check(
            TaskFilter {
                status: Some(status),
                ..none.clone()
            },
            &|t| t.status == status,
        )
        .await;
    }
    check(
        TaskFilter {
            completed: Some(true),
            ..none.clone()
        },
        &|t| t.status == TaskStatus::Done,
    )
    .await;
    check(
        TaskFilter {
            completed: Some(false),
            ..none.clone()
        },
        &|t| t.status != TaskStatus::Done,
    )
    .await;
    for priority in Priority::ALL {
        check(
            TaskFilter {
                priority: Some(priority),
                ..none.clone()
            },
            &|t| t.priority == priority,
        )
        .await;
    }
    // Strict bounds: a task due exactly at the bound is excluded; no due date never matches.
    check(
        TaskFilter {
            due_before: Some(at(500)),
            ..none.clone()
        },
        &|t| t.due_date.is_some_and(|d| d < at(500)),
    )
    .await;
    check(
        TaskFilter {
            due_after: Some(at(500)),
            ..none.clone()
        },
        &|t| t.due_date.is_some_and(|d| d > at(500)),
    )
    .await;
    check(
        TaskFilter {
            due_after: Some(at(100)),
            due_before: Some(at(700)),
            ..none.clone()
        },
        &|t| t.due_date.is_some_and(|d| d > at(100) && d < at(700)),
    )
    .await;
    // Filters combine with AND.
    check(
        TaskFilter {
            owner_id: Some(alice),
            completed: Some(false),
            priority: Some(Priority::Low),
            ..none.clone()
        },
        &|t| t.owner_id == alice && t.status != TaskStatus::Done && t.priority == Priority::Low,
    )
    .await;
    check(
        TaskFilter {
            owner_id: Some(bob),
            q: Some("TASK 1".into()),
            ..none.clone()
        },
        &|t| t.owner_id == bob && t.title.as_str().starts_with("task 1"),
    )
    .await;
}

async fn search(db: &TestDb, q: &str) -> HashSet<String> {
    let filter = TaskFilter {
        q: Some(q.to_owned()),
        ..TaskFilter::default()
    };
    let page = db
        .tasks
        .list(&filter, TaskSort::default(), all())
        .await
        .unwrap();
    assert_eq!(page.total, page.items.len() as u64);
    page.items
        .into_iter()
        .map(|t| t.title.as_str().to_owned())
        .collect()
}

fn titles(titles: &[&str]) -> HashSet<String> {
    titles.iter().map(|t| (*t).to_owned()).collect()
}

async fn task_search_treats_percent_underscore_and_backslash_literally(db: TestDb) {
    let owner = insert_user(&db, "lit@example.com", Role::User).await;
    for title in [
        "100% done",
        "100 percent done",
        "snake_case",
        "snakeXcase",
        r"back\slash",
        "backslash",
        "it's done",
        r"quote\'d",
        "costs $1 each",
    ] {
        insert_task(&db, &new_task(owner.id, title)).await;
    }
    assert_eq!(search(&db, "%").await, titles(&["100% done"]));
    assert_eq!(search(&db, "0% d").await, titles(&["100% done"]));
    assert_eq!(search(&db, "_").await, titles(&["snake_case"]));
    assert_eq!(search(&db, "e_c").await, titles(&["snake_case"]));
    assert_eq!(
        search(&db, r"\").await,
        titles(&[r"back\slash", r"quote\'d"])
    );
    assert_eq!(search(&db, r"k\s").await, titles(&[r"back\slash"]));
    assert_eq!(search(&db, r"\%").await, titles(&[]));
    // Quotes and what looks like a placeholder are text like any other.
    assert_eq!(search(&db, "'").await, titles(&["it's done", r"quote\'d"]));
    assert_eq!(search(&db, "t's d").await, titles(&["it's done"]));
    assert_eq!(search(&db, r"\'").await, titles(&[r"quote\'d"]));
    assert_eq!(search(&db, "$1").await, titles(&["costs $1 each"]));
    assert_eq!(
        search(&db, "done").await,
        titles(&["100% done", "100 percent done", "it's done"])
    );
}

async fn task_search_is_case_insensitive_beyond_ascii_in_title_and_description(db: TestDb) {
    let owner = insert_user(&db, "case@example.com", Role::User).await;
    insert_task(&db, &new_task(owner.id, "Visit the école")).await;
    insert_task(&db, &new_task(owner.id, "ΣΟΦΙΑ notes")).await;
    let mut described = new_task(owner.id, "plain title");
    described.description = description("Bring the ÉCOLE forms");
    insert_task(&db, &described).await;
    insert_task(&db, &new_task(owner.id, "unrelated")).await;

    assert_eq!(
        search(&db, "ÉCOLE").await,
        titles(&["Visit the école", "plain title"])
    );
    assert_eq!(
        search(&db, "école").await,
        titles(&["Visit the école", "plain title"])
    );
    assert_eq!(search(&db, "σοφια").await, titles(&["ΣΟΦΙΑ notes"]));
    assert_eq!(search(&db, "VISIT").await, titles(&["Visit the école"]));
    assert_eq!(search(&db, "Forms").await, titles(&["plain title"]));
}

/// The titles of `owner`'s tasks matching `q` (every owner's when `None`).
async fn search_by(db: &TestDb, owner: Option<Uuid>, q: &str) -> HashSet<String> {
    let filter = TaskFilter {
        owner_id: owner,
        q: Some(q.to_owned()),
        ..TaskFilter::default()
    };
    let page = db
        .tasks
        .list(&filter, TaskSort::default(), all())
        .await
        .unwrap();
    assert_eq!(page.total, page.items.len() as u64, "{q}");
    page.items
        .into_iter()
        .map(|t| t.title.as_str().to_owned())
        .collect()
}

/// Search follows every write, for needles of every length: one owner with many tasks
/// and a few matches (the shape a search index serves on SQLite), the admin's list of
/// all, and the other owner's list.
async fn task_search_follows_created_updated_and_deleted_tasks(db: TestDb) {
    let owner = insert_user(&db, "follow@example.com", Role::User).await;
    let other = insert_user(&db, "other@example.com", Role::User).await;
    for i in 0..30 {
        insert_task(&db, &new_task(owner.id, &format!("filler {i}"))).await;
    }
    let mut ecole = new_task(owner.id, "Visit the ÉCOLE");
    insert_task(&db, &ecole).await;
    let mut percent = new_task(owner.id, "ship 100% of q_3");
    percent.description = description(r"path c:\tmp");
    insert_task(&db, &percent).await;
    let theirs = new_task(other.id, "their école");
    insert_task(&db, &theirs).await;

    for who in [Some(owner.id), None] {
        // 1, 2 and 3+ characters, wildcards and the escape character literal, case
        // beyond ASCII, title and description.
        for (q, expected) in [
            ("É", vec!["Visit the ÉCOLE"]),
            ("%", vec!["ship 100% of q_3"]),
            ("_3", vec!["ship 100% of q_3"]),
            ("0% o", vec!["ship 100% of q_3"]),
            (r"c:\t", vec!["ship 100% of q_3"]),
            ("%_", vec![]),
            ("école", vec!["Visit the ÉCOLE"]),
            ("ILLER 29", vec!["filler 29"]),
            ("nowhere", vec![]),
        ] {
            let mut expected = titles(&expected);
            if who.is_none() && q.to_lowercase().contains('é') {
                expected.insert("their école".to_owned());
            }
            assert_eq!(search_by(&db, who, q).await, expected, "{q} for {who:?}");
        }
    }
    assert_eq!(
        search_by(&db, Some(other.id), "ÉCOLE").await,
        titles(&["their école"])
    );

    // An update moves the task from its old words to its new ones.
    bump(&db, &mut ecole, "Visit the museum").await;
    assert_eq!(search_by(&db, Some(owner.id), "école").await, titles(&[]));
    assert_eq!(search_by(&db, Some(owner.id), "é").await, titles(&[]));
    assert_eq!(
        search_by(&db, Some(owner.id), "MUSEUM").await,
        titles(&["Visit the museum"])
    );
    assert_eq!(
        search_by(&db, None, "école").await,
        titles(&["their école"])
    );

    // A change of another field keeps the task findable.
    let before = percent.clone();
    percent.set_status(TaskStatus::Done, now());
    percent.updated_at = now();
    percent.version += 1;
    db.tasks
        .update(&percent, before.version, &log_updated(&before, &percent))
        .await
        .unwrap();
    assert_eq!(
        search_by(&db, Some(owner.id), "100%").await,
        titles(&["ship 100% of q_3"])
    );

    // A deleted task is found no more.
    db.tasks
        .delete(percent.id, Some(percent.version), &log_deleted(&percent))
        .await
        .unwrap();
    for q in ["%", "_3", "100%", r"c:\tmp"] {
        assert_eq!(search_by(&db, Some(owner.id), q).await, titles(&[]), "{q}");
        assert_eq!(search_by(&db, None, q).await, titles(&[]), "{q}");
    }
    assert_eq!(
        search_by(&db, None, "filler 1").await.len(),
        11,
        "filler 1 and filler 10 to 19"
    );
}

/// The order the port promises, computed independently in Rust.
fn expected_order(tasks: &[Task], sort: TaskSort) -> Vec<Uuid> {
    let mut sorted = tasks.to_vec();
    sorted.sort_by(|a, b| {
        if sort.key == TaskSortKey::DueDate {
            // Nulls last, whatever the direction.
            let nulls = a.due_date.is_none().cmp(&b.due_date.is_none());
            if nulls != Ordering::Equal {
                return nulls;
            }
        }
        let by_key = match sort.key {
            TaskSortKey::CreatedAt => a.created_at.cmp(&b.created_at),
            TaskSortKey::UpdatedAt => a.updated_at.cmp(&b.updated_at),
            TaskSortKey::DueDate => a.due_date.cmp(&b.due_date),
            TaskSortKey::Priority => a.priority.cmp(&b.priority),
            TaskSortKey::Title => a.title.as_str().cmp(b.title.as_str()),
        };
        let order = by_key.then(a.id.cmp(&b.id));
        if sort.descending {
            order.reverse()
        } else {
            order
        }
    });
    ids(&sorted, |t| t.id)
}

/// Tasks with many ties on every key, so the tie-breaker is exercised everywhere.
async fn sort_fixture(db: &TestDb) -> Vec<Task> {
    let owner = insert_user(db, "sort@example.com", Role::User).await;
    let titles = [
        "beta", "Alpha", "alpha", "Beta", "école", "Zulu", "beta", "École", "Ωmega", "alpha",
        "zulu", "Alpha",
    ];
    let mut tasks = Vec::new();
    for (i, title) in titles.into_iter().enumerate() {
        let i = i as i64;
        let mut task = new_task(owner.id, title);
        task.priority = Priority::ALL[(i % 3) as usize];
        task.created_at = at(i % 4);
        task.updated_at = at((i * 7) % 5);
        task.due_date = (i % 3 != 1).then(|| at(1000 * (i % 4)));
        insert_task(db, &task).await;
        tasks.push(task);
    }
    tasks
}

async fn task_list_sorts_by_every_key_in_both_directions_with_id_tie_breaks(db: TestDb) {
    let tasks = sort_fixture(&db).await;
    for key in ["created_at", "updated_at", "due_date", "priority", "title"] {
        for raw in [key.to_owned(), format!("-{key}")] {
            let sort = TaskSort::parse(&raw).unwrap();
            let page = db
                .tasks
                .list(&TaskFilter::default(), sort, all())
                .await
                .unwrap();
            assert_eq!(
                ids(&page.items, |t| t.id),
                expected_order(&tasks, sort),
                "sort={raw}"
            );
        }
    }
}

async fn priority_sorts_by_rank_not_by_name(db: TestDb) {
    let owner = insert_user(&db, "prio@example.com", Role::User).await;
    for priority in [Priority::Medium, Priority::High, Priority::Low] {
        let mut task = new_task(owner.id, priority.as_str());
        task.priority = priority;
        insert_task(&db, &task).await;
    }
    let order = |raw: &str| {
        let repo = db.tasks.clone();
        let sort = TaskSort::parse(raw).unwrap();
        async move {
            let page = repo
                .list(&TaskFilter::default(), sort, all())
                .await
                .unwrap();
            page.items
                .into_iter()
                .map(|t| t.priority)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        order("priority").await,
        [Priority::Low, Priority::Medium, Priority::High]
    );
    assert_eq!(
        order("-priority").await,
        [Priority::High, Priority::Medium, Priority::Low]
    );
}

async fn title_sorts_by_code_point(db: TestDb) {
    let owner = insert_user(&db, "titles@example.com", Role::User).await;
    for title in [
        "école", "apple", "Zebra", "École", "Ωmega", "zebra", "Apple", "banana",
    ] {
        insert_task(&db, &new_task(owner.id, title)).await;
    }
    let page = db
        .tasks
        .list(
            &TaskFilter::default(),
            TaskSort::parse("title").unwrap(),
            all(),
        )
        .await
        .unwrap();
    let got: Vec<&str> = page.items.iter().map(|t| t.title.as_str()).collect();
    // Upper-case ASCII < lower-case ASCII < Latin-1 < Greek: no locale would do this.
    assert_eq!(
        got,
        [
            "Apple", "Zebra", "apple", "banana", "zebra", "École", "école", "Ωmega"
        ]
    );
}

async fn tasks_without_due_date_sort_last_in_both_directions(db: TestDb) {
    let owner = insert_user(&db, "due@example.com", Role::User).await;
    for (title, due) in [
        ("none-1", None),
        ("late", Some(at(300))),
        ("none-2", None),
        ("early", Some(at(100))),
        ("middle", Some(at(200))),
    ] {
        let mut task = new_task(owner.id, title);
        task.due_date = due;
        insert_task(&db, &task).await;
    }
    let order = |raw: &str| {
        let repo = db.tasks.clone();
        let sort = TaskSort::parse(raw).unwrap();
        async move {
            let page = repo
                .list(&TaskFilter::default(), sort, all())
                .await
                .unwrap();
            page.items
                .into_iter()
                .map(|t| t.title.as_str().to_owned())
                .collect::<Vec<_>>()
        }
    };
    // Ties among the undated are broken by id (creation order here) in the sort's direction.
    assert_eq!(
        order("due_date").await,
        ["early", "middle", "late", "none-1", "none-2"]
    );
    assert_eq!(
        order("-due_date").await,
        ["late", "middle", "early", "none-2", "none-1"]
    );
}

async fn pages_of_tasks_cover_every_match_exactly_once(db: TestDb) {
    let tasks = sort_fixture(&db).await;
    let own = TaskFilter {
        owner_id: Some(tasks[0].owner_id),
        ..TaskFilter::default()
    };
    // Every sort both ways, as the admin's list and as the owner's (a page past the
    // first skips its rows by id alone, a statement of its own).
    for key in ["created_at", "updated_at", "due_date", "priority", "title"] {
        for raw in [key.to_owned(), format!("-{key}")] {
            let sort = TaskSort::parse(&raw).unwrap();
            for filter in [&TaskFilter::default(), &own] {
                let mut seen = Vec::new();
                for offset in (0..tasks.len() as u64).step_by(5) {
                    let page = db.tasks.list(filter, sort, page(5, offset)).await.unwrap();
                    assert_eq!(page.total, tasks.len() as u64);
                    seen.extend(ids(&page.items, |t| t.id));
                }
                assert_eq!(seen, expected_order(&tasks, sort), "sort={raw}");
            }
        }
    }

    // A page past the end has no rows but still knows the total; no match at all is 0.
    let past = tasks.len() as u64 + 3;
    let page_past = db
        .tasks
        .list(&TaskFilter::default(), TaskSort::default(), page(5, past))
        .await
        .unwrap();
    assert!(page_past.items.is_empty());
    assert_eq!(page_past.total, tasks.len() as u64);
    let nobody = TaskFilter {
        owner_id: Some(Uuid::now_v7()),
        ..TaskFilter::default()
    };
    let empty = db
        .tasks
        .list(&nobody, TaskSort::default(), page(5, 0))
        .await
        .unwrap();
    assert_eq!((empty.items.len(), empty.total), (0, 0));
}

async fn pages_by_position_walk_every_sort_exactly_once(db: TestDb) {
    let tasks = sort_fixture(&db).await;
    for key in ["created_at", "updated_at", "due_date", "priority", "title"] {
        for raw in [key.to_owned(), format!("-{key}")] {
            let sort = TaskSort::parse(&raw).unwrap();
            let mut seen = Vec::new();
            let mut window = page(5, 0);
            loop {
                let slice = db
                    .tasks
                    .list(&TaskFilter::default(), sort, window.clone())
                    .await
                    .unwrap();
                assert_eq!((slice.total, slice.total_exact), (tasks.len() as u64, true));
                seen.extend(ids(&slice.items, |t| t.id));
                match slice.items.last() {
                    Some(last) if slice.more => {
                        window = page(5, 0).after(TaskPosition::of(last, sort.key));
                    }
                    _ => break,
                }
            }
            assert_eq!(seen, expected_order(&tasks, sort), "sort={raw}");
        }
    }
}

/// `task` written again with `change` applied, at `updated`: stored, returned.
async fn rewrite(db: &TestDb, task: &Task, updated: i64, change: impl FnOnce(&mut Task)) -> Task {
    let mut after = task.clone();
    change(&mut after);
    after.updated_at = at(updated);
    after.version += 1;
    db.tasks
        .update(&after, task.version, &log_updated(task, &after))
        .await
        .expect("update task");
    after
}

/// The lists by `updated_at` see every later write: the order moves with updates, a
/// task given to another owner moves to their list, a deleted task leaves it (on
/// PostgreSQL the sort is read from `task_recency`, which triggers keep in step).
async fn the_updated_at_order_follows_updates_reassignments_and_deletes(db: TestDb) {
    let alice = insert_user(&db, "recent-a@example.com", Role::User).await;
    let bob = insert_user(&db, "recent-b@example.com", Role::User).await;
    let mut tasks = Vec::new();
    for i in 0..7_i64 {
        let mut task = new_task(alice.id, &format!("recent {i}"));
        task.created_at = at(i);
        task.updated_at = at(i);
        insert_task(&db, &task).await;
        tasks.push(task);
    }
    tasks[1] = rewrite(&db, &tasks[1], 100, |t| {
        t.title = Title::parse("recent 1, edited").expect("title");
    })
    .await;
    // Same instant as task 4 after the rewrite: the id breaks the tie.
    tasks[5] = rewrite(&db, &tasks[5], 4, |t| t.priority = Priority::High).await;
    tasks[2] = rewrite(&db, &tasks[2], 50, |t| t.owner_id = bob.id).await;
    db.tasks
        .delete(tasks[3].id, Some(tasks[3].version), &log_deleted(&tasks[3]))
        .await
        .unwrap();
    let deleted = tasks.remove(3);
    let of = |owner: Option<Uuid>| -> Vec<Task> {
        tasks
            .iter()
            .filter(|t| owner.is_none_or(|o| t.owner_id == o))
            .cloned()
            .collect()
    };
    for owner in [Some(alice.id), Some(bob.id), None] {
        let filter = TaskFilter {
            owner_id: owner,
            ..TaskFilter::default()
        };
        for raw in ["updated_at", "-updated_at"] {
            let sort = TaskSort::parse(raw).unwrap();
            let expected = expected_order(&of(owner), sort);
            // Whole rows: the join reads each task as it is now.
            let rows: Vec<Task> = expected
                .iter()
                .filter_map(|id| tasks.iter().find(|t| t.id == *id).cloned())
                .collect();
            let whole = db.tasks.list(&filter, sort, all()).await.unwrap();
            assert_eq!(whole.items, rows, "{owner:?} {raw}");
            // By cursor, two at a time.
            let (mut seen, mut window) = (Vec::new(), page(2, 0));
            loop {
                let slice = db.tasks.list(&filter, sort, window.clone()).await.unwrap();
                seen.extend(ids(&slice.items, |t| t.id));
                match slice.items.last() {
                    Some(last) if slice.more => {
                        window = page(2, 0).after(TaskPosition::of(last, sort.key));
                    }
                    _ => break,
                }
            }
            assert_eq!(seen, expected, "{owner:?} {raw} by cursor");
            assert!(!seen.contains(&deleted.id));
        }
    }
}

async fn counts_stop_at_the_cap_and_say_so(db: TestDb) {
    let tasks = sort_fixture(&db).await;
    let n = tasks.len() as u64;
    for (cap, expected) in [(n - 1, (n - 1, false)), (n, (n, true)), (n + 1, (n, true))] {
        let mut window = page(2, 0);
        window.count_cap = cap;
        let slice = db
            .tasks
            .list(&TaskFilter::default(), TaskSort::default(), window.clone())
            .await
            .unwrap();
        assert_eq!((slice.total, slice.total_exact), expected, "cap {cap}");
        assert!(slice.more);
        // A page at every depth says the same: those that skip the cap's worth of rows
        // (their rows prove the count) and one past the end (it counts alone).
        for offset in (1..n).chain([n + 5]) {
            let slice = db
                .tasks
                .list(
                    &TaskFilter::default(),
                    TaskSort::default(),
                    Window {
                        offset,
                        ..window.clone()
                    },
                )
                .await
                .unwrap();
            assert_eq!(
                (slice.total, slice.total_exact),
                expected,
                "cap {cap}, offset {offset}"
            );
            assert_eq!(
                slice.items.len() as u64,
                n.saturating_sub(offset).min(2),
                "offset {offset}"
            );
            assert_eq!(slice.more, offset + 2 < n, "offset {offset}");
        }
    }
    // Past the cap in every order, for the whole list and for one owner's search: the
    // page holds the rows the whole list has there, and says "more than the cap".
    let search = TaskFilter {
        owner_id: Some(tasks[0].owner_id),
        q: Some("alpha".into()),
        ..TaskFilter::default()
    };
    for filter in [TaskFilter::default(), search] {
        for key in ["created_at", "updated_at", "due_date", "priority", "title"] {
            for raw in [key.to_owned(), format!("-{key}")] {
                let sort = TaskSort::parse(&raw).unwrap();
                let whole = db.tasks.list(&filter, sort, all()).await.unwrap().items;
                let skipped = whole.len() as u64 - 2;
                let mut window = page(5, skipped);
                window.count_cap = skipped;
                let slice = db.tasks.list(&filter, sort, window).await.unwrap();
                assert_eq!(
                    (slice.total, slice.total_exact),
                    (skipped, false),
                    "{raw}, {:?}",
                    filter.q
                );
                assert_eq!(
                    ids(&slice.items, |t| t.id),
                    ids(&whole[whole.len() - 2..], |t| t.id),
                    "{raw}, {:?}",
                    filter.q
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------

/// A second writer on the same storage, as another instance of the server: the plain
/// adapter on a pool of its own (SQL backends), the same store (in memory).
fn another_writer(db: &TestDb) -> Arc<dyn TaskRepository> {
    match &db.live {
        Some((pool, _)) => Arc::new(SeaTaskRepository::new(pool.clone())),
        None => db.tasks.clone(),
    }
}

/// Whether `task` is in the list of `filter` (the filters this file's count test uses).
fn listed_by(filter: &TaskFilter, task: &Task) -> bool {
    filter.owner_id.is_none_or(|owner| task.owner_id == owner)
        && filter.status.is_none_or(|status| task.status == status)
        && filter.q.as_ref().is_none_or(|q| {
            task.title
                .as_str()
                .to_lowercase()
                .contains(&q.to_lowercase())
        })
}

/// Every list's total is what its tasks are after each write, however often the same
/// list was read before (the fast path keeps counts between pages), and whichever
/// writer made the change: this repository or another on the same storage. Creations,
/// status and title changes, a task given to another owner, deletions.
async fn a_list_total_follows_every_change_of_its_tasks(db: TestDb) {
    let alice = insert_user(&db, "ta@example.com", Role::User).await.id;
    let bob = insert_user(&db, "tb@example.com", Role::User).await.id;
    let writers = [db.tasks.clone(), another_writer(&db)];
    // Enough done needles of alice's for the SQL adapters to keep the counts of every
    // filter below but bob's.
    let mut tasks: Vec<Task> = (0..taskforge_infra::task_repository::KEEP_COUNTS_FROM)
        .map(|i| {
            let mut task = new_task(alice, &format!("Needle {i}"));
            task.set_status(TaskStatus::Done, now());
            task
        })
        .collect();
    for chunk in tasks.chunks(50) {
        futures_util::future::join_all(chunk.iter().map(|task| insert_task(&db, task))).await;
    }
    let filters = [
        TaskFilter::default(),
        TaskFilter {
            owner_id: Some(alice),
            ..TaskFilter::default()
        },
        TaskFilter {
            owner_id: Some(alice),
            status: Some(TaskStatus::Done),
            ..TaskFilter::default()
        },
        TaskFilter {
            owner_id: Some(bob),
            ..TaskFilter::default()
        },
        TaskFilter {
            q: Some("needle".into()),
            ..TaskFilter::default()
        },
    ];
    // Each list read twice with the default cap, and twice with a cap that alice's
    // lists exceed (a kept count past the cap still says so).
    let keep_from = taskforge_infra::task_repository::KEEP_COUNTS_FROM;
    let capped = Window::at(PageRequest::new(Some(1), None).unwrap(), keep_from);
    let check = async |tasks: &[Task], step: &str| {
        for filter in &filters {
            let expected = tasks.iter().filter(|t| listed_by(filter, t)).count() as u64;
            for read in ["first", "again"] {
                let page = db
                    .tasks
                    .list(filter, TaskSort::default(), page(1, 0))
                    .await
                    .unwrap();
                assert_eq!(page.total, expected, "{step}, {read} read of {filter:?}");
                let page = db
                    .tasks
                    .list(filter, TaskSort::default(), capped.clone())
                    .await
                    .unwrap();
                assert_eq!(
                    (page.total, page.total_exact),
                    (expected.min(keep_from), expected <= keep_from),
                    "{step}, {read} capped read of {filter:?}"
                );
            }
        }
    };
    check(&tasks, "before any change").await;

    let created = tasks.len();
    let done = |t: &mut Task| t.set_status(TaskStatus::Done, now());
    let given_to_bob = |t: &mut Task| t.owner_id = bob;
    let retitled = |t: &mut Task| t.title = Title::parse("Hay and a NEEDLE").unwrap();
    let writes = vec![
        Write::Create(alice, "A needle"),
        Write::Create(alice, "Plain"),
        Write::Create(bob, "Hay"),
        Write::Change("done", created, &done),
        Write::Change("given to bob", created + 1, &given_to_bob),
        Write::Change("retitled", created + 2, &retitled),
        Write::Delete(created),
        Write::Delete(created),
    ];
    write_in_turn(&writers, &mut tasks, writes, check).await;
}

/// One write of [`write_in_turn`]: a task created (owner, title), a task of the list
/// changed (what, index, how), or one deleted (index).
enum Write<'a> {
    Create(Uuid, &'a str),
    Change(&'a str, usize, &'a dyn Fn(&mut Task)),
    Delete(usize),
}

/// Makes `writes` in order, by the two writers in turn (as two instances of the server
/// would), keeps `tasks` as they are after each, and calls `check` with them.
async fn write_in_turn(
    writers: &[Arc<dyn TaskRepository>; 2],
    tasks: &mut Vec<Task>,
    writes: Vec<Write<'_>>,
    check: impl AsyncFn(&[Task], &str),
) {
    for (n, write) in writes.into_iter().enumerate() {
        let writer = &writers[n % 2];
        let step = match write {
            Write::Create(owner, title) => {
                let task = new_task(owner, title);
                writer.insert(&task, &log_created(&task)).await.unwrap();
                tasks.push(task);
                format!("created {title}")
            }
            Write::Change(what, index, change) => {
                let before = tasks[index].clone();
                let after = &mut tasks[index];
                change(after);
                after.version += 1;
                after.updated_at = now();
                writer
                    .update(after, before.version, &log_updated(&before, after))
                    .await
                    .unwrap();
                what.to_owned()
            }
            Write::Delete(index) => {
                let task = tasks.remove(index);
                writer
                    .delete(task.id, Some(task.version), &log_deleted(&task))
                    .await
                    .unwrap();
                format!("deleted {}", task.title.as_str())
            }
        };
        check(tasks.as_slice(), &step).await;
    }
}

/// A page deep by offset holds the rows at its offset after each write, however often
/// it was read before (the SQL adapters keep the row before it, and the row before the
/// page after it), whichever writer made the change: creations before and after it, a
/// task retitled across it, one given to another owner, a deletion. A user's list and
/// the admin's, by title.
async fn a_deep_page_by_offset_follows_every_change_of_its_tasks(db: TestDb) {
    let alice = insert_user(&db, "da@example.com", Role::User).await.id;
    let bob = insert_user(&db, "db@example.com", Role::User).await.id;
    let writers = [db.tasks.clone(), another_writer(&db)];
    // As deep as the SQL adapters keep boundaries from.
    let deep = taskforge_infra::task_repository::KEEP_COUNTS_FROM;
    let deep_usize = usize::try_from(deep).unwrap();
    let mut tasks: Vec<Task> = (0..deep_usize + 30)
        .map(|i| new_task(alice, &format!("T{i:05}")))
        .collect();
    for chunk in tasks.chunks(50) {
        futures_util::future::join_all(chunk.iter().map(|task| insert_task(&db, task))).await;
    }
    let filters = [
        TaskFilter {
            owner_id: Some(alice),
            ..TaskFilter::default()
        },
        TaskFilter::default(),
    ];
    let sort = TaskSort {
        key: TaskSortKey::Title,
        descending: false,
    };
    let check = async |tasks: &[Task], step: &str| {
        for filter in &filters {
            let mut expected: Vec<&Task> = tasks.iter().filter(|t| listed_by(filter, t)).collect();
            expected.sort_by(|a, b| (a.title.as_str(), a.id).cmp(&(b.title.as_str(), b.id)));
            // A page, then the page after it.
            for offset in [deep, deep + 10] {
                let skip = usize::try_from(offset).unwrap();
                let want: Vec<Uuid> = expected.iter().skip(skip).take(10).map(|t| t.id).collect();
                for read in ["first", "again"] {
                    let page = db.tasks.list(filter, sort, page(10, offset)).await.unwrap();
                    assert_eq!(
                        ids(&page.items, |t| t.id),
                        want,
                        "{step}, {read} read at {offset} of {filter:?}"
                    );
                    assert_eq!(page.total, expected.len() as u64, "{step}, {filter:?}");
                }
            }
        }
    };
    check(&tasks, "before any change").await;

    // Creations before and after the page, changes of tasks before it, a deletion.
    let retitled = |t: &mut Task| t.title = Title::parse("U moved").unwrap();
    let given_to_bob = |t: &mut Task| t.owner_id = bob;
    let writes = vec![
        Write::Create(alice, "A first"),
        Write::Create(bob, "Z last"),
        Write::Change("retitled past the page", 5, &retitled),
        Write::Change("given to bob", 7, &given_to_bob),
        Write::Delete(3),
    ];
    write_in_turn(&writers, &mut tasks, writes, check).await;
}

contract!(
    task_list_filters_each_narrow_items_and_total,
    task_search_treats_percent_underscore_and_backslash_literally,
    task_search_is_case_insensitive_beyond_ascii_in_title_and_description,
    task_search_follows_created_updated_and_deleted_tasks,
    task_list_sorts_by_every_key_in_both_directions_with_id_tie_breaks,
    priority_sorts_by_rank_not_by_name,
    title_sorts_by_code_point,
    tasks_without_due_date_sort_last_in_both_directions,
    pages_of_tasks_cover_every_match_exactly_once,
    pages_by_position_walk_every_sort_exactly_once,
    the_updated_at_order_follows_updates_reassignments_and_deletes,
    counts_stop_at_the_cap_and_say_so,
    a_list_total_follows_every_change_of_its_tasks,
    a_deep_page_by_offset_follows_every_change_of_its_tasks,
);

/// The SQL adapters read a deep page again from the row before it, kept from the walk
/// that found it: a change their change log does not show (made here in SQL, behind
/// the repositories' back) goes unseen by that page, as by a kept count, until it is
/// walked again (a minute at most). The same page under another count cap is another
/// page, walked afresh: it shows the change.
async fn a_deep_page_read_again_starts_from_the_row_before_it(db: TestDb) {
    let (pool, _) = db.live.as_ref().expect("an SQL backend");
    let alice = insert_user(&db, "ka@example.com", Role::User).await.id;
    let deep = taskforge_infra::task_repository::KEEP_COUNTS_FROM;
    let tasks: Vec<Task> = (0..deep + 30)
        .map(|i| new_task(alice, &format!("T{i:05}")))
        .collect();
    for chunk in tasks.chunks(50) {
        futures_util::future::join_all(chunk.iter().map(|task| insert_task(&db, task))).await;
    }
    let filter = TaskFilter {
        owner_id: Some(alice),
        ..TaskFilter::default()
    };
    let sort = TaskSort {
        key: TaskSortKey::Title,
        descending: false,
    };
    let walked = ids(
        &db.tasks
            .list(&filter, sort, page(10, deep))
            .await
            .unwrap()
            .items,
        |t| t.id,
    );
    assert_eq!(walked.len(), 10);

    // The list's first task, retitled past its end.
    pool.execute_unprepared("UPDATE tasks SET title = 'U behind the log' WHERE title = 'T00000'")
        .await
        .unwrap();
    let again = db.tasks.list(&filter, sort, page(10, deep)).await.unwrap();
    assert_eq!(
        ids(&again.items, |t| t.id),
        walked,
        "read from the row before it"
    );
    let other_cap = Window {
        count_cap: DEFAULT_MAX_EXACT_COUNT - 1,
        ..page(10, deep)
    };
    let afresh = ids(
        &db.tasks.list(&filter, sort, other_cap).await.unwrap().items,
        |t| t.id,
    );
    assert_eq!(
        afresh[..9],
        walked[1..],
        "walked again, the page moved by one"
    );
}

mod kept_boundaries {
    use super::*;

    sql_contract!(a_deep_page_read_again_starts_from_the_row_before_it);
}
