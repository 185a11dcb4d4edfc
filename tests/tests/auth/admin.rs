//! The admin routes of `/api/v1/users`: list, create, get, patch, delete; who may use
//! them; and what changing a user does to their tokens.

use reqwest::Method;
use serde_json::{Value, json};
use taskforge_tests::{Account, TestApp, USER_PASSWORD, assert_problem, json_of, spawn_app};
use uuid::Uuid;

use crate::support::{
    access, assert_access_revoked, assert_invalid_field, assert_refresh_revoked,
    assert_token_missing, assert_user, delete, header, login_json, me_status, patch, post_auth,
    refresh_of, refresh_status, register_user,
};

const USERS: &str = "/api/v1/users";

fn user_path(id: &str) -> String {
    format!("{USERS}/{id}")
}

/// `PATCH /api/v1/users/{id}` with `body`, as `token`.
async fn patch_user(app: &TestApp, token: &str, id: &str, body: &Value) -> reqwest::Response {
    patch(app, &user_path(id), token, body).await
}

/// `GET /api/v1/users?query` as `token`; asserts 200 and returns the page.
async fn list(app: &TestApp, token: &str, query: &str) -> Value {
    let (status, page) = json_of(app.get_auth(&format!("{USERS}?{query}"), token).await).await;
    assert_eq!(status, 200, "?{query}: {page}");
    page
}

/// The emails of a page's items, in order.
fn emails(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|u| u["email"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_user_list_is_a_page_of_users_newest_first() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    for n in 0..3 {
        register_user(&app, &format!("u{n}@example.com"), None).await;
    }
    let page = list(&app, &admin.access, "").await;
    let (status, slashed) = json_of(app.get_auth(&format!("{USERS}/"), &admin.access).await).await;
    assert_eq!(
        (status, &slashed),
        (200, &page),
        "the trailing slash serves the same page"
    );
    let mut keys: Vec<&str> = page
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "items",
            "limit",
            "next_cursor",
            "offset",
            "total",
            "total_exact"
        ],
        "{page}"
    );
    assert_eq!(
        (
            page["total"].clone(),
            page["limit"].clone(),
            page["offset"].clone()
        ),
        (json!(4), json!(20), json!(0))
    );
    let items = page["items"].as_array().unwrap();
    items.iter().for_each(assert_user);
    assert_eq!(
        emails(&page),
        [
            "u2@example.com",
            "u1@example.com",
            "u0@example.com",
            "admin@example.com"
        ]
    );
    let order: Vec<(chrono::DateTime<chrono::FixedOffset>, String)> = items
        .iter()
        .map(|u| {
            let at =
                chrono::DateTime::parse_from_rfc3339(u["created_at"].as_str().unwrap()).unwrap();
            (at, u["id"].as_str().unwrap().to_owned())
        })
        .collect();
    assert!(
        order.windows(2).all(|w| w[0] > w[1]),
        "created_at descending, ties by id: {order:?}"
    );
}

#[tokio::test]
async fn limit_and_offset_page_through_the_users_without_overlap() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    for n in 0..4 {
        register_user(&app, &format!("p{n}@example.com"), None).await;
    }
    let all = emails(&list(&app, &admin.access, "limit=100").await);
    assert_eq!(all.len(), 5);
    let mut seen = Vec::new();
    for offset in [0, 2, 4] {
        let page = list(&app, &admin.access, &format!("limit=2&offset={offset}")).await;
        assert_eq!(
            (
                page["total"].clone(),
                page["limit"].clone(),
                page["offset"].clone()
            ),
            (json!(5), json!(2), json!(offset))
        );
        seen.extend(emails(&page));
    }
    assert_eq!(seen, all, "the pages are the whole list in order");
    let beyond = list(&app, &admin.access, "offset=50").await;
    assert_eq!(beyond["items"], json!([]));
    assert_eq!(beyond["total"], json!(5));
}

#[tokio::test]
async fn an_invalid_list_parameter_is_422_naming_it() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=ten", "limit"),
        ("offset=-1", "offset"),
        ("role=boss", "role"),
        ("is_active=maybe", "is_active"),
    ] {
        let res = app
            .get_auth(&format!("{USERS}?{query}"), &admin.access)
            .await;
        let body = assert_invalid_field(res, field).await;
        assert_eq!(taskforge_tests::error_fields(&body), [field], "{query}");
    }
}

#[tokio::test]
async fn q_matches_email_or_username_case_insensitively() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    register_user(&app, "alice@example.com", Some("Wonderland")).await;
    register_user(&app, "bob@example.org", Some("builder")).await;
    assert_eq!(
        emails(&list(&app, &admin.access, "q=ALICE").await),
        ["alice@example.com"]
    );
    assert_eq!(
        emails(&list(&app, &admin.access, "q=wONDER").await),
        ["alice@example.com"]
    );
    assert_eq!(
        emails(&list(&app, &admin.access, "q=BUILD").await),
        ["bob@example.org"]
    );
    assert_eq!(
        emails(&list(&app, &admin.access, "q=example.org").await),
        ["bob@example.org"]
    );
    let page = list(&app, &admin.access, "q=nobody-matches-this").await;
    assert_eq!(
        (page["items"].clone(), page["total"].clone()),
        (json!([]), json!(0))
    );
}

#[tokio::test]
async fn q_matches_literally_so_percent_and_underscore_are_not_wildcards() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    register_user(&app, "a%b@example.com", Some("under_score")).await;
    register_user(&app, "axb@example.com", Some("underXscore")).await;
    assert_eq!(
        emails(&list(&app, &admin.access, "q=a%25b").await),
        ["a%b@example.com"]
    );
    assert_eq!(
        emails(&list(&app, &admin.access, "q=%25").await),
        ["a%b@example.com"]
    );
    assert_eq!(
        emails(&list(&app, &admin.access, "q=under_s").await),
        ["a%b@example.com"]
    );
    assert_eq!(
        emails(&list(&app, &admin.access, "q=%5C").await),
        Vec::<String>::new(),
        "a backslash is literal too"
    );
}

#[tokio::test]
async fn the_list_filters_by_role_and_is_active() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let sleepy = register_user(&app, "sleepy@example.com", None).await;
    register_user(&app, "awake@example.com", None).await;
    let (status, _) = json_of(
        patch(
            &app,
            &user_path(sleepy["id"].as_str().unwrap()),
            &admin.access,
            &json!({"is_active": false}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        emails(&list(&app, &admin.access, "role=admin").await),
        ["admin@example.com"]
    );
    assert_eq!(
        emails(&list(&app, &admin.access, "role=user").await),
        ["awake@example.com", "sleepy@example.com"]
    );
    assert_eq!(
        emails(&list(&app, &admin.access, "is_active=false").await),
        ["sleepy@example.com"]
    );
    assert_eq!(
        emails(&list(&app, &admin.access, "is_active=true&role=user").await),
        ["awake@example.com"]
    );
}

#[tokio::test]
async fn an_admin_creates_a_user_with_location_and_the_default_role_user() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let body = json!({"email": " Made@Example.com", "password": USER_PASSWORD, "username": "made", "full_name": "Made By Admin"});
    let res = post_auth(&app, USERS, &admin.access, &body).await;
    assert_eq!(res.status().as_u16(), 201);
    let location = header(res.headers(), "location");
    let user: Value = res.json().await.unwrap();
    assert_user(&user);
    assert_eq!(user["email"], json!("made@example.com"));
    assert_eq!(user["role"], json!("user"));
    assert_eq!(user["is_active"], json!(true));
    assert_eq!(location, user_path(user["id"].as_str().unwrap()));
    let (status, fetched) = json_of(app.get_auth(&location, &admin.access).await).await;
    assert_eq!((status, fetched), (200, user));
    app.login("made@example.com", USER_PASSWORD).await;
}

#[tokio::test]
async fn an_admin_creates_an_admin_with_role_admin() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let body = json!({"email": "boss@example.com", "password": USER_PASSWORD, "role": "admin"});
    let (status, user) = json_of(post_auth(&app, USERS, &admin.access, &body).await).await;
    assert_eq!(status, 201, "{user}");
    assert_eq!(
        (user["role"].clone(), user["is_admin"].clone()),
        (json!("admin"), json!(true))
    );
    let pair = app.login("boss@example.com", USER_PASSWORD).await;
    assert_eq!(
        app.get_auth(USERS, &access(&pair)).await.status().as_u16(),
        200
    );
}

#[tokio::test]
async fn admin_create_refuses_duplicates_and_invalid_bodies() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    register_user(&app, "exists@example.com", Some("exists")).await;
    for body in [
        json!({"email": "EXISTS@example.com", "password": USER_PASSWORD}),
        json!({"email": "fresh@example.com", "password": USER_PASSWORD, "username": "EXISTS"}),
    ] {
        assert_problem(
            post_auth(&app, USERS, &admin.access, &body).await,
            409,
            "conflict",
        )
        .await;
    }
    for (body, field) in [
        (json!({"email": "bad", "password": USER_PASSWORD}), "email"),
        (
            json!({"email": "ok@example.com", "password": "short"}),
            "password",
        ),
        (
            json!({"email": "ok@example.com", "password": "x".repeat(73)}),
            "password",
        ),
        (
            json!({"email": "ok@example.com", "password": USER_PASSWORD, "username": "no way"}),
            "username",
        ),
        (
            json!({"email": "ok@example.com", "password": USER_PASSWORD, "role": "root"}),
            "role",
        ),
        (
            json!({"email": "ok@example.com", "password": USER_PASSWORD, "is_active": false}),
            "is_active",
        ),
        (json!({"password": USER_PASSWORD}), "email"),
    ] {
        assert_invalid_field(post_auth(&app, USERS, &admin.access, &body).await, field).await;
    }
}

#[tokio::test]
async fn an_admin_gets_a_user_by_id() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let user = register_user(&app, "fetched@example.com", Some("fetched")).await;
    let (status, fetched) = json_of(
        app.get_auth(&user_path(user["id"].as_str().unwrap()), &admin.access)
            .await,
    )
    .await;
    assert_eq!((status, fetched), (200, user));
    let (status, me) = json_of(app.get_auth(&user_path(&admin.id), &admin.access).await).await;
    assert_eq!(status, 200);
    assert_eq!(me["email"], json!("admin@example.com"));
}

#[tokio::test]
async fn an_unknown_or_malformed_user_id_is_404() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let unknown = Uuid::now_v7().to_string();
    for id in [unknown.as_str(), "not-a-uuid"] {
        let path = user_path(id);
        let body = assert_problem(app.get_auth(&path, &admin.access).await, 404, "not_found").await;
        assert_eq!(body["instance"], json!(path));
        assert_problem(
            patch(&app, &path, &admin.access, &json!({"full_name": "x"})).await,
            404,
            "not_found",
        )
        .await;
        assert_problem(delete(&app, &path, &admin.access).await, 404, "not_found").await;
    }
}

#[tokio::test]
async fn non_admins_get_403_on_every_admin_route() {
    let app = spawn_app().await;
    let user = app.user("pleb@example.com").await;
    let other = register_user(&app, "target@example.com", None).await;
    let other_path = user_path(other["id"].as_str().unwrap());
    let own_path = user_path(&user.id);
    let new_user = json!({"email": "sneaky@example.com", "password": USER_PASSWORD});
    let responses = [
        app.get_auth(USERS, &user.access).await,
        app.get_auth(&format!("{USERS}?role=admin"), &user.access)
            .await,
        post_auth(&app, USERS, &user.access, &new_user).await,
        app.get_auth(&other_path, &user.access).await,
        app.get_auth(&own_path, &user.access).await,
        patch(
            &app,
            &other_path,
            &user.access,
            &json!({"full_name": "hacked"}),
        )
        .await,
        patch(&app, &own_path, &user.access, &json!({"role": "admin"})).await,
        delete(&app, &other_path, &user.access).await,
        delete(&app, &own_path, &user.access).await,
    ];
    for res in responses {
        assert_problem(res, 403, "forbidden").await;
    }
    let admin = app.admin().await;
    let (_, target) = json_of(app.get_auth(&other_path, &admin.access).await).await;
    assert_eq!(target["full_name"], Value::Null, "nothing was changed");
    let (_, me) = json_of(app.get_auth("/api/v1/users/me", &user.access).await).await;
    assert_eq!(me["role"], json!("user"));
    let res = login_json(
        &app,
        &json!({"email": "sneaky@example.com", "password": USER_PASSWORD}),
    )
    .await;
    assert_problem(res, 401, "unauthorized").await;
}

#[tokio::test]
async fn the_admin_routes_without_a_token_are_401() {
    let app = spawn_app().await;
    let id = Uuid::now_v7().to_string();
    assert_token_missing(app.get(USERS).await).await;
    assert_token_missing(
        app.post_json(
            USERS,
            &json!({"email": "a@example.com", "password": USER_PASSWORD}),
        )
        .await,
    )
    .await;
    assert_token_missing(app.get(&user_path(&id)).await).await;
    assert_token_missing(
        app.send_json(Method::PATCH, &user_path(&id), None, &json!({}))
            .await,
    )
    .await;
    assert_token_missing(
        app.request(Method::DELETE, &user_path(&id))
            .send()
            .await
            .unwrap(),
    )
    .await;
}

#[tokio::test]
async fn an_admin_patches_profile_fields_without_a_current_password() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let user = app.user("patched@example.com").await;
    let body =
        json!({"email": "Renamed@example.com", "username": "renamed", "full_name": "Re Named"});
    let (status, updated) = json_of(patch_user(&app, &admin.access, &user.id, &body).await).await;
    assert_eq!(status, 200, "{updated}");
    assert_user(&updated);
    assert_eq!(updated["email"], json!("renamed@example.com"));
    assert_eq!(updated["username"], json!("renamed"));
    assert_eq!(updated["full_name"], json!("Re Named"));
    let (_, fetched) = json_of(app.get_auth(&user_path(&user.id), &admin.access).await).await;
    assert_eq!(fetched, updated);
    assert_eq!(
        me_status(&app, &user.access).await,
        200,
        "a profile change keeps the user's sessions"
    );
    let (status, cleared) =
        json_of(patch_user(&app, &admin.access, &user.id, &json!({"username": null})).await).await;
    assert_eq!(status, 200);
    assert!(cleared["username"].is_null());
}

#[tokio::test]
async fn admin_patch_refuses_invalid_values_and_unknown_fields() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let user = app.user("strict@example.com").await;
    let path = user_path(&user.id);
    for (body, field) in [
        (json!({"role": "root"}), "role"),
        (json!({"role": null}), "role"),
        (json!({"is_active": "no"}), "is_active"),
        (json!({"is_active": null}), "is_active"),
        (json!({"password": "short"}), "password"),
        (json!({"email": "nope"}), "email"),
        (json!({"is_admin": true}), "is_admin"),
    ] {
        assert_invalid_field(patch(&app, &path, &admin.access, &body).await, field).await;
    }
    register_user(&app, "other@example.com", Some("other")).await;
    assert_problem(
        patch(
            &app,
            &path,
            &admin.access,
            &json!({"email": "OTHER@example.com"}),
        )
        .await,
        409,
        "conflict",
    )
    .await;
    assert_problem(
        patch(&app, &path, &admin.access, &json!({"username": "Other"})).await,
        409,
        "conflict",
    )
    .await;
}

#[tokio::test]
async fn a_promotion_or_demotion_applies_at_once_to_existing_tokens() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let user = app.user("rising@example.com").await;
    assert_problem(app.get_auth(USERS, &user.access).await, 403, "forbidden").await;

    let (status, promoted) =
        json_of(patch_user(&app, &admin.access, &user.id, &json!({"role": "admin"})).await).await;
    assert_eq!(status, 200);
    assert_eq!(
        (promoted["role"].clone(), promoted["is_admin"].clone()),
        (json!("admin"), json!(true))
    );
    assert_eq!(
        app.get_auth(USERS, &user.access).await.status().as_u16(),
        200,
        "the same token is an admin's now"
    );
    let (_, me) = json_of(app.get_auth("/api/v1/users/me", &user.access).await).await;
    assert_eq!(me["is_admin"], json!(true));

    let (status, demoted) =
        json_of(patch_user(&app, &admin.access, &user.id, &json!({"role": "user"})).await).await;
    assert_eq!(status, 200);
    assert_eq!(demoted["is_admin"], json!(false));
    assert_problem(app.get_auth(USERS, &user.access).await, 403, "forbidden").await;
    assert_eq!(
        me_status(&app, &user.access).await,
        200,
        "a role change keeps the session"
    );
}

#[tokio::test]
async fn deactivation_revokes_the_users_tokens_and_reactivation_does_not_revive_them() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let user = app.user("paused@example.com").await;
    let path = user_path(&user.id);
    let (status, paused) =
        json_of(patch(&app, &path, &admin.access, &json!({"is_active": false})).await).await;
    assert_eq!(status, 200);
    assert_eq!(paused["is_active"], json!(false));
    assert_access_revoked(&app, &user.access).await;
    assert_refresh_revoked(&app, &user.refresh).await;
    let res = login_json(
        &app,
        &json!({"email": "paused@example.com", "password": USER_PASSWORD}),
    )
    .await;
    assert_problem(res, 403, "forbidden").await;

    let (status, resumed) =
        json_of(patch(&app, &path, &admin.access, &json!({"is_active": true})).await).await;
    assert_eq!(status, 200);
    assert_eq!(resumed["is_active"], json!(true));
    assert_access_revoked(&app, &user.access).await;
    assert_refresh_revoked(&app, &user.refresh).await;
    let fresh = app.login("paused@example.com", USER_PASSWORD).await;
    assert_eq!(me_status(&app, &access(&fresh)).await, 200);
}

#[tokio::test]
async fn an_admin_password_change_revokes_the_users_tokens() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let user = app.user("reset@example.com").await;
    let same_second = app.login("reset@example.com", USER_PASSWORD).await;
    let (status, _) = json_of(
        patch_user(
            &app,
            &admin.access,
            &user.id,
            &json!({"password": "admin-chosen-pw"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200);
    for (access_token, refresh_token) in [
        (user.access.clone(), user.refresh.clone()),
        (access(&same_second), refresh_of(&same_second)),
    ] {
        assert_access_revoked(&app, &access_token).await;
        assert_refresh_revoked(&app, &refresh_token).await;
    }
    assert_eq!(
        me_status(&app, &admin.access).await,
        200,
        "the admin's own session is untouched"
    );
    let res = login_json(
        &app,
        &json!({"email": "reset@example.com", "password": USER_PASSWORD}),
    )
    .await;
    assert_problem(res, 401, "unauthorized").await;
    let fresh = app.login("reset@example.com", "admin-chosen-pw").await;
    assert_eq!(me_status(&app, &access(&fresh)).await, 200);
}

#[tokio::test]
async fn an_admin_deletes_a_user_then_it_is_404() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let user = app.user("doomed@example.com").await;
    let (status, _) =
        json_of(post_auth(&app, "/api/v1/tasks", &user.access, &json!({"title": "x"})).await).await;
    assert_eq!(status, 201);
    let path = user_path(&user.id);
    let res = delete(&app, &path, &admin.access).await;
    assert_eq!(res.status().as_u16(), 204);
    assert!(res.bytes().await.unwrap().is_empty());
    assert_problem(app.get_auth(&path, &admin.access).await, 404, "not_found").await;
    assert_problem(delete(&app, &path, &admin.access).await, 404, "not_found").await;
    assert_access_revoked(&app, &user.access).await;
    assert_refresh_revoked(&app, &user.refresh).await;
    assert_eq!(
        crate::support::task_total_of(&app, &admin.access, &user.id).await,
        0
    );
    let page = list(&app, &admin.access, "q=doomed").await;
    assert_eq!(page["total"], json!(0));
}

/// A second admin, created by the bootstrap admin and logged in.
async fn second_admin(app: &TestApp, admin: &Account) -> Account {
    let body = json!({"email": "deputy@example.com", "password": USER_PASSWORD, "role": "admin"});
    let (status, user) = json_of(post_auth(app, USERS, &admin.access, &body).await).await;
    assert_eq!(status, 201, "{user}");
    let pair = app.login("deputy@example.com", USER_PASSWORD).await;
    Account {
        id: user["id"].as_str().unwrap().to_owned(),
        email: "deputy@example.com".to_owned(),
        access: access(&pair),
        refresh: refresh_of(&pair),
    }
}

#[tokio::test]
async fn the_last_active_admin_cannot_be_demoted() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let res = patch_user(&app, &admin.access, &admin.id, &json!({"role": "user"})).await;
    assert_problem(res, 409, "conflict").await;
    let (_, me) = json_of(app.get_auth("/api/v1/users/me", &admin.access).await).await;
    assert_eq!(me["role"], json!("admin"));
}

#[tokio::test]
async fn the_last_active_admin_cannot_be_deactivated() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let res = patch_user(&app, &admin.access, &admin.id, &json!({"is_active": false})).await;
    assert_problem(res, 409, "conflict").await;
    assert_eq!(
        me_status(&app, &admin.access).await,
        200,
        "still active, session intact"
    );
}

#[tokio::test]
async fn the_last_active_admin_cannot_be_deleted_through_users_id() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    assert_problem(
        delete(&app, &user_path(&admin.id), &admin.access).await,
        409,
        "conflict",
    )
    .await;
    assert_eq!(me_status(&app, &admin.access).await, 200);
}

#[tokio::test]
async fn the_last_active_admin_cannot_delete_themselves_through_me() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    assert_problem(
        delete(&app, "/api/v1/users/me", &admin.access).await,
        409,
        "conflict",
    )
    .await;
    assert_eq!(me_status(&app, &admin.access).await, 200);
}

#[tokio::test]
async fn an_inactive_second_admin_does_not_save_the_last_active_one() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let deputy = second_admin(&app, &admin).await;
    let (status, _) = json_of(
        patch_user(
            &app,
            &admin.access,
            &deputy.id,
            &json!({"is_active": false}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "one of two active admins may be deactivated");
    assert_problem(
        patch_user(&app, &admin.access, &admin.id, &json!({"role": "user"})).await,
        409,
        "conflict",
    )
    .await;
    assert_problem(
        delete(&app, "/api/v1/users/me", &admin.access).await,
        409,
        "conflict",
    )
    .await;
}

#[tokio::test]
async fn with_a_second_active_admin_the_first_can_be_demoted() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let deputy = second_admin(&app, &admin).await;
    let (status, demoted) =
        json_of(patch_user(&app, &admin.access, &admin.id, &json!({"role": "user"})).await).await;
    assert_eq!(status, 200, "{demoted}");
    assert_eq!(demoted["role"], json!("user"));
    assert_problem(app.get_auth(USERS, &admin.access).await, 403, "forbidden").await;
    // The deputy is now the last active admin.
    let res = patch_user(&app, &deputy.access, &deputy.id, &json!({"role": "user"})).await;
    assert_problem(res, 409, "conflict").await;
    assert_eq!(
        app.get_auth(USERS, &deputy.access).await.status().as_u16(),
        200
    );
}

#[tokio::test]
async fn with_a_second_active_admin_the_first_can_delete_themselves() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let deputy = second_admin(&app, &admin).await;
    assert_eq!(
        delete(&app, "/api/v1/users/me", &admin.access)
            .await
            .status()
            .as_u16(),
        204
    );
    assert_access_revoked(&app, &admin.access).await;
    assert_problem(
        delete(&app, &user_path(&deputy.id), &deputy.access).await,
        409,
        "conflict",
    )
    .await;
    assert_eq!(refresh_status(&app, &deputy.refresh).await, 200);
}

#[tokio::test]
async fn with_a_second_active_admin_an_admin_may_deactivate_themselves() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let deputy = second_admin(&app, &admin).await;
    let (status, me) =
        json_of(patch_user(&app, &admin.access, &admin.id, &json!({"is_active": false})).await)
            .await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["is_active"], json!(false));
    assert_access_revoked(&app, &admin.access).await;
    let res = login_json(
        &app,
        &json!({"email": "admin@example.com", "password": taskforge_tests::ADMIN_PASSWORD}),
    )
    .await;
    assert_problem(res, 403, "forbidden").await;
    let res = patch_user(
        &app,
        &deputy.access,
        &deputy.id,
        &json!({"is_active": false}),
    )
    .await;
    assert_problem(res, 409, "conflict").await;
}

#[tokio::test]
async fn of_two_admins_demoting_themselves_at_once_exactly_one_succeeds() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let deputy = second_admin(&app, &admin).await;
    let demote = json!({"role": "user"});
    let (admin_path, deputy_path) = (user_path(&admin.id), user_path(&deputy.id));
    let (first, second) = tokio::join!(
        patch(&app, &admin_path, &admin.access, &demote),
        patch(&app, &deputy_path, &deputy.access, &demote),
    );
    let mut statuses = [first.status().as_u16(), second.status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409], "exactly one demotion succeeds");
    for res in [first, second] {
        if res.status().as_u16() == 409 {
            assert_problem(res, 409, "conflict").await;
        }
    }
    let pair = app.login("deputy@example.com", USER_PASSWORD).await;
    let fresh_admin = app.admin().await;
    let mut admins = 0;
    for token in [access(&pair), fresh_admin.access] {
        let (_, me) = json_of(app.get_auth("/api/v1/users/me", &token).await).await;
        admins += usize::from(me["role"] == json!("admin"));
    }
    assert_eq!(admins, 1, "one active admin remains");
}

#[tokio::test]
async fn of_two_admins_deleting_themselves_at_once_exactly_one_succeeds() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let deputy = second_admin(&app, &admin).await;
    let (first, second) = tokio::join!(
        delete(&app, "/api/v1/users/me", &admin.access),
        delete(&app, "/api/v1/users/me", &deputy.access),
    );
    let mut statuses = [first.status().as_u16(), second.status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [204, 409], "exactly one deletion succeeds");
}
