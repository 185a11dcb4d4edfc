//! `POST /api/v1/auth/login`: JSON by email or username, the OAuth2 password form, the
//! compatibility routes, and every refusal.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use taskforge_tests::{
    ADMIN_EMAIL, ADMIN_PASSWORD, USER_PASSWORD, assert_problem, json_of, spawn_app, spawn_app_with,
};

use crate::support::{
    access, assert_invalid_field, assert_no_store, assert_token_pair, header, login_form,
    login_form_at, login_json, me_status, patch, problem, register_user,
};

/// Asserts a 200 TokenPair whose access token works, and returns it.
async fn assert_logged_in(
    app: &taskforge_tests::TestApp,
    res: reqwest::Response,
    what: &str,
) -> Value {
    assert_no_store(res.headers(), what);
    let (status, pair) = json_of(res).await;
    assert_eq!(status, 200, "{what}: {pair}");
    assert_token_pair(&pair);
    assert_eq!(
        me_status(app, &access(&pair)).await,
        200,
        "{what}: the access token works"
    );
    pair
}

#[tokio::test]
async fn login_by_email_returns_a_bearer_token_pair() {
    let app = spawn_app().await;
    let user = register_user(&app, "login@example.com", None).await;
    let res = login_json(
        &app,
        &json!({"email": "login@example.com", "password": USER_PASSWORD}),
    )
    .await;
    let pair = assert_logged_in(&app, res, "JSON email").await;
    let (_, me) = json_of(app.get_auth("/api/v1/users/me", &access(&pair)).await).await;
    assert_eq!(me["id"], user["id"]);
}

#[tokio::test]
async fn login_by_username_works_in_either_json_field() {
    let app = spawn_app().await;
    let user = register_user(&app, "named@example.com", Some("named_user")).await;
    for body in [
        json!({"username": "named_user", "password": USER_PASSWORD}),
        json!({"email": "named_user", "password": USER_PASSWORD}),
        json!({"username": "named@example.com", "password": USER_PASSWORD}),
    ] {
        let pair = assert_logged_in(&app, login_json(&app, &body).await, &body.to_string()).await;
        let (_, me) = json_of(app.get_auth("/api/v1/users/me", &access(&pair)).await).await;
        assert_eq!(me["id"], user["id"], "{body}");
    }
}

#[tokio::test]
async fn a_username_login_ignores_case_as_usernames_are_unique_case_insensitively() {
    let app = spawn_app().await;
    register_user(&app, "cased@example.com", Some("CamelCase")).await;
    let res = login_json(
        &app,
        &json!({"username": "camelcase", "password": USER_PASSWORD}),
    )
    .await;
    assert_logged_in(&app, res, "lower-cased username").await;
}

#[tokio::test]
async fn the_oauth2_form_logs_in_by_email_or_by_username() {
    let app = spawn_app().await;
    register_user(&app, "form@example.com", Some("form_user")).await;
    for identifier in ["form@example.com", "form_user"] {
        let res = login_form(
            &app,
            &[("username", identifier), ("password", USER_PASSWORD)],
        )
        .await;
        assert_logged_in(&app, res, identifier).await;
    }
}

#[tokio::test]
async fn the_oauth2_form_ignores_grant_type_scope_client_id_and_client_secret() {
    let app = spawn_app().await;
    register_user(&app, "oauth@example.com", None).await;
    let form = [
        ("grant_type", "password"),
        ("username", "oauth@example.com"),
        ("password", USER_PASSWORD),
        ("scope", "read write"),
        ("client_id", "some-client"),
        ("client_secret", "shh"),
    ];
    assert_logged_in(&app, login_form(&app, &form).await, "full OAuth2 form").await;
}

#[tokio::test]
async fn an_unknown_field_in_the_oauth2_form_is_422_naming_it() {
    let app = spawn_app().await;
    register_user(&app, "oauth@example.com", None).await;
    let form = [
        ("username", "oauth@example.com"),
        ("password", USER_PASSWORD),
        ("remember_me", "1"),
    ];
    let res = login_form(&app, &form).await;
    assert_no_store(res.headers(), "422 form");
    assert_invalid_field(res, "remember_me").await;
}

#[tokio::test]
async fn a_form_without_a_password_is_422_naming_password() {
    let app = spawn_app().await;
    let res = login_form(&app, &[("username", "someone@example.com")]).await;
    assert_invalid_field(res, "password").await;
}

#[tokio::test]
async fn a_json_login_without_an_identifier_or_password_is_422() {
    let app = spawn_app().await;
    let body = assert_problem(
        login_json(&app, &json!({"password": USER_PASSWORD})).await,
        422,
        "validation_failed",
    )
    .await;
    let fields = taskforge_tests::error_fields(&body);
    assert!(
        fields.iter().any(|f| f == "email" || f == "username"),
        "{body}"
    );
    assert_invalid_field(
        login_json(&app, &json!({"email": "x@example.com"})).await,
        "password",
    )
    .await;
    assert_invalid_field(
        login_json(
            &app,
            &json!({"email": "x@example.com", "password": USER_PASSWORD, "otp": "1"}),
        )
        .await,
        "otp",
    )
    .await;
}

#[tokio::test]
async fn a_login_body_that_is_neither_json_nor_a_form_is_415() {
    let app = spawn_app().await;
    let res = app
        .request(Method::POST, "/api/v1/auth/login")
        .header("content-type", "text/plain")
        .body("username=a&password=b")
        .send()
        .await
        .unwrap();
    let (headers, _) = problem(res, 415, "unsupported_media_type").await;
    assert_no_store(&headers, "415");
}

#[tokio::test]
async fn wrong_password_unknown_email_and_unknown_username_get_the_same_401() {
    let app = spawn_app().await;
    register_user(&app, "known@example.com", Some("known_user")).await;
    let attempts = [
        login_json(
            &app,
            &json!({"email": "known@example.com", "password": "wrong-password"}),
        )
        .await,
        login_json(
            &app,
            &json!({"email": "nobody@example.com", "password": USER_PASSWORD}),
        )
        .await,
        login_json(
            &app,
            &json!({"username": "known_user", "password": "wrong-password"}),
        )
        .await,
        login_json(
            &app,
            &json!({"username": "nobody_here", "password": USER_PASSWORD}),
        )
        .await,
        login_form(
            &app,
            &[
                ("username", "known@example.com"),
                ("password", "wrong-password"),
            ],
        )
        .await,
        login_form(
            &app,
            &[("username", "nobody_here"), ("password", USER_PASSWORD)],
        )
        .await,
    ];
    let mut details = Vec::new();
    for res in attempts {
        let (headers, body) = problem(res, 401, "unauthorized").await;
        assert!(
            header(&headers, "www-authenticate").starts_with("Bearer"),
            "401 carries a Bearer challenge"
        );
        assert_no_store(&headers, "401");
        details.push((body["title"].clone(), body["detail"].clone()));
    }
    assert!(
        details.windows(2).all(|w| w[0] == w[1]),
        "one answer for every failure: {details:?}"
    );
}

#[tokio::test]
async fn an_inactive_user_gets_403_after_the_right_password_and_401_after_a_wrong_one() {
    let app = spawn_app().await;
    let user = register_user(&app, "sleepy@example.com", None).await;
    let admin = app.admin().await;
    let path = format!("/api/v1/users/{}", user["id"].as_str().unwrap());
    let (status, _) =
        json_of(patch(&app, &path, &admin.access, &json!({"is_active": false})).await).await;
    assert_eq!(status, 200);

    let res = login_json(
        &app,
        &json!({"email": "sleepy@example.com", "password": USER_PASSWORD}),
    )
    .await;
    let (headers, _) = problem(res, 403, "forbidden").await;
    assert_no_store(&headers, "403");
    let res = login_form(
        &app,
        &[
            ("username", "sleepy@example.com"),
            ("password", USER_PASSWORD),
        ],
    )
    .await;
    problem(res, 403, "forbidden").await;
    let res = login_json(
        &app,
        &json!({"email": "sleepy@example.com", "password": "wrong-password"}),
    )
    .await;
    assert_problem(res, 401, "unauthorized").await;
}

#[tokio::test]
async fn the_compatibility_login_routes_take_json_and_the_form() {
    let app = spawn_app().await;
    register_user(&app, "compat@example.com", Some("compat_user")).await;
    for path in ["/auth/login", "/api/auth/login", "/api/v1/auth/login/"] {
        let res = app
            .post_json(
                path,
                &json!({"email": "compat@example.com", "password": USER_PASSWORD}),
            )
            .await;
        assert_logged_in(&app, res, path).await;
        let res = login_form_at(
            &app,
            path,
            &[("username", "compat_user"), ("password", USER_PASSWORD)],
        )
        .await;
        assert_logged_in(&app, res, path).await;
        let res = app
            .post_json(
                path,
                &json!({"email": "compat@example.com", "password": "wrong-password"}),
            )
            .await;
        let (headers, _) = problem(res, 401, "unauthorized").await;
        assert_no_store(&headers, path);
    }
}

#[tokio::test]
async fn the_bootstrap_admin_logs_in_as_an_admin() {
    let app = spawn_app().await;
    let pair = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_token_pair(&pair);
    let (_, me) = json_of(app.get_auth("/api/v1/users/me", &access(&pair)).await).await;
    assert_eq!(me["role"], json!("admin"));
    assert_eq!(me["is_admin"], json!(true));
}

#[tokio::test]
async fn every_login_starts_a_new_session_with_distinct_tokens() {
    let app = spawn_app().await;
    register_user(&app, "twice@example.com", None).await;
    let first = app.login("twice@example.com", USER_PASSWORD).await;
    let second = app.login("twice@example.com", USER_PASSWORD).await;
    assert_ne!(first["access_token"], second["access_token"]);
    assert_ne!(first["refresh_token"], second["refresh_token"]);
    assert_eq!(me_status(&app, &access(&first)).await, 200);
    assert_eq!(me_status(&app, &access(&second)).await, 200);
}

#[tokio::test]
async fn an_unknown_account_takes_as_long_to_refuse_as_a_wrong_password() {
    // A cost high enough that one bcrypt check dwarfs the rest of a request.
    let app = spawn_app_with(&[("BCRYPT_COST", "9")]).await;
    register_user(&app, "timed@example.com", Some("timed_user")).await;
    let attempts = [
        json!({"email": "timed@example.com", "password": "wrong-password"}),
        json!({"email": "nobody@example.com", "password": "wrong-password"}),
        json!({"username": "nobody_here", "password": "wrong-password"}),
    ];
    let mut fastest = [Duration::MAX; 3];
    for _ in 0..3 {
        for (slot, body) in fastest.iter_mut().zip(&attempts) {
            let start = Instant::now();
            let res = login_json(&app, body).await;
            let took = start.elapsed();
            assert_problem(res, 401, "unauthorized").await;
            *slot = (*slot).min(took);
        }
    }
    let [wrong_password, unknown_email, unknown_username] = fastest;
    for (what, took) in [
        ("unknown email", unknown_email),
        ("unknown username", unknown_username),
    ] {
        assert!(
            took * 3 >= wrong_password,
            "{what} refused in {took:?}, a wrong password in {wrong_password:?}: the unknown account skipped the hash"
        );
    }
}

/// A client that closes its side of the connection before the answer has given up:
/// the server drops its login where it waits instead of finishing it (so abandoned
/// logins never take a turn at bcrypt) and closes the connection unanswered.
#[tokio::test]
async fn a_login_whose_client_went_away_is_dropped_unanswered() {
    // At cost 12 one check outlasts the client's goodbye many times over.
    let app = spawn_app_with(&[("BCRYPT_COST", "12")]).await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let (answer, read) = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(&address).expect("connects");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("a read timeout");
        let body = format!("username={ADMIN_EMAIL}&password={ADMIN_PASSWORD}");
        write!(
            stream,
            "POST /api/v1/auth/login HTTP/1.1\r\nHost: {address}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .expect("the request is sent");
        stream.shutdown(Shutdown::Write).expect("half-closes");
        let mut answer = Vec::new();
        let read = stream.read_to_end(&mut answer).map_err(|e| e.kind());
        (answer, read)
    })
    .await
    .expect("the client thread");
    // Closed by the server (a reset is a close too), not a timeout.
    assert!(
        matches!(read, Ok(0) | Err(ErrorKind::ConnectionReset)),
        "{read:?}"
    );
    assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
    let metrics = app.get("/metrics").await.text().await.expect("metrics");
    assert!(
        !metrics.contains(r#"route="/api/v1/auth/login""#),
        "the abandoned login was answered:\n{metrics}"
    );
    // A client that waits is answered.
    let res = login_form(
        &app,
        &[("username", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)],
    )
    .await;
    assert_logged_in(&app, res, "a login that waits").await;
}
