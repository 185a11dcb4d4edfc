//! Keyset paging (`cursor`, `next_cursor`) and capped totals (`total_exact`) of the
//! task list in every route form, and of the admin's user list.

use std::collections::{HashMap, HashSet};

use reqwest::Method;
use serde_json::{Value, json};
use taskforge_tests::{TestApp, assert_problem, error_fields, json_of, spawn_app, spawn_app_with};

use crate::{TASKS, create, id_of, ids, list_at, query_string, send, task_path};

/// Every sort of the contract, both directions.
const SORTS: [&str; 10] = [
    "created_at",
    "-created_at",
    "updated_at",
    "-updated_at",
    "due_date",
    "-due_date",
    "priority",
    "-priority",
    "title",
    "-title",
];

/// A task body whose sort keys repeat (so the id must break ties) and whose due date
/// is missing for every third.
fn varied(n: usize) -> Value {
    let priority = ["low", "medium", "high"][n % 3];
    let title = ["beta", "Alpha", "alpha", "école", "Zulu"][n % 5];
    let due = match n % 3 {
        0 => Value::Null,
        _ => json!(format!("2027-01-0{}T10:00:00Z", 1 + n % 4)),
    };
    json!({"title": title, "priority": priority, "due_date": due, "description": format!("lasting {n}")})
}

/// The `next_cursor` of a page: a string, or null.
fn next_cursor(page: &Value) -> Option<String> {
    match &page["next_cursor"] {
        Value::Null => None,
        Value::String(cursor) => Some(cursor.clone()),
        other => panic!("next_cursor is a string or null: {other}"),
    }
}

/// Walks `path?pairs` page by page through `next_cursor`, calling `between` after every
/// page; the ids in the order seen.
async fn walk(
    app: &TestApp,
    path: &str,
    token: &str,
    pairs: &[(&str, &str)],
    mut between: impl AsyncFnMut(usize),
) -> Vec<String> {
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for step in 0.. {
        let mut query: Vec<(&str, &str)> = pairs.to_vec();
        if let Some(cursor) = &cursor {
            query.push(("cursor", cursor));
        }
        let page = list_at(app, path, token, &query).await;
        let items = ids(&page);
        assert_eq!(page["offset"], json!(0), "{page}");
        seen.extend(items);
        between(step).await;
        match next_cursor(&page) {
            Some(next) => cursor = Some(next),
            None => break,
        }
        assert!(step < 1000, "the walk ends");
    }
    seen
}

#[tokio::test]
async fn walking_by_cursor_while_another_client_writes_sees_every_lasting_task_once() {
    let app = spawn_app().await;
    let user = app.user("walker@example.com").await;
    let mut lasting = HashSet::new();
    for n in 0..14 {
        lasting.insert(id_of(&create(&app, &user.access, varied(n)).await));
    }
    let mut doomed = Vec::new();
    for n in 0..40 {
        doomed.push(id_of(&create(&app, &user.access, varied(n + 1)).await));
    }

    for sort in SORTS {
        let mut counter = 0;
        let seen = walk(
            &app,
            TASKS,
            &user.access,
            &[("sort", sort), ("limit", "3")],
            async |_| {
                // Between pages another client adds a task and deletes one: each sort
                // walk sees rows come and go on both sides of its position.
                counter += 1;
                create(&app, &user.access, varied(counter * 7)).await;
                if let Some(id) = doomed.pop() {
                    let res = send(
                        &app,
                        Method::DELETE,
                        &task_path(&id),
                        Some(&user.access),
                        None,
                        None,
                    )
                    .await;
                    assert_eq!(res.status().as_u16(), 204);
                }
            },
        )
        .await;
        let mut counts: HashMap<&String, usize> = HashMap::new();
        for id in &seen {
            *counts.entry(id).or_default() += 1;
        }
        assert!(
            counts.values().all(|&n| n == 1),
            "sort={sort}: a task repeated"
        );
        for id in &lasting {
            assert_eq!(
                counts.get(id),
                Some(&1),
                "sort={sort}: lasting task {id} seen once"
            );
        }
    }
}

#[tokio::test]
async fn a_walk_by_cursor_equals_the_walk_by_offset_in_every_route_form_and_filter() {
    let app = spawn_app().await;
    let user = app.user("forms@example.com").await;
    for n in 0..11 {
        create(&app, &user.access, varied(n)).await;
    }
    let scoped = format!("/api/v1/users/{}/tasks", user.id);
    let legacy = format!("/api/{}/tasks", user.id);
    for path in [TASKS, &scoped, &legacy] {
        for pairs in [
            vec![("sort", "-due_date")],
            vec![("sort", "title"), ("priority", "high")],
            vec![("q", "LASTING 1"), ("sort", "-priority")],
            vec![("completed", "false"), ("sort", "updated_at")],
        ] {
            let mut with_limit = pairs.clone();
            with_limit.push(("limit", "2"));
            let by_cursor = walk(&app, path, &user.access, &with_limit, async |_| {}).await;
            let mut all = pairs.clone();
            all.push(("limit", "100"));
            let full = list_at(&app, path, &user.access, &all).await;
            assert_eq!(by_cursor, ids(&full), "{path} {pairs:?}");
            assert_eq!(full["next_cursor"], Value::Null, "the whole list fits");
        }
    }
}

#[tokio::test]
async fn a_full_last_page_has_no_next_cursor_and_an_offset_page_has_one() {
    let app = spawn_app().await;
    let user = app.user("full@example.com").await;
    for n in 0..4 {
        create(&app, &user.access, varied(n)).await;
    }
    let first = list_at(
        &app,
        TASKS,
        &user.access,
        &[("limit", "2"), ("offset", "0")],
    )
    .await;
    let cursor = next_cursor(&first).expect("a row follows the first page");
    let last = list_at(
        &app,
        TASKS,
        &user.access,
        &[("limit", "2"), ("cursor", &cursor)],
    )
    .await;
    assert_eq!(ids(&last).len(), 2);
    assert_eq!(last["next_cursor"], Value::Null, "{last}");
    let by_offset = list_at(
        &app,
        TASKS,
        &user.access,
        &[("limit", "2"), ("offset", "2")],
    )
    .await;
    assert_eq!(ids(&by_offset), ids(&last));
}

#[tokio::test]
async fn a_cursor_of_another_sort_or_filter_or_a_malformed_one_is_422_on_cursor() {
    let app = spawn_app().await;
    let user = app.user("refused@example.com").await;
    let other = app.user("other@example.com").await;
    for n in 0..3 {
        create(&app, &user.access, varied(n)).await;
        create(&app, &other.access, varied(n)).await;
    }
    let page = list_at(
        &app,
        TASKS,
        &user.access,
        &[("limit", "1"), ("sort", "title")],
    )
    .await;
    let cursor = next_cursor(&page).expect("a cursor");
    let refused: [(&str, Vec<(&str, &str)>); 7] = [
        ("another sort", vec![("sort", "-title")]),
        ("the default sort", vec![]),
        (
            "another filter",
            vec![("sort", "title"), ("status", "todo")],
        ),
        ("another q", vec![("sort", "title"), ("q", "a")]),
        ("with an offset", vec![("sort", "title"), ("offset", "0")]),
        ("another user", vec![("sort", "title"), ("as", "other")]),
        (
            "malformed",
            vec![("sort", "title"), ("cursor", "not-a-cursor")],
        ),
    ];
    for (what, pairs) in refused {
        let token = if pairs.contains(&("as", "other")) {
            &other.access
        } else {
            &user.access
        };
        let mut query: Vec<(&str, &str)> = pairs.into_iter().filter(|(k, _)| *k != "as").collect();
        if !query.iter().any(|(k, _)| *k == "cursor") {
            query.push(("cursor", &cursor));
        }
        let res = app
            .get_auth(&format!("{TASKS}{}", query_string(&query)), token)
            .await;
        let body = assert_problem(res, 422, "validation_failed").await;
        assert_eq!(error_fields(&body), ["cursor"], "{what}: {body}");
    }
    // The cursor still works where it was made.
    list_at(
        &app,
        TASKS,
        &user.access,
        &[("sort", "title"), ("cursor", &cursor)],
    )
    .await;
}

#[tokio::test]
async fn totals_stop_at_max_exact_count_and_say_they_are_not_exact() {
    let app = spawn_app_with(&[("MAX_EXACT_COUNT", "5")]).await;
    let user = app.user("capped@example.com").await;
    for n in 0..7 {
        create(&app, &user.access, varied(n)).await;
    }
    let page = list_at(&app, TASKS, &user.access, &[("limit", "2")]).await;
    assert_eq!(
        (&page["total"], &page["total_exact"]),
        (&json!(5), &json!(false)),
        "{page}"
    );
    // Past the cap, where the page's own rows prove there are more than five.
    let deep = list_at(&app, TASKS, &user.access, &[("offset", "5")]).await;
    assert_eq!(
        (&deep["total"], &deep["total_exact"]),
        (&json!(5), &json!(false)),
        "{deep}"
    );
    assert_eq!(deep["items"].as_array().map(Vec::len), Some(2), "{deep}");
    // Past the end too.
    let past = list_at(&app, TASKS, &user.access, &[("offset", "50")]).await;
    assert_eq!(
        (&past["total"], &past["total_exact"]),
        (&json!(5), &json!(false)),
        "{past}"
    );
    // Five or fewer matches are counted exactly.
    let high = list_at(&app, TASKS, &user.access, &[("priority", "high")]).await;
    assert_eq!(
        (&high["total"], &high["total_exact"]),
        (&json!(2), &json!(true)),
        "{high}"
    );
    // Walking by cursor still reaches all seven.
    let seen = walk(&app, TASKS, &user.access, &[("limit", "3")], async |_| {}).await;
    assert_eq!(seen.len(), 7);
}

#[tokio::test]
async fn the_admins_user_list_pages_by_cursor_with_capped_totals() {
    let app = spawn_app_with(&[("MAX_EXACT_COUNT", "4")]).await;
    let admin = app.admin().await;
    for n in 0..6 {
        app.user(&format!("listed{n}@example.com")).await;
    }
    let users = "/api/v1/users";
    let (status, full) = json_of(
        app.get_auth(&format!("{users}?limit=100"), &admin.access)
            .await,
    )
    .await;
    assert_eq!(status, 200, "{full}");
    assert_eq!(
        (&full["total"], &full["total_exact"]),
        (&json!(4), &json!(false))
    );
    assert_eq!(full["next_cursor"], Value::Null);
    let every = ids(&full);
    assert_eq!(every.len(), 7);

    let mut seen = Vec::new();
    let mut url = format!("{users}?limit=2");
    loop {
        let (status, page) = json_of(app.get_auth(&url, &admin.access).await).await;
        assert_eq!(status, 200, "{page}");
        seen.extend(ids(&page));
        match next_cursor(&page) {
            Some(cursor) => url = format!("{users}?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, every);

    let (_, first) = json_of(
        app.get_auth(&format!("{users}?limit=2"), &admin.access)
            .await,
    )
    .await;
    let cursor = next_cursor(&first).expect("a cursor");
    let res = app
        .get_auth(&format!("{users}?role=user&cursor={cursor}"), &admin.access)
        .await;
    let body = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(error_fields(&body), ["cursor"], "{body}");
}
