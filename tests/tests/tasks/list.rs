//! `GET /api/v1/tasks`: visibility, filters, sorting and paging.

use std::cmp::Ordering;
use std::collections::HashSet;

use reqwest::Method;
use serde_json::{Value, json};
use taskforge_tests::{Account, TestApp, assert_problem, error_fields, spawn_app};

use crate::{
    TASKS, create, create_titled, id_of, ids, instant, list, query_string, send, task_path, titles,
};

/// Creates one task per title and returns them in creation order.
async fn create_many(app: &TestApp, user: &Account, bodies: Vec<Value>) -> Vec<Value> {
    let mut tasks = Vec::new();
    for body in bodies {
        tasks.push(create(app, &user.access, body).await);
    }
    tasks
}

/// Titles of `GET /api/v1/tasks?pairs`, sorted, for order-free comparisons.
async fn matching_titles(app: &TestApp, user: &Account, pairs: &[(&str, &str)]) -> Vec<String> {
    let page = list(app, &user.access, pairs).await;
    let mut found = titles(&page);
    assert_eq!(
        page["total"],
        json!(found.len()),
        "total counts the filtered rows: {pairs:?}"
    );
    found.sort();
    found
}

fn sorted(titles: &[&str]) -> Vec<String> {
    let mut titles: Vec<String> = titles.iter().map(|t| (*t).to_owned()).collect();
    titles.sort();
    titles
}

fn rank(priority: &Value) -> u8 {
    match priority.as_str() {
        Some("low") => 1,
        Some("medium") => 2,
        Some("high") => 3,
        other => panic!("unknown priority {other:?}"),
    }
}

/// The order the contract demands for `sort`, computed locally: key in the sort's
/// direction, null due dates last either way, ties by id in the sort's direction.
fn expected_order(tasks: &[Value], sort: &str) -> Vec<String> {
    let (descending, key) = match sort.strip_prefix('-') {
        Some(key) => (true, key),
        None => (false, sort),
    };
    let directed = |o: Ordering| if descending { o.reverse() } else { o };
    let mut tasks = tasks.to_vec();
    tasks.sort_by(|a, b| {
        let by_key = match key {
            "created_at" | "updated_at" => directed(instant(&a[key]).cmp(&instant(&b[key]))),
            "priority" => directed(rank(&a["priority"]).cmp(&rank(&b["priority"]))),
            "title" => directed(
                a["title"]
                    .as_str()
                    .unwrap()
                    .cmp(b["title"].as_str().unwrap()),
            ),
            "due_date" => match (a["due_date"].is_null(), b["due_date"].is_null()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => directed(instant(&a["due_date"]).cmp(&instant(&b["due_date"]))),
            },
            other => panic!("unknown sort key {other}"),
        };
        by_key.then_with(|| directed(id_of(a).cmp(&id_of(b))))
    });
    tasks.iter().map(id_of).collect()
}

#[tokio::test]
async fn the_page_defaults_to_limit_20_offset_0_newest_first() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let mut created = Vec::new();
    for n in 0..22 {
        created.push(id_of(
            &create_titled(&app, &alice.access, &format!("task {n}")).await,
        ));
    }
    let page = list(&app, &alice.access, &[]).await;
    assert_eq!(page["total"], 22);
    assert_eq!(page["limit"], 20);
    assert_eq!(page["offset"], 0);
    created.reverse();
    assert_eq!(ids(&page), created[..20].to_vec(), "newest first");
    let page = list(&app, &alice.access, &[("offset", "20")]).await;
    assert_eq!(ids(&page), created[20..].to_vec());
    assert_eq!(page["offset"], 20);
    let explicit = list(
        &app,
        &alice.access,
        &[("sort", "-created_at"), ("limit", "100")],
    )
    .await;
    assert_eq!(ids(&explicit), created, "the default sort is -created_at");
}

#[tokio::test]
async fn an_empty_list_is_an_empty_page() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let page = list(&app, &alice.access, &[]).await;
    assert_eq!(
        page,
        json!({"items": [], "total": 0, "total_exact": true, "limit": 20, "offset": 0, "next_cursor": null})
    );
}

#[tokio::test]
async fn a_user_sees_only_their_own_tasks() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let bob = app.user("bob@example.com").await;
    let mine = create_titled(&app, &alice.access, "alice 1").await;
    let mine2 = create_titled(&app, &alice.access, "alice 2").await;
    let theirs = create_titled(&app, &bob.access, "bob 1").await;
    let page = list(&app, &alice.access, &[]).await;
    assert_eq!(ids(&page), vec![id_of(&mine2), id_of(&mine)]);
    assert_eq!(page["total"], 2);
    let page = list(&app, &bob.access, &[("q", "alice")]).await;
    assert_eq!(
        page["total"], 0,
        "a search does not reach other users' tasks"
    );
    let page = list(&app, &bob.access, &[("owner_id", &bob.id)]).await;
    assert_eq!(
        ids(&page),
        vec![id_of(&theirs)],
        "owner_id = self is allowed"
    );
}

#[tokio::test]
async fn a_non_admin_filtering_on_another_owner_is_403() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let bob = app.user("bob@example.com").await;
    create_titled(&app, &bob.access, "bob's").await;
    let url = format!("{TASKS}{}", query_string(&[("owner_id", &bob.id)]));
    let problem = assert_problem(app.get_auth(&url, &alice.access).await, 403, "forbidden").await;
    assert_eq!(problem["instance"], TASKS);
}

#[tokio::test]
async fn an_admin_sees_every_task_and_may_filter_by_owner() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let alice = app.user("alice@example.com").await;
    let bob = app.user("bob@example.com").await;
    let a = create_titled(&app, &alice.access, "alice's").await;
    let b = create_titled(&app, &bob.access, "bob's").await;
    let own = create_titled(&app, &admin.access, "admin's").await;
    let page = list(&app, &admin.access, &[]).await;
    assert_eq!(ids(&page), vec![id_of(&own), id_of(&b), id_of(&a)]);
    assert_eq!(page["total"], 3);
    let page = list(&app, &admin.access, &[("owner_id", &alice.id)]).await;
    assert_eq!(ids(&page), vec![id_of(&a)]);
    assert_eq!(page["total"], 1);
    let page = list(&app, &admin.access, &[("owner_id", &bob.id)]).await;
    assert_eq!(ids(&page), vec![id_of(&b)]);
}

#[tokio::test]
async fn status_completed_and_priority_filter_the_list() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    create_many(
        &app,
        &alice,
        vec![
            json!({"title": "todo-low", "priority": "low"}),
            json!({"title": "todo-high", "priority": "high"}),
            json!({"title": "progress-medium", "status": "in_progress"}),
            json!({"title": "done-high", "status": "done", "priority": "high"}),
            json!({"title": "done-low", "completed": true, "priority": "low"}),
        ],
    )
    .await;
    for (pairs, expected) in [
        (vec![("status", "todo")], vec!["todo-low", "todo-high"]),
        (vec![("status", "in_progress")], vec!["progress-medium"]),
        (vec![("status", "done")], vec!["done-high", "done-low"]),
        (vec![("completed", "true")], vec!["done-high", "done-low"]),
        (
            vec![("completed", "false")],
            vec!["todo-low", "todo-high", "progress-medium"],
        ),
        (vec![("priority", "high")], vec!["todo-high", "done-high"]),
        (vec![("priority", "medium")], vec!["progress-medium"]),
        (vec![("priority", "low")], vec!["todo-low", "done-low"]),
        (
            vec![("status", "todo"), ("priority", "low")],
            vec!["todo-low"],
        ),
        (
            vec![("completed", "true"), ("priority", "low")],
            vec!["done-low"],
        ),
        (
            vec![("status", "in_progress"), ("priority", "high")],
            vec![],
        ),
    ] {
        assert_eq!(
            matching_titles(&app, &alice, &pairs).await,
            sorted(&expected),
            "{pairs:?}"
        );
    }
}

#[tokio::test]
async fn q_searches_title_and_description_case_insensitively() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    create_many(
        &app,
        &alice,
        vec![
            json!({"title": "Buy MILK"}),
            json!({"title": "plain", "description": "remember the Milkman"}),
            json!({"title": "unrelated", "description": "nothing here"}),
        ],
    )
    .await;
    for q in ["milk", "MILK", "mIlK"] {
        assert_eq!(
            matching_titles(&app, &alice, &[("q", q)]).await,
            sorted(&["Buy MILK", "plain"]),
            "q={q}"
        );
    }
    assert_eq!(
        matching_titles(&app, &alice, &[("q", "milkman")]).await,
        vec!["plain"]
    );
    assert_eq!(
        matching_titles(&app, &alice, &[("q", "absent")]).await,
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn q_matches_percent_underscore_and_backslash_literally() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    create_many(
        &app,
        &alice,
        vec![
            json!({"title": "100% done"}),
            json!({"title": "100 done"}),
            json!({"title": "a_b"}),
            json!({"title": "axb"}),
            json!({"title": "back\\slash"}),
            json!({"title": "backslash"}),
        ],
    )
    .await;
    assert_eq!(
        matching_titles(&app, &alice, &[("q", "%")]).await,
        vec!["100% done"]
    );
    assert_eq!(
        matching_titles(&app, &alice, &[("q", "0% d")]).await,
        vec!["100% done"]
    );
    assert_eq!(
        matching_titles(&app, &alice, &[("q", "_")]).await,
        vec!["a_b"]
    );
    assert_eq!(
        matching_titles(&app, &alice, &[("q", "a_b")]).await,
        vec!["a_b"]
    );
    assert_eq!(
        matching_titles(&app, &alice, &[("q", "\\")]).await,
        vec!["back\\slash"]
    );
    assert_eq!(
        matching_titles(&app, &alice, &[("q", "100")]).await,
        sorted(&["100% done", "100 done"])
    );
}

#[tokio::test]
async fn q_folds_non_ascii_case() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    create_many(
        &app,
        &alice,
        vec![
            json!({"title": "école"}),
            json!({"title": "ÜBER ALLES"}),
            json!({"title": "ecole"}),
            json!({"title": "misc", "description": "Straße ΣΟΦΙΑ"}),
        ],
    )
    .await;
    assert_eq!(
        matching_titles(&app, &alice, &[("q", "ÉCOLE")]).await,
        vec!["école"]
    );
    assert_eq!(
        matching_titles(&app, &alice, &[("q", "über")]).await,
        vec!["ÜBER ALLES"]
    );
    assert_eq!(
        matching_titles(&app, &alice, &[("q", "σοφια")]).await,
        vec!["misc"]
    );
}

#[tokio::test]
async fn due_before_and_due_after_are_strict() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    create_many(
        &app,
        &alice,
        vec![
            json!({"title": "first", "due_date": "2030-01-01T00:00:00Z"}),
            json!({"title": "second", "due_date": "2030-01-02T00:00:00Z"}),
            json!({"title": "third", "due_date": "2030-01-03T00:00:00Z"}),
            json!({"title": "never"}),
        ],
    )
    .await;
    for (pairs, expected) in [
        (vec![("due_before", "2030-01-02T00:00:00Z")], vec!["first"]),
        (vec![("due_after", "2030-01-02T00:00:00Z")], vec!["third"]),
        (
            vec![("due_before", "2030-01-02T01:00:00+01:00")],
            vec!["first"],
        ),
        (
            vec![
                ("due_after", "2030-01-01T00:00:00Z"),
                ("due_before", "2030-01-03T00:00:00Z"),
            ],
            vec!["second"],
        ),
        (
            vec![("due_before", "2030-01-02T00:00:00.000001Z")],
            vec!["first", "second"],
        ),
        (
            vec![("due_after", "2030-01-01T23:59:59.999999Z")],
            vec!["second", "third"],
        ),
        (
            vec![("due_after", "2029-12-31T23:59:59Z")],
            vec!["first", "second", "third"],
        ),
        (vec![("due_before", "2030-01-01T00:00:00Z")], vec![]),
    ] {
        assert_eq!(
            matching_titles(&app, &alice, &pairs).await,
            sorted(&expected),
            "{pairs:?}"
        );
    }
}

#[tokio::test]
async fn priority_sorts_by_rank_not_alphabetically() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    create_many(
        &app,
        &alice,
        vec![
            json!({"title": "M", "priority": "medium"}),
            json!({"title": "H", "priority": "high"}),
            json!({"title": "L", "priority": "low"}),
        ],
    )
    .await;
    assert_eq!(
        titles(&list(&app, &alice.access, &[("sort", "priority")]).await),
        ["L", "M", "H"]
    );
    assert_eq!(
        titles(&list(&app, &alice.access, &[("sort", "-priority")]).await),
        ["H", "M", "L"]
    );
}

#[tokio::test]
async fn title_sorts_by_code_point() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    create_many(
        &app,
        &alice,
        vec![
            json!({"title": "é"}),
            json!({"title": "a"}),
            json!({"title": "B"}),
            json!({"title": "Z"}),
        ],
    )
    .await;
    assert_eq!(
        titles(&list(&app, &alice.access, &[("sort", "title")]).await),
        ["B", "Z", "a", "é"]
    );
    assert_eq!(
        titles(&list(&app, &alice.access, &[("sort", "-title")]).await),
        ["é", "a", "Z", "B"]
    );
}

#[tokio::test]
async fn tasks_without_a_due_date_sort_last_in_both_directions() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    create_many(
        &app,
        &alice,
        vec![
            json!({"title": "none-1"}),
            json!({"title": "late", "due_date": "2031-01-01T00:00:00Z"}),
            json!({"title": "none-2"}),
            json!({"title": "early", "due_date": "2030-01-01T00:00:00Z"}),
        ],
    )
    .await;
    let asc = titles(&list(&app, &alice.access, &[("sort", "due_date")]).await);
    assert_eq!(asc[..2], ["early", "late"]);
    assert_eq!(sorted(&[&asc[2], &asc[3]]), ["none-1", "none-2"]);
    let desc = titles(&list(&app, &alice.access, &[("sort", "-due_date")]).await);
    assert_eq!(desc[..2], ["late", "early"]);
    assert_eq!(sorted(&[&desc[2], &desc[3]]), ["none-1", "none-2"]);
}

#[tokio::test]
async fn ties_are_broken_by_id_in_the_sort_direction() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let tasks = create_many(&app, &alice, (0..6).map(|n| json!({"title": "same", "priority": "high", "due_date": "2030-01-01T00:00:00Z", "description": n.to_string()})).collect()).await;
    let mut by_id: Vec<String> = tasks.iter().map(id_of).collect();
    by_id.sort();
    let mut by_id_desc = by_id.clone();
    by_id_desc.reverse();
    for key in ["priority", "title", "due_date"] {
        assert_eq!(
            ids(&list(&app, &alice.access, &[("sort", key)]).await),
            by_id,
            "sort={key}: id ascending"
        );
        let desc = format!("-{key}");
        assert_eq!(
            ids(&list(&app, &alice.access, &[("sort", &desc)]).await),
            by_id_desc,
            "sort={desc}: id descending"
        );
    }
}

#[tokio::test]
async fn every_sort_key_orders_both_ways_with_nulls_last_and_ties_by_id() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let tasks = create_many(
        &app,
        &alice,
        vec![
            json!({"title": "b", "priority": "low", "due_date": "2030-03-01T00:00:00Z"}),
            json!({"title": "B", "priority": "high"}),
            json!({"title": "é", "priority": "medium", "due_date": "2030-01-01T00:00:00Z"}),
            json!({"title": "a", "priority": "high", "due_date": "2030-03-01T00:00:00Z"}),
            json!({"title": "b", "priority": "medium"}),
            json!({"title": "Zed", "priority": "low", "due_date": "2030-02-01T00:00:00.5Z"}),
            json!({"title": "ab", "priority": "high", "due_date": "2030-02-01T00:00:00Z"}),
        ],
    )
    .await;
    // Change two older tasks so that updated_at order differs from created_at order.
    for task in [&tasks[1], &tasks[0]] {
        let res = send(
            &app,
            Method::PATCH,
            &task_path(&id_of(task)),
            Some(&alice.access),
            Some(&json!({"description": "touched"})),
            None,
        )
        .await;
        assert_eq!(res.status().as_u16(), 200);
    }
    let all = list(&app, &alice.access, &[("limit", "100")]).await["items"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(all.len(), tasks.len());
    for key in ["created_at", "updated_at", "due_date", "priority", "title"] {
        for sort in [key.to_owned(), format!("-{key}")] {
            let page = list(&app, &alice.access, &[("sort", &sort), ("limit", "100")]).await;
            assert_eq!(
                ids(&page),
                expected_order(&all, &sort),
                "sort={sort}: {:?}",
                titles(&page)
            );
        }
    }
    let newest_change = list(
        &app,
        &alice.access,
        &[("sort", "-updated_at"), ("limit", "2")],
    )
    .await;
    assert_eq!(
        ids(&newest_change),
        vec![id_of(&tasks[0]), id_of(&tasks[1])]
    );
}

#[tokio::test]
async fn paging_over_25_tasks_never_repeats_or_skips_a_row() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let priorities = ["low", "medium", "high"];
    let mut bodies = Vec::new();
    for n in 0..25 {
        let mut body = json!({"title": format!("t{}", n % 4), "priority": priorities[n % 3]});
        if n % 2 == 0 {
            body["due_date"] = json!(format!("2030-01-0{}T00:00:00Z", 1 + n % 5));
        }
        bodies.push(body);
    }
    let tasks = create_many(&app, &alice, bodies).await;
    let everything: HashSet<String> = tasks.iter().map(id_of).collect();
    for sort in [
        "-created_at",
        "created_at",
        "priority",
        "-priority",
        "title",
        "-title",
        "due_date",
        "-due_date",
        "updated_at",
    ] {
        let full = ids(&list(&app, &alice.access, &[("sort", sort), ("limit", "100")]).await);
        let mut walked = Vec::new();
        for offset in [0, 10, 20, 30] {
            let offset = offset.to_string();
            let page = list(
                &app,
                &alice.access,
                &[("sort", sort), ("limit", "10"), ("offset", &offset)],
            )
            .await;
            assert_eq!(page["total"], 25, "sort={sort} offset={offset}");
            assert_eq!(page["limit"], 10);
            assert_eq!(page["offset"], json!(offset.parse::<u64>().unwrap()));
            walked.extend(ids(&page));
        }
        assert_eq!(walked.len(), 25, "sort={sort}: 10 + 10 + 5 + 0 rows");
        assert_eq!(
            walked.iter().cloned().collect::<HashSet<_>>(),
            everything,
            "sort={sort}: no row repeated or skipped"
        );
        assert_eq!(walked, full, "sort={sort}: pages follow the one order");
    }
}

#[tokio::test]
async fn limit_bounds_are_1_and_100() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    create_many(
        &app,
        &alice,
        (0..3).map(|n| json!({"title": format!("t{n}")})).collect(),
    )
    .await;
    let page = list(&app, &alice.access, &[("limit", "1")]).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(page["total"], 3);
    let page = list(&app, &alice.access, &[("limit", "100")]).await;
    assert_eq!(page["limit"], 100);
    assert_eq!(page["items"].as_array().unwrap().len(), 3);
    let page = list(&app, &alice.access, &[("offset", "1000")]).await;
    assert_eq!(page["items"], json!([]));
    assert_eq!(page["total"], 3);
}

#[tokio::test]
async fn invalid_list_parameters_are_422_naming_the_parameter() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=-5", "limit"),
        ("limit=ten", "limit"),
        ("limit=1.5", "limit"),
        ("offset=-1", "offset"),
        ("offset=x", "offset"),
        ("status=finished", "status"),
        ("status=DONE", "status"),
        ("priority=urgent", "priority"),
        ("completed=yes", "completed"),
        ("sort=colour", "sort"),
        ("sort=--title", "sort"),
        ("sort=+title", "sort"),
        ("due_before=tomorrow", "due_before"),
        ("due_after=2030-13-01T00:00:00Z", "due_after"),
        ("owner_id=nobody", "owner_id"),
    ] {
        let url = format!("{TASKS}?{query}");
        let problem = assert_problem(
            app.get_auth(&url, &alice.access).await,
            422,
            "validation_failed",
        )
        .await;
        assert_eq!(error_fields(&problem), vec![field.to_owned()], "{query}");
    }
    let problem = assert_problem(
        app.get_auth(&format!("{TASKS}?limit=0&offset=-1"), &alice.access)
            .await,
        422,
        "validation_failed",
    )
    .await;
    let mut fields = error_fields(&problem);
    fields.sort();
    assert_eq!(fields, ["limit", "offset"], "every bad parameter is named");
}
