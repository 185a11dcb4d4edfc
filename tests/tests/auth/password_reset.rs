//! Password reset by mail: the same 202 in the same time for any address, a single-use
//! token that expires and dies with a password change, and every session ended.

use std::time::{Duration, Instant};

use reqwest::Response;
use serde_json::{Value, json};
use taskforge_tests::{
    TestApp, USER_PASSWORD, assert_problem, error_fields, json_of, spawn_app_with,
};

use crate::outbox::{RESET_URL, mail_app, token_in};
use crate::support::{
    assert_access_revoked, assert_refresh_revoked, header, login_json, patch, problem,
};

const NEW_PASSWORD: &str = "a-new-password-2";

async fn request_reset(app: &TestApp, email: &str) -> Response {
    app.post_json("/api/v1/auth/password-reset", &json!({"email": email}))
        .await
}

async fn confirm(app: &TestApp, token: &str, password: &str) -> Response {
    app.post_json(
        "/api/v1/auth/password-reset/confirm",
        &json!({"token": token, "new_password": password}),
    )
    .await
}

async fn assert_accepted(res: Response) {
    let cache = res
        .headers()
        .get("cache-control")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let (status, body) = json_of(res).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body, json!({"status": "accepted"}));
    assert_eq!(cache, "no-store");
}

async fn login_status(app: &TestApp, email: &str, password: &str) -> u16 {
    login_json(app, &json!({"email": email, "password": password}))
        .await
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_known_and_an_unknown_address_get_the_same_202_and_only_the_known_one_a_mail() {
    let mail = mail_app(&[]).await;
    let alice = mail.app.user("alice@example.com").await;
    assert_accepted(request_reset(&mail.app, "nobody@example.com").await).await;
    assert_accepted(request_reset(&mail.app, " Alice@Example.com ").await).await;

    let messages = mail.outbox.wait_for(1).await;
    // The unknown address was asked for first: had it produced a mail, it would be here.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        mail.outbox.messages().len(),
        1,
        "one message, to the account"
    );
    let message = &messages[0];
    assert!(message.contains("To: alice@example.com"), "{message}");
    assert!(
        message.contains("From: Taskforge <no-reply@example.test>"),
        "{message}"
    );
    assert!(message.contains("text/plain"), "a plain-text part");
    assert!(message.contains("text/html"), "an HTML part");
    let token = token_in(message);
    assert!(token.len() >= 32, "at least 128 bits: {token:?}");
    assert!(crate::outbox::plain_text(message).contains(&format!("{RESET_URL}{token}")));

    // The token is stored only as a digest.
    let stored = stored_digests(&mail.app).await;
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0], token);
    assert!(!stored[0].contains(&token));
    let _ = alice;
}

async fn stored_digests(app: &TestApp) -> Vec<String> {
    use sea_orm::{ConnectionTrait, Statement};
    let backend = app.db.get_database_backend();
    app.db
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT token_hash FROM password_resets",
        ))
        .await
        .expect("read the resets")
        .iter()
        .map(|row| row.try_get::<String>("", "token_hash").expect("a digest"))
        .collect()
}

#[tokio::test]
async fn a_reset_request_takes_as_long_for_an_unknown_address_as_for_a_known_one() {
    let mail = mail_app(&[]).await;
    mail.app.user("timed@example.com").await;
    let mut fastest = [Duration::MAX; 2];
    for _ in 0..5 {
        for (slot, email) in fastest
            .iter_mut()
            .zip(["timed@example.com", "nobody@example.com"])
        {
            let start = Instant::now();
            let res = request_reset(&mail.app, email).await;
            let took = start.elapsed();
            assert_eq!(res.status().as_u16(), 202);
            *slot = (*slot).min(took);
        }
    }
    let [known, unknown] = fastest;
    // Nothing is looked up before the answer, so neither waits on the database: both
    // answer within the same small bound, and neither is much slower than the other.
    let slack = Duration::from_millis(5);
    assert!(
        known <= unknown * 3 + slack,
        "known {known:?}, unknown {unknown:?}"
    );
    assert!(
        unknown <= known * 3 + slack,
        "known {known:?}, unknown {unknown:?}"
    );
}

#[tokio::test]
async fn confirming_sets_the_password_ends_every_session_and_spends_the_token() {
    let mail = mail_app(&[]).await;
    let alice = mail.app.user("alice@example.com").await;
    let second = mail.app.login("alice@example.com", USER_PASSWORD).await;
    assert_accepted(request_reset(&mail.app, "alice@example.com").await).await;
    let token = token_in(&mail.outbox.wait_for(1).await[0]);

    let res = confirm(&mail.app, &token, NEW_PASSWORD).await;
    assert_eq!(res.status().as_u16(), 204);
    assert_eq!(header(res.headers(), "cache-control"), "no-store");

    assert_access_revoked(&mail.app, &alice.access).await;
    assert_refresh_revoked(&mail.app, &alice.refresh).await;
    assert_access_revoked(&mail.app, second["access_token"].as_str().unwrap()).await;
    assert_eq!(
        login_status(&mail.app, "alice@example.com", USER_PASSWORD).await,
        401
    );
    assert_eq!(
        login_status(&mail.app, "alice@example.com", NEW_PASSWORD).await,
        200
    );

    let again = confirm(&mail.app, &token, "yet-another-password").await;
    assert_problem(again, 400, "bad_request").await;
    assert_eq!(
        login_status(&mail.app, "alice@example.com", NEW_PASSWORD).await,
        200
    );
}

#[tokio::test]
async fn an_unknown_or_expired_token_is_400_and_changes_nothing() {
    use sea_orm::ConnectionTrait;
    let mail = mail_app(&[]).await;
    mail.app.user("alice@example.com").await;
    assert_problem(
        confirm(&mail.app, "not-a-token", NEW_PASSWORD).await,
        400,
        "bad_request",
    )
    .await;
    assert_problem(
        confirm(&mail.app, "", NEW_PASSWORD).await,
        400,
        "bad_request",
    )
    .await;

    assert_accepted(request_reset(&mail.app, "alice@example.com").await).await;
    let token = token_in(&mail.outbox.wait_for(1).await[0]);
    mail.app
        .db
        .execute_unprepared("UPDATE password_resets SET expires_at = '2001-01-01 00:00:00+00:00'")
        .await
        .expect("expire the token");
    assert_problem(
        confirm(&mail.app, &token, NEW_PASSWORD).await,
        400,
        "bad_request",
    )
    .await;
    assert_eq!(
        login_status(&mail.app, "alice@example.com", USER_PASSWORD).await,
        200
    );
}

#[tokio::test]
async fn a_password_changed_by_another_route_kills_the_token() {
    let mail = mail_app(&[]).await;
    let alice = mail.app.user("alice@example.com").await;
    assert_accepted(request_reset(&mail.app, "alice@example.com").await).await;
    let token = token_in(&mail.outbox.wait_for(1).await[0]);
    let res = patch(
        &mail.app,
        "/api/v1/users/me",
        &alice.access,
        &json!({"password": "changed-by-me-1", "current_password": USER_PASSWORD}),
    )
    .await;
    assert_eq!(res.status().as_u16(), 200);

    assert_problem(
        confirm(&mail.app, &token, NEW_PASSWORD).await,
        400,
        "bad_request",
    )
    .await;
    assert_eq!(
        login_status(&mail.app, "alice@example.com", "changed-by-me-1").await,
        200
    );
}

#[tokio::test]
async fn the_body_is_checked_before_the_token() {
    let mail = mail_app(&[]).await;
    let body = assert_problem(
        confirm(&mail.app, "not-a-token", "short").await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(error_fields(&body), ["new_password"]);
    let long = "x".repeat(73);
    let body = assert_problem(
        confirm(&mail.app, "not-a-token", &long).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(error_fields(&body), ["new_password"]);
    let res = mail
        .app
        .post_json(
            "/api/v1/auth/password-reset/confirm",
            &json!({"token": "t", "new_password": NEW_PASSWORD, "extra": 1}),
        )
        .await;
    let body = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(error_fields(&body), ["extra"]);
    let res = mail
        .app
        .post_json(
            "/api/v1/auth/password-reset/confirm",
            &json!({"new_password": NEW_PASSWORD}),
        )
        .await;
    let body = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(error_fields(&body), ["token"]);
}

#[tokio::test]
async fn a_reset_request_needs_an_email_address() {
    let mail = mail_app(&[]).await;
    let body = assert_problem(
        request_reset(&mail.app, "not-an-address").await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(error_fields(&body), ["email"]);
    let res = mail
        .app
        .post_json("/api/v1/auth/password-reset", &json!({}))
        .await;
    let body = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(error_fields(&body), ["email"]);
    let res = mail
        .app
        .request(reqwest::Method::POST, "/api/v1/auth/password-reset")
        .header("content-type", "application/json")
        .body("")
        .send()
        .await
        .unwrap();
    assert_problem(res, 400, "bad_request").await;
}

#[tokio::test]
async fn an_inactive_account_gets_no_mail() {
    let mail = mail_app(&[]).await;
    let admin = mail.app.admin().await;
    let bob = mail.app.user("bob@example.com").await;
    let res = patch(
        &mail.app,
        &format!("/api/v1/users/{}", bob.id),
        &admin.access,
        &json!({"is_active": false}),
    )
    .await;
    assert_eq!(res.status().as_u16(), 200);
    assert_accepted(request_reset(&mail.app, "bob@example.com").await).await;
    assert_accepted(request_reset(&mail.app, "admin@example.com").await).await;
    let messages = mail.outbox.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(mail.outbox.messages().len(), 1);
    assert!(messages[0].contains("To: admin@example.com"));
}

#[tokio::test]
async fn with_mail_off_a_reset_request_is_503() {
    let app = spawn_app_with(&[("MAIL_TRANSPORT", "off")]).await;
    let (headers, _) = problem(
        request_reset(&app, "admin@example.com").await,
        503,
        "service_unavailable",
    )
    .await;
    assert!(!header(&headers, "retry-after").is_empty());
}

#[tokio::test]
async fn reset_requests_are_rate_limited_per_client_ip() {
    let mail = mail_app(&[
        ("RATE_LIMIT_ENABLED", "true"),
        ("RATE_LIMIT_RESET_PER_MIN", "2"),
    ])
    .await;
    for _ in 0..2 {
        assert_accepted(request_reset(&mail.app, "nobody@example.com").await).await;
    }
    let (headers, _) = problem(
        request_reset(&mail.app, "nobody@example.com").await,
        429,
        "rate_limited",
    )
    .await;
    let seconds: u64 = header(&headers, "retry-after")
        .parse()
        .expect("whole seconds");
    assert!((1..=60).contains(&seconds));
}

#[tokio::test]
async fn delivered_mail_is_counted_in_the_metrics() {
    let mail = mail_app(&[]).await;
    assert_accepted(request_reset(&mail.app, "admin@example.com").await).await;
    mail.outbox.wait_for(1).await;
    let text = mail.app.get("/metrics").await.text().await.unwrap();
    assert!(
        text.contains(r#"mail_messages_total{outcome="sent"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"mail_messages_total{outcome="failed"} 0"#),
        "{text}"
    );
}

#[tokio::test]
async fn the_openapi_document_describes_reset_and_sessions() {
    let app = spawn_app_with(&[]).await;
    let doc: Value = app.get("/openapi.json").await.json().await.unwrap();
    let paths = &doc["paths"];
    for (path, method, status) in [
        ("/api/v1/auth/password-reset", "post", "202"),
        ("/api/v1/auth/password-reset/confirm", "post", "204"),
        ("/api/v1/auth/password-reset/confirm", "post", "400"),
        ("/api/v1/auth/sessions", "get", "200"),
        ("/api/v1/auth/sessions/{id}", "delete", "204"),
        ("/api/v1/auth/sessions/{id}", "delete", "404"),
    ] {
        assert!(
            paths[path][method]["responses"][status].is_object(),
            "{method} {path} documents {status}"
        );
    }
    let session = &doc["components"]["schemas"]["Session"];
    for key in [
        "id",
        "created_at",
        "last_used_at",
        "expires_at",
        "user_agent",
        "ip",
        "current",
    ] {
        assert!(
            session["required"]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k == key),
            "Session.{key} is required"
        );
    }
}
