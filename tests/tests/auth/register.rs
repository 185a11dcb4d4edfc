//! `POST /api/v1/auth/register`, its `/signup` alias and the compatibility routes.

use futures_util::future::join_all;
use serde_json::{Value, json};
use taskforge_tests::{USER_PASSWORD, assert_problem, json_of, spawn_app};

use crate::support::{
    assert_invalid_field, assert_invalid_token, assert_no_store, assert_token_missing, assert_user,
    header, login_json, post_auth, problem, register, register_user,
};

#[tokio::test]
async fn register_answers_201_with_location_and_the_complete_user() {
    let app = spawn_app().await;
    let body = json!({
        "email": "new@example.com",
        "password": USER_PASSWORD,
        "username": "newbie",
        "full_name": "New Person",
    });
    let res = register(&app, &body).await;
    assert_eq!(res.status().as_u16(), 201);
    let location = header(res.headers(), "location");
    let user: Value = res.json().await.unwrap();
    assert_user(&user);
    assert_eq!(user["email"], json!("new@example.com"));
    assert_eq!(user["username"], json!("newbie"));
    assert_eq!(user["full_name"], json!("New Person"));
    assert_eq!(user["role"], json!("user"));
    assert_eq!(user["is_admin"], json!(false));
    assert_eq!(user["is_active"], json!(true));
    let id = user["id"].as_str().unwrap();
    assert_eq!(location, format!("/api/v1/users/{id}"));

    let admin = app.admin().await;
    let (status, fetched) = json_of(app.get_auth(&location, &admin.access).await).await;
    assert_eq!(status, 200);
    assert_eq!(fetched, user, "the body of the write equals a later GET");
}

#[tokio::test]
async fn a_user_registered_without_optional_fields_has_null_username_and_full_name() {
    let app = spawn_app().await;
    let user = register_user(&app, "bare@example.com", None).await;
    assert_user(&user);
    assert!(user.get("username").is_some_and(Value::is_null), "{user}");
    assert!(user.get("full_name").is_some_and(Value::is_null), "{user}");
}

#[tokio::test]
async fn registration_never_returns_the_password_or_its_hash() {
    let app = spawn_app().await;
    let secret = "Unique-Secret-Pw-77";
    let res = register(
        &app,
        &json!({"email": "secret@example.com", "password": secret}),
    )
    .await;
    assert_eq!(res.status().as_u16(), 201);
    let text = res.text().await.unwrap();
    assert!(!text.contains(secret), "{text}");
    assert!(!text.contains("$2"), "no bcrypt hash: {text}");
    let user: Value = serde_json::from_str(&text).unwrap();
    assert!(
        user.as_object()
            .unwrap()
            .keys()
            .all(|k| !k.contains("password") && !k.contains("hash")),
        "{user}"
    );
}

#[tokio::test]
async fn the_email_is_stored_trimmed_and_lower_cased() {
    let app = spawn_app().await;
    let res = register(
        &app,
        &json!({"email": "  MiXeD.Case@Example.COM ", "password": USER_PASSWORD}),
    )
    .await;
    let (status, user) = json_of(res).await;
    assert_eq!(status, 201, "{user}");
    assert_eq!(user["email"], json!("mixed.case@example.com"));
    app.login("mixed.case@example.com", USER_PASSWORD).await;
    app.login("  MIXED.case@EXAMPLE.com ", USER_PASSWORD).await;
}

#[tokio::test]
async fn the_signup_alias_and_the_compatibility_routes_register_too() {
    let app = spawn_app().await;
    for (n, path) in ["/api/v1/auth/signup", "/auth/register", "/api/auth/signup"]
        .into_iter()
        .enumerate()
    {
        let email = format!("compat{n}@example.com");
        let res = app
            .post_json(path, &json!({"email": email, "password": USER_PASSWORD}))
            .await;
        assert_eq!(res.status().as_u16(), 201, "{path}");
        assert_no_store(res.headers(), path);
        let location = header(res.headers(), "location");
        let user: Value = res.json().await.unwrap();
        assert_user(&user);
        assert_eq!(user["email"], json!(email), "{path}");
        assert_eq!(
            location,
            format!("/api/v1/users/{}", user["id"].as_str().unwrap()),
            "{path}"
        );
        app.login(&email, USER_PASSWORD).await;
    }
}

#[tokio::test]
async fn register_works_with_a_trailing_slash() {
    let app = spawn_app().await;
    for (n, path) in ["/api/v1/auth/register/", "/api/v1/auth/signup/"]
        .into_iter()
        .enumerate()
    {
        let res = app
            .post_json(
                path,
                &json!({"email": format!("slash{n}@example.com"), "password": USER_PASSWORD}),
            )
            .await;
        assert_eq!(res.status().as_u16(), 201, "{path}");
    }
}

#[tokio::test]
async fn a_duplicate_email_is_409_even_when_it_differs_in_case_and_spaces() {
    let app = spawn_app().await;
    register_user(&app, "dup@example.com", None).await;
    for (path, email) in [
        ("/api/v1/auth/register", "dup@example.com"),
        ("/api/v1/auth/register", " DUP@Example.com"),
        ("/api/v1/auth/signup", "Dup@example.COM"),
        ("/auth/register", "dup@EXAMPLE.com"),
    ] {
        let res = app
            .post_json(path, &json!({"email": email, "password": USER_PASSWORD}))
            .await;
        let (headers, _) = problem(res, 409, "conflict").await;
        assert_no_store(&headers, "409");
    }
}

#[tokio::test]
async fn a_duplicate_username_is_409_case_insensitively() {
    let app = spawn_app().await;
    register_user(&app, "one@example.com", Some("Taken_Name")).await;
    for username in ["Taken_Name", "taken_name", "TAKEN_NAME"] {
        let res = register(
            &app,
            &json!({"email": "two@example.com", "password": USER_PASSWORD, "username": username}),
        )
        .await;
        assert_problem(res, 409, "conflict").await;
    }
    let (status, _) = json_of(
        register(
            &app,
            &json!({"email": "two@example.com", "password": USER_PASSWORD}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 201, "the refused registrations left nothing behind");
}

#[tokio::test]
async fn of_parallel_registrations_of_one_email_exactly_one_succeeds() {
    let app = spawn_app().await;
    let body = json!({"email": "race@example.com", "password": USER_PASSWORD});
    let responses = join_all((0..8).map(|_| register(&app, &body))).await;
    let mut created = 0;
    for res in responses {
        if res.status().as_u16() == 201 {
            created += 1;
        } else {
            assert_problem(res, 409, "conflict").await;
        }
    }
    assert_eq!(created, 1, "exactly one 201");
    let admin = app.admin().await;
    let (_, page) = json_of(
        app.get_auth("/api/v1/users?q=race%40example.com", &admin.access)
            .await,
    )
    .await;
    assert_eq!(page["total"], json!(1), "{page}");
}

#[tokio::test]
async fn of_parallel_registrations_of_one_username_exactly_one_succeeds() {
    let app = spawn_app().await;
    let bodies: Vec<Value> = (0..8)
        .map(|n| json!({"email": format!("u{n}@example.com"), "password": USER_PASSWORD, "username": if n % 2 == 0 { "Racer" } else { "racer" }}))
        .collect();
    let responses = join_all(bodies.iter().map(|body| register(&app, body))).await;
    let mut created = 0;
    for res in responses {
        if res.status().as_u16() == 201 {
            created += 1;
        } else {
            assert_problem(res, 409, "conflict").await;
        }
    }
    assert_eq!(created, 1, "exactly one 201");
}

#[tokio::test]
async fn a_password_must_be_8_to_72_bytes() {
    let app = spawn_app().await;
    for (n, password) in ["x".repeat(7), "x".repeat(73), String::new()]
        .into_iter()
        .enumerate()
    {
        let res = register(
            &app,
            &json!({"email": format!("short{n}@example.com"), "password": password}),
        )
        .await;
        assert_invalid_field(res, "password").await;
    }
    for (n, password) in ["x".repeat(8), "y".repeat(72)].into_iter().enumerate() {
        let email = format!("ok{n}@example.com");
        let res = register(&app, &json!({"email": email, "password": password})).await;
        assert_eq!(res.status().as_u16(), 201, "{} bytes", password.len());
        app.login(&email, &password).await;
    }
}

#[tokio::test]
async fn password_length_is_counted_in_bytes_not_characters() {
    let app = spawn_app().await;
    // "é" is two bytes: 37 of them are 37 characters but 74 bytes.
    let too_long = "é".repeat(37);
    let res = register(
        &app,
        &json!({"email": "long@example.com", "password": too_long}),
    )
    .await;
    assert_invalid_field(res, "password").await;
    // 4 characters, 8 bytes: long enough.
    let short_chars = "é".repeat(4);
    let res = register(
        &app,
        &json!({"email": "four@example.com", "password": short_chars}),
    )
    .await;
    assert_eq!(res.status().as_u16(), 201);
    app.login("four@example.com", &short_chars).await;
    // 36 characters, exactly 72 bytes: accepted, and the whole of it counts.
    let exact = "é".repeat(36);
    let res = register(
        &app,
        &json!({"email": "exact@example.com", "password": exact}),
    )
    .await;
    assert_eq!(res.status().as_u16(), 201);
    app.login("exact@example.com", &exact).await;
}

#[tokio::test]
async fn a_72_byte_password_is_never_truncated() {
    let app = spawn_app().await;
    let password = format!("{}A", "p".repeat(71));
    let res = register(
        &app,
        &json!({"email": "trunc@example.com", "password": password}),
    )
    .await;
    assert_eq!(res.status().as_u16(), 201);
    let wrong_last_byte = format!("{}B", "p".repeat(71));
    let res = login_json(
        &app,
        &json!({"email": "trunc@example.com", "password": wrong_last_byte}),
    )
    .await;
    assert_problem(res, 401, "unauthorized").await;
    let prefix = "p".repeat(71);
    let res = login_json(
        &app,
        &json!({"email": "trunc@example.com", "password": prefix}),
    )
    .await;
    assert_problem(res, 401, "unauthorized").await;
    // The right 72 bytes plus one more is not the password either.
    let res = login_json(
        &app,
        &json!({"email": "trunc@example.com", "password": format!("{password}!")}),
    )
    .await;
    assert_problem(res, 401, "unauthorized").await;
    app.login("trunc@example.com", &password).await;
}

#[tokio::test]
async fn a_username_must_be_3_to_32_of_the_allowed_characters() {
    let app = spawn_app().await;
    let too_long = "a".repeat(33);
    for (n, username) in [
        "ab",
        too_long.as_str(),
        "a@b",
        "bad name",
        "émile",
        "semi;colon",
        "",
    ]
    .into_iter()
    .enumerate()
    {
        let res = register(&app, &json!({"email": format!("bad{n}@example.com"), "password": USER_PASSWORD, "username": username})).await;
        assert_invalid_field(res, "username").await;
    }
    let longest = "Z".repeat(32);
    for (n, username) in ["abc", longest.as_str(), "A.b_c-9"].into_iter().enumerate() {
        let res = register(&app, &json!({"email": format!("good{n}@example.com"), "password": USER_PASSWORD, "username": username})).await;
        let (status, user) = json_of(res).await;
        assert_eq!(status, 201, "{username}: {user}");
        assert_eq!(user["username"], json!(username), "the case is kept");
    }
}

#[tokio::test]
async fn an_invalid_email_is_422_on_email() {
    let app = spawn_app().await;
    for email in [
        "not-an-email",
        "a@b",
        "two words@example.com",
        "@example.com",
        "a@",
        "",
        "   ",
    ] {
        let res = register(&app, &json!({"email": email, "password": USER_PASSWORD})).await;
        assert_invalid_field(res, "email").await;
    }
}

#[tokio::test]
async fn a_missing_or_mistyped_field_is_422_naming_it() {
    let app = spawn_app().await;
    let cases = [
        (json!({"email": "a@example.com"}), "password"),
        (json!({"password": USER_PASSWORD}), "email"),
        (
            json!({"email": "a@example.com", "password": 12_345_678}),
            "password",
        ),
        (
            json!({"email": "a@example.com", "password": USER_PASSWORD, "username": 5}),
            "username",
        ),
        (
            json!({"email": "a@example.com", "password": USER_PASSWORD, "is_admin": "yes"}),
            "is_admin",
        ),
        (
            json!({"email": "a@example.com", "password": USER_PASSWORD, "role": "admin"}),
            "role",
        ),
    ];
    for (body, field) in cases {
        let (headers, problem_body) =
            problem(register(&app, &body).await, 422, "validation_failed").await;
        assert!(
            taskforge_tests::error_fields(&problem_body).contains(&field.to_owned()),
            "{body} → {problem_body}"
        );
        assert_no_store(&headers, "422");
    }
}

#[tokio::test]
async fn is_admin_true_without_a_token_is_401_with_a_bearer_challenge() {
    let app = spawn_app().await;
    let body = json!({"email": "wannabe@example.com", "password": USER_PASSWORD, "is_admin": true});
    assert_token_missing(register(&app, &body).await).await;
    assert_invalid_token(post_auth(&app, "/api/v1/auth/register", "not-a-token", &body).await)
        .await;
    let (status, _) = json_of(
        app.post_json(
            "/api/v1/auth/register",
            &json!({"email": "wannabe@example.com", "password": USER_PASSWORD}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 201, "nothing was created by the refused attempts");
}

#[tokio::test]
async fn is_admin_true_with_a_user_token_is_403() {
    let app = spawn_app().await;
    let user = app.user("plain@example.com").await;
    let body = json!({"email": "wannabe@example.com", "password": USER_PASSWORD, "is_admin": true});
    let (headers, _) = problem(
        post_auth(&app, "/api/v1/auth/register", &user.access, &body).await,
        403,
        "forbidden",
    )
    .await;
    assert_no_store(&headers, "403");
    let res = login_json(
        &app,
        &json!({"email": "wannabe@example.com", "password": USER_PASSWORD}),
    )
    .await;
    assert_problem(res, 401, "unauthorized").await;
}

#[tokio::test]
async fn is_admin_true_with_an_admin_token_creates_an_admin() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let body =
        json!({"email": "second-admin@example.com", "password": USER_PASSWORD, "is_admin": true});
    let (status, user) =
        json_of(post_auth(&app, "/api/v1/auth/register", &admin.access, &body).await).await;
    assert_eq!(status, 201, "{user}");
    assert_user(&user);
    assert_eq!(user["role"], json!("admin"));
    assert_eq!(user["is_admin"], json!(true));
    let tokens = app.login("second-admin@example.com", USER_PASSWORD).await;
    let res = app
        .get_auth("/api/v1/users", tokens["access_token"].as_str().unwrap())
        .await;
    assert_eq!(
        res.status().as_u16(),
        200,
        "the new admin can administer users"
    );
}

#[tokio::test]
async fn register_ignores_authorization_unless_is_admin_is_true() {
    let app = spawn_app().await;
    for (n, is_admin) in [None, Some(false)].into_iter().enumerate() {
        let mut body =
            json!({"email": format!("ignored{n}@example.com"), "password": USER_PASSWORD});
        if let Some(flag) = is_admin {
            body["is_admin"] = json!(flag);
        }
        let (status, user) =
            json_of(post_auth(&app, "/api/v1/auth/register", "garbage.token.here", &body).await)
                .await;
        assert_eq!(status, 201, "{body}: {user}");
        assert_eq!(user["role"], json!("user"));
    }
}
