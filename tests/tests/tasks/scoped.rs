//! The user-scoped form `/api/v1/users/{user_id}/tasks…`, its deprecated mirror
//! `/api/{user_id}/tasks…`, and trailing slashes on every task route.

use reqwest::Method;
use serde_json::json;
use taskforge_tests::{assert_problem, json_of, spawn_app};

use crate::{
    TASKS, create_at, create_titled, etag, expect_task, fetch, id_of, ids, list, list_at, send,
    task_path,
};

/// Both scoped collection paths of a user: the v1 form and the compatibility form.
fn scopes(user_id: &str) -> [String; 2] {
    [
        format!("/api/v1/users/{user_id}/tasks"),
        format!("/api/{user_id}/tasks"),
    ]
}

#[tokio::test]
async fn a_user_works_on_their_own_tasks_through_their_scope() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let bob = app.user("bob@example.com").await;
    create_titled(&app, &bob.access, "bob's").await;
    for scope in scopes(&alice.id) {
        let task = create_at(
            &app,
            &scope,
            &alice.access,
            json!({"title": "scoped", "priority": "high"}),
        )
        .await;
        assert_eq!(task["owner_id"], json!(alice.id), "{scope}");
        let id = id_of(&task);
        let item = format!("{scope}/{id}");
        assert_eq!(
            fetch(&app, &alice.access, &id).await,
            task,
            "the canonical route serves it too"
        );

        let page = list_at(&app, &scope, &alice.access, &[]).await;
        assert_eq!(
            ids(&page),
            vec![id.clone()],
            "{scope} lists only alice's task"
        );
        assert_eq!(page["total"], 1);

        let res = app.get_auth(&item, &alice.access).await;
        assert_eq!(expect_task(res, "scoped GET").await, task);

        let res = send(
            &app,
            Method::PUT,
            &item,
            Some(&alice.access),
            Some(&json!({"title": "replaced"})),
            None,
        )
        .await;
        let replaced = expect_task(res, "scoped PUT").await;
        assert_eq!(
            (
                replaced["title"].clone(),
                replaced["priority"].clone(),
                replaced["version"].clone()
            ),
            (json!("replaced"), json!("medium"), json!(2))
        );

        let res = send(
            &app,
            Method::PATCH,
            &item,
            Some(&alice.access),
            Some(&json!({"description": "d"})),
            Some("\"2\""),
        )
        .await;
        let patched = expect_task(res, "scoped PATCH").await;
        assert_eq!(
            (patched["description"].clone(), patched["version"].clone()),
            (json!("d"), json!(3))
        );

        let res = send(
            &app,
            Method::PATCH,
            &item,
            Some(&alice.access),
            Some(&json!({"title": "stale"})),
            Some("\"2\""),
        )
        .await;
        assert_problem(res, 412, "precondition_failed").await;

        let res = send(
            &app,
            Method::PATCH,
            &format!("{item}/complete"),
            Some(&alice.access),
            None,
            None,
        )
        .await;
        let done = expect_task(res, "scoped toggle").await;
        assert_eq!(
            (done["status"].clone(), done["version"].clone()),
            (json!("done"), json!(4))
        );

        let res = send(&app, Method::DELETE, &item, Some(&alice.access), None, None).await;
        assert_eq!(res.status().as_u16(), 204, "{item}");
        assert_problem(app.get_auth(&item, &alice.access).await, 404, "not_found").await;
        assert_problem(
            app.get_auth(&task_path(&id), &alice.access).await,
            404,
            "not_found",
        )
        .await;
    }
}

#[tokio::test]
async fn another_users_scope_is_403_for_a_non_admin() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let bob = app.user("bob@example.com").await;
    let alices = create_titled(&app, &alice.access, "alice's").await;
    let bobs = create_titled(&app, &bob.access, "bob's").await;
    for scope in scopes(&alice.id) {
        let res = app.get_auth(&scope, &bob.access).await;
        assert_problem(res, 403, "forbidden").await;
        let res = send(
            &app,
            Method::POST,
            &scope,
            Some(&bob.access),
            Some(&json!({"title": "intrude"})),
            None,
        )
        .await;
        assert_problem(res, 403, "forbidden").await;
        for task in [&alices, &bobs] {
            let item = format!("{scope}/{}", id_of(task));
            let body = json!({"title": "intrude"});
            for (method, path, body) in [
                (Method::GET, item.clone(), None),
                (Method::PUT, item.clone(), Some(&body)),
                (Method::PATCH, item.clone(), Some(&body)),
                (Method::DELETE, item.clone(), None),
                (Method::PATCH, format!("{item}/complete"), None),
            ] {
                let res = send(&app, method.clone(), &path, Some(&bob.access), body, None).await;
                assert_problem(res, 403, "forbidden").await;
            }
        }
    }
    assert_eq!(fetch(&app, &alice.access, &id_of(&alices)).await, alices);
    assert_eq!(fetch(&app, &bob.access, &id_of(&bobs)).await, bobs);
    assert_eq!(list(&app, &alice.access, &[]).await["total"], 1);
}

#[tokio::test]
async fn an_admin_in_a_users_scope_lists_and_creates_only_for_that_user() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let alice = app.user("alice@example.com").await;
    let bob = app.user("bob@example.com").await;
    let alices = create_titled(&app, &alice.access, "alice's").await;
    create_titled(&app, &bob.access, "bob's").await;
    create_titled(&app, &admin.access, "admin's").await;
    for scope in scopes(&alice.id) {
        let page = list_at(&app, &scope, &admin.access, &[]).await;
        assert_eq!(ids(&page), vec![id_of(&alices)], "{scope}");
        assert_eq!(page["total"], 1);
    }
    let mut created = Vec::new();
    for scope in scopes(&alice.id) {
        let task = create_at(&app, &scope, &admin.access, json!({"title": "from admin"})).await;
        assert_eq!(
            task["owner_id"],
            json!(alice.id),
            "{scope}: the scope fixes the owner"
        );
        created.push(id_of(&task));
    }
    let mut alice_sees = ids(&list(&app, &alice.access, &[]).await);
    alice_sees.sort();
    let mut expected = vec![id_of(&alices), created[0].clone(), created[1].clone()];
    expected.sort();
    assert_eq!(alice_sees, expected);
    let admin_own = list(&app, &admin.access, &[("owner_id", &admin.id)]).await;
    assert_eq!(admin_own["total"], 1, "nothing was created for the admin");
}

#[tokio::test]
async fn a_task_of_someone_else_through_a_scope_is_404_even_for_an_admin() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let alice = app.user("alice@example.com").await;
    let bob = app.user("bob@example.com").await;
    let bobs = create_titled(&app, &bob.access, "bob's").await;
    let body = json!({"title": "moved"});
    for scope in scopes(&alice.id) {
        let item = format!("{scope}/{}", id_of(&bobs));
        for token in [&admin.access, &alice.access] {
            for (method, path, body) in [
                (Method::GET, item.clone(), None),
                (Method::PUT, item.clone(), Some(&body)),
                (Method::PATCH, item.clone(), Some(&body)),
                (Method::PATCH, format!("{item}/complete"), None),
                (Method::DELETE, item.clone(), None),
            ] {
                let res = send(&app, method.clone(), &path, Some(token), body, None).await;
                assert_problem(res, 404, "not_found").await;
            }
        }
    }
    assert_eq!(
        fetch(&app, &bob.access, &id_of(&bobs)).await,
        bobs,
        "nothing changed"
    );
}

#[tokio::test]
async fn an_admin_works_on_a_users_task_through_that_users_scope() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let alice = app.user("alice@example.com").await;
    for scope in scopes(&alice.id) {
        let task = create_titled(&app, &alice.access, "alice's").await;
        let item = format!("{scope}/{}", id_of(&task));
        assert_eq!(
            expect_task(app.get_auth(&item, &admin.access).await, "admin scoped GET").await,
            task
        );
        let res = send(
            &app,
            Method::PATCH,
            &item,
            Some(&admin.access),
            Some(&json!({"priority": "low"})),
            None,
        )
        .await;
        let patched = expect_task(res, "admin scoped PATCH").await;
        assert_eq!(patched["priority"], "low");
        assert_eq!(patched["owner_id"], json!(alice.id));
        let res = send(&app, Method::DELETE, &item, Some(&admin.access), None, None).await;
        assert_eq!(res.status().as_u16(), 204);
    }
}

#[tokio::test]
async fn the_scoped_list_filters_sorts_and_pages_like_the_main_one() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    for (title, priority) in [("c", "low"), ("a", "high"), ("b", "medium")] {
        crate::create(
            &app,
            &alice.access,
            json!({"title": title, "priority": priority}),
        )
        .await;
    }
    let pairs = [("sort", "-priority"), ("limit", "2"), ("offset", "1")];
    let main = list(&app, &alice.access, &pairs).await;
    assert_eq!(crate::titles(&main), ["b", "c"]);
    for scope in scopes(&alice.id) {
        assert_eq!(
            list_at(&app, &scope, &alice.access, &pairs).await,
            main,
            "{scope}"
        );
        let page = list_at(&app, &scope, &alice.access, &[("priority", "high")]).await;
        assert_eq!(crate::titles(&page), ["a"]);
        let url = format!("{scope}?limit=0");
        let problem = assert_problem(
            app.get_auth(&url, &alice.access).await,
            422,
            "validation_failed",
        )
        .await;
        assert_eq!(taskforge_tests::error_fields(&problem), ["limit"]);
    }
}

#[tokio::test]
async fn a_trailing_slash_is_served_directly_on_list_and_item_routes() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let [scoped, compat] = scopes(&alice.id);
    for collection in [TASKS.to_owned(), scoped, compat] {
        let slashed = format!("{collection}/");
        let res = send(
            &app,
            Method::POST,
            &slashed,
            Some(&alice.access),
            Some(&json!({"title": "slash"})),
            None,
        )
        .await;
        assert_eq!(res.status().as_u16(), 201, "POST {slashed}");
        assert_eq!(etag(&res).as_deref(), Some("\"1\""));
        let (_, task) = json_of(res).await;
        let id = id_of(&task);

        let plain = app.get_auth(&collection, &alice.access).await;
        let with_slash = app.get_auth(&slashed, &alice.access).await;
        assert_eq!(with_slash.status().as_u16(), 200, "GET {slashed}");
        assert_eq!(
            json_of(with_slash).await,
            json_of(plain).await,
            "GET {slashed} equals GET {collection}"
        );

        let item = format!("{collection}/{id}/");
        let res = app.get_auth(&item, &alice.access).await;
        assert_eq!(expect_task(res, &item).await, task);
        let res = send(
            &app,
            Method::PUT,
            &item,
            Some(&alice.access),
            Some(&json!({"title": "put"})),
            None,
        )
        .await;
        assert_eq!(expect_task(res, &item).await["version"], 2);
        let res = send(
            &app,
            Method::PATCH,
            &item,
            Some(&alice.access),
            Some(&json!({"title": "patch"})),
            None,
        )
        .await;
        assert_eq!(expect_task(res, &item).await["version"], 3);
        let complete = format!("{collection}/{id}/complete/");
        let res = send(
            &app,
            Method::PATCH,
            &complete,
            Some(&alice.access),
            None,
            None,
        )
        .await;
        assert_eq!(expect_task(res, &complete).await["status"], "done");
        let res = send(&app, Method::DELETE, &item, Some(&alice.access), None, None).await;
        assert_eq!(res.status().as_u16(), 204, "DELETE {item}");
        let res = app.get_auth(&item, &alice.access).await;
        assert_problem(res, 404, "not_found").await;
    }
    let res = app.get(&format!("{TASKS}/")).await;
    assert_problem(res, 401, "unauthorized").await;
}

#[tokio::test]
async fn a_scope_whose_user_id_is_not_a_uuid_is_404() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    for path in ["/api/v1/users/not-a-uuid/tasks", "/api/not-a-uuid/tasks"] {
        assert_problem(app.get_auth(path, &alice.access).await, 404, "not_found").await;
    }
}
