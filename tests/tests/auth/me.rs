//! `GET`, `PATCH` and `DELETE /api/v1/users/me`.

use reqwest::Method;
use serde_json::{Value, json};
use taskforge_tests::{TestApp, USER_PASSWORD, assert_problem, json_of, spawn_app};

use crate::support::{
    access, assert_access_revoked, assert_invalid_field, assert_refresh_revoked,
    assert_token_missing, assert_user, delete, login_json, me_status, patch, post_auth, refresh_of,
    register_user, task_total_of,
};

const ME: &str = "/api/v1/users/me";

/// Registers `email` (with `username`) and logs in; returns the User and the token pair.
async fn signed_in(app: &TestApp, email: &str, username: Option<&str>) -> (Value, Value) {
    let user = register_user(app, email, username).await;
    let pair = app.login(email, USER_PASSWORD).await;
    (user, pair)
}

#[tokio::test]
async fn get_me_returns_the_callers_own_user() {
    let app = spawn_app().await;
    let (user, pair) = signed_in(&app, "me@example.com", Some("its_me")).await;
    let (status, me) = json_of(app.get_auth(ME, &access(&pair)).await).await;
    assert_eq!(status, 200);
    assert_user(&me);
    assert_eq!(me, user, "GET /me equals the registration's body");
}

#[tokio::test]
async fn the_me_routes_without_a_token_are_401() {
    let app = spawn_app().await;
    assert_token_missing(app.get(ME).await).await;
    assert_token_missing(
        app.send_json(Method::PATCH, ME, None, &json!({"full_name": "x"}))
            .await,
    )
    .await;
    assert_token_missing(app.request(Method::DELETE, ME).send().await.unwrap()).await;
}

#[tokio::test]
async fn patch_me_changes_full_name_and_username() {
    let app = spawn_app().await;
    let (user, pair) = signed_in(&app, "edit@example.com", None).await;
    let token = access(&pair);
    let res = patch(
        &app,
        ME,
        &token,
        &json!({"full_name": "  Ada Lovelace ", "username": "Ada.L"}),
    )
    .await;
    let (status, updated) = json_of(res).await;
    assert_eq!(status, 200, "{updated}");
    assert_user(&updated);
    assert_eq!(updated["full_name"], json!("Ada Lovelace"));
    assert_eq!(updated["username"], json!("Ada.L"));
    assert_eq!(updated["email"], user["email"]);
    assert_eq!(updated["created_at"], user["created_at"]);
    let (_, me) = json_of(app.get_auth(ME, &token).await).await;
    assert_eq!(me, updated, "the write equals a later GET");
    let res = login_json(
        &app,
        &json!({"username": "Ada.L", "password": USER_PASSWORD}),
    )
    .await;
    assert_eq!(res.status().as_u16(), 200, "the new username logs in");
    assert_eq!(
        me_status(&app, &token).await,
        200,
        "a profile change keeps the session"
    );
}

#[tokio::test]
async fn patch_me_with_null_username_or_full_name_clears_them() {
    let app = spawn_app().await;
    let (_, pair) = signed_in(&app, "clear@example.com", Some("clear_me")).await;
    let token = access(&pair);
    let (status, _) =
        json_of(patch(&app, ME, &token, &json!({"full_name": "Someone"})).await).await;
    assert_eq!(status, 200);
    let (status, cleared) = json_of(
        patch(
            &app,
            ME,
            &token,
            &json!({"username": null, "full_name": null}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{cleared}");
    assert!(
        cleared.get("username").is_some_and(Value::is_null),
        "{cleared}"
    );
    assert!(
        cleared.get("full_name").is_some_and(Value::is_null),
        "{cleared}"
    );
    let (_, me) = json_of(app.get_auth(ME, &token).await).await;
    assert!(
        me["username"].is_null() && me["full_name"].is_null(),
        "{me}"
    );
    let res = login_json(
        &app,
        &json!({"username": "clear_me", "password": USER_PASSWORD}),
    )
    .await;
    assert_problem(res, 401, "unauthorized").await;
    register_user(&app, "reuse@example.com", Some("clear_me")).await;
}

#[tokio::test]
async fn patch_me_with_an_empty_body_changes_nothing() {
    let app = spawn_app().await;
    let (user, pair) = signed_in(&app, "noop@example.com", Some("noop")).await;
    let (status, same) = json_of(patch(&app, ME, &access(&pair), &json!({})).await).await;
    assert_eq!(status, 200, "{same}");
    for key in [
        "id",
        "email",
        "username",
        "full_name",
        "role",
        "is_active",
        "created_at",
    ] {
        assert_eq!(same[key], user[key], "{key}");
    }
}

#[tokio::test]
async fn patch_me_to_a_username_taken_in_another_case_is_409() {
    let app = spawn_app().await;
    register_user(&app, "holder@example.com", Some("Holder")).await;
    let (_, pair) = signed_in(&app, "wants@example.com", Some("wants")).await;
    assert_problem(
        patch(&app, ME, &access(&pair), &json!({"username": "hOLDER"})).await,
        409,
        "conflict",
    )
    .await;
    let (_, me) = json_of(app.get_auth(ME, &access(&pair)).await).await;
    assert_eq!(me["username"], json!("wants"));
}

#[tokio::test]
async fn patch_me_changing_only_the_case_of_ones_own_username_is_allowed() {
    let app = spawn_app().await;
    let (_, pair) = signed_in(&app, "recase@example.com", Some("recase")).await;
    let (status, me) =
        json_of(patch(&app, ME, &access(&pair), &json!({"username": "ReCase"})).await).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["username"], json!("ReCase"));
}

#[tokio::test]
async fn patch_me_with_an_invalid_value_is_422_naming_the_field() {
    let app = spawn_app().await;
    let (_, pair) = signed_in(&app, "invalid@example.com", None).await;
    let token = access(&pair);
    let long_name = "n".repeat(101);
    let cases = [
        (json!({"username": "ab"}), "username"),
        (json!({"username": "a@b.c"}), "username"),
        (json!({"full_name": long_name}), "full_name"),
        (
            json!({"email": "nope", "current_password": USER_PASSWORD}),
            "email",
        ),
        (
            json!({"password": "short", "current_password": USER_PASSWORD}),
            "password",
        ),
        (
            json!({"password": "x".repeat(73), "current_password": USER_PASSWORD}),
            "password",
        ),
        (json!({"nickname": "x"}), "nickname"),
    ];
    for (body, field) in cases {
        assert_invalid_field(patch(&app, ME, &token, &body).await, field).await;
    }
    assert_eq!(me_status(&app, &token).await, 200, "nothing was changed");
}

#[tokio::test]
async fn role_or_is_active_in_patch_me_is_422_naming_the_field() {
    let app = spawn_app().await;
    let (_, pair) = signed_in(&app, "climber@example.com", None).await;
    let token = access(&pair);
    for (body, field) in [
        (json!({"role": "admin"}), "role"),
        (json!({"is_active": false}), "is_active"),
        (json!({"is_admin": true}), "is_admin"),
    ] {
        assert_invalid_field(patch(&app, ME, &token, &body).await, field).await;
    }
    let (_, me) = json_of(app.get_auth(ME, &token).await).await;
    assert_eq!(
        (me["role"].clone(), me["is_active"].clone()),
        (json!("user"), json!(true))
    );
}

#[tokio::test]
async fn changing_the_email_needs_the_right_current_password() {
    let app = spawn_app().await;
    let (_, pair) = signed_in(&app, "old@example.com", None).await;
    let token = access(&pair);
    let res = patch(&app, ME, &token, &json!({"email": "new@example.com"})).await;
    assert_problem(res, 403, "forbidden").await;
    let res = patch(
        &app,
        ME,
        &token,
        &json!({"email": "new@example.com", "current_password": "wrong-password"}),
    )
    .await;
    assert_problem(res, 403, "forbidden").await;
    let (_, me) = json_of(app.get_auth(ME, &token).await).await;
    assert_eq!(
        me["email"],
        json!("old@example.com"),
        "the refused changes changed nothing"
    );

    let res = patch(
        &app,
        ME,
        &token,
        &json!({"email": "  NEW@Example.com", "current_password": USER_PASSWORD}),
    )
    .await;
    let (status, me) = json_of(res).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["email"], json!("new@example.com"), "normalised");
    app.login("new@example.com", USER_PASSWORD).await;
    let res = login_json(
        &app,
        &json!({"email": "old@example.com", "password": USER_PASSWORD}),
    )
    .await;
    assert_problem(res, 401, "unauthorized").await;
}

#[tokio::test]
async fn patch_me_to_an_email_already_taken_is_409() {
    let app = spawn_app().await;
    register_user(&app, "taken@example.com", None).await;
    let (_, pair) = signed_in(&app, "mover@example.com", None).await;
    let body = json!({"email": "TAKEN@example.com", "current_password": USER_PASSWORD});
    assert_problem(
        patch(&app, ME, &access(&pair), &body).await,
        409,
        "conflict",
    )
    .await;
}

#[tokio::test]
async fn changing_the_password_needs_the_right_current_password() {
    let app = spawn_app().await;
    let (_, pair) = signed_in(&app, "pw@example.com", None).await;
    let token = access(&pair);
    let res = patch(&app, ME, &token, &json!({"password": "brand-new-password"})).await;
    assert_problem(res, 403, "forbidden").await;
    let body = json!({"password": "brand-new-password", "current_password": "wrong-password"});
    assert_problem(patch(&app, ME, &token, &body).await, 403, "forbidden").await;
    assert_eq!(
        me_status(&app, &token).await,
        200,
        "refused changes revoke nothing"
    );
    app.login("pw@example.com", USER_PASSWORD).await;
    let res = login_json(
        &app,
        &json!({"email": "pw@example.com", "password": "brand-new-password"}),
    )
    .await;
    assert_problem(res, 401, "unauthorized").await;
}

#[tokio::test]
async fn a_password_change_revokes_every_token_of_the_user_at_once() {
    let app = spawn_app().await;
    let (_, older) = signed_in(&app, "rotate-pw@example.com", None).await;
    let other_user = app.user("other@example.com").await;
    // Issued in the same second as the change.
    let newest = app.login("rotate-pw@example.com", USER_PASSWORD).await;
    let body = json!({"password": "brand-new-password", "current_password": USER_PASSWORD});
    let (status, me) = json_of(patch(&app, ME, &access(&newest), &body).await).await;
    assert_eq!(status, 200, "{me}");
    assert_user(&me);

    for pair in [&older, &newest] {
        assert_access_revoked(&app, &access(pair)).await;
        assert_refresh_revoked(&app, &refresh_of(pair)).await;
    }
    assert_eq!(
        me_status(&app, &other_user.access).await,
        200,
        "other users keep their sessions"
    );
    let res = login_json(
        &app,
        &json!({"email": "rotate-pw@example.com", "password": USER_PASSWORD}),
    )
    .await;
    assert_problem(res, 401, "unauthorized").await;
    let fresh = app
        .login("rotate-pw@example.com", "brand-new-password")
        .await;
    assert_eq!(
        me_status(&app, &access(&fresh)).await,
        200,
        "a login right after works"
    );
}

#[tokio::test]
async fn delete_me_removes_the_account_its_tokens_and_its_tasks() {
    let app = spawn_app().await;
    let (user, pair) = signed_in(&app, "leaving@example.com", None).await;
    let id = user["id"].as_str().unwrap();
    let other_session = app.login("leaving@example.com", USER_PASSWORD).await;
    let (status, task) = json_of(
        post_auth(
            &app,
            "/api/v1/tasks",
            &access(&pair),
            &json!({"title": "x"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 201, "{task}");
    let admin = app.admin().await;
    assert_eq!(task_total_of(&app, &admin.access, id).await, 1);

    let res = delete(&app, ME, &access(&pair)).await;
    assert_eq!(res.status().as_u16(), 204);
    assert!(res.bytes().await.unwrap().is_empty(), "204 has no body");

    for session in [&pair, &other_session] {
        assert_access_revoked(&app, &access(session)).await;
        assert_refresh_revoked(&app, &refresh_of(session)).await;
    }
    let res = login_json(
        &app,
        &json!({"email": "leaving@example.com", "password": USER_PASSWORD}),
    )
    .await;
    assert_problem(res, 401, "unauthorized").await;
    assert_problem(
        app.get_auth(&format!("/api/v1/users/{id}"), &admin.access)
            .await,
        404,
        "not_found",
    )
    .await;
    assert_eq!(
        task_total_of(&app, &admin.access, id).await,
        0,
        "the user's tasks are gone"
    );
    register_user(&app, "leaving@example.com", None).await;
}

#[tokio::test]
async fn an_admin_changes_their_own_email_and_password_through_me_without_current_password() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let body = json!({"email": "chief@example.com", "password": "new-admin-password"});
    let (status, me) = json_of(patch(&app, ME, &admin.access, &body).await).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["email"], json!("chief@example.com"));
    assert_access_revoked(&app, &admin.access).await;
    assert_refresh_revoked(&app, &admin.refresh).await;
    let fresh = app.login("chief@example.com", "new-admin-password").await;
    assert_eq!(me_status(&app, &access(&fresh)).await, 200);
}
