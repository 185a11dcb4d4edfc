//! JWT claims and signature, refusal of bad tokens, refresh rotation with reuse
//! detection, and logout.

use futures_util::future::join_all;
use reqwest::Method;
use serde_json::{Value, json};
use taskforge_tests::{TestApp, USER_PASSWORD, assert_problem, json_of, spawn_app};

use crate::jwt::{self, TEST_SECRET};
use crate::support::{
    access, assert_access_revoked, assert_invalid_field, assert_invalid_token, assert_no_store,
    assert_refresh_revoked, assert_token_missing, assert_token_pair, header, logout, me_status,
    problem, refresh, refresh_of, refresh_status, register_user,
};

/// Registers `email` and logs in; returns the user id and the token pair.
async fn signed_in(app: &TestApp, email: &str) -> (String, Value) {
    let user = register_user(app, email, None).await;
    let pair = app.login(email, USER_PASSWORD).await;
    (user["id"].as_str().unwrap().to_owned(), pair)
}

#[tokio::test]
async fn tokens_carry_sub_type_iat_exp_and_jti() {
    let app = spawn_app().await;
    let (id, pair) = signed_in(&app, "claims@example.com").await;
    let before = jwt::now();
    for (key, kind, lifetime) in [
        ("access_token", "access", 1800),
        ("refresh_token", "refresh", 604_800),
    ] {
        let token = pair[key].as_str().unwrap();
        let claims = jwt::claims(token);
        assert_eq!(claims["sub"], json!(id), "{kind}: {claims}");
        assert_eq!(claims["type"], json!(kind), "{claims}");
        let iat = claims["iat"].as_i64().expect("iat is an integer");
        let exp = claims["exp"].as_i64().expect("exp is an integer");
        assert!(
            (before - 60..=before + 1).contains(&iat),
            "iat is now: {claims}"
        );
        assert_eq!(exp - iat, lifetime, "{kind} lifetime: {claims}");
        assert!(
            claims["jti"].as_str().is_some_and(|j| !j.is_empty()),
            "jti: {claims}"
        );
        assert_eq!(jwt::header(token)["alg"], json!("HS256"));
    }
    let access_claims = jwt::claims(&access(&pair));
    let refresh_claims = jwt::claims(&refresh_of(&pair));
    assert_ne!(
        access_claims["jti"], refresh_claims["jti"],
        "every token has its own jti"
    );
}

#[tokio::test]
async fn tokens_are_hs256_signed_with_the_configured_secret() {
    let app = spawn_app().await;
    let (_, pair) = signed_in(&app, "sig@example.com").await;
    for token in [access(&pair), refresh_of(&pair)] {
        let [header, payload, signature] = jwt::parts(&token);
        let expected = jwt::b64url_encode(&jwt::hmac_sha256(
            TEST_SECRET,
            format!("{header}.{payload}").as_bytes(),
        ));
        assert_eq!(
            signature, expected,
            "HMAC-SHA256 over header.payload with JWT_SECRET_KEY"
        );
    }
    // And so a token forged here with the right key and live claims is accepted: the
    // refusals below are refusals of the one thing each changes.
    let claims = jwt::claims(&access(&pair));
    let forged = jwt::sign_hs256(&claims, TEST_SECRET);
    assert_eq!(me_status(&app, &forged).await, 200);
}

#[tokio::test]
async fn an_access_token_is_refused_at_refresh() {
    let app = spawn_app().await;
    let (_, pair) = signed_in(&app, "kinds@example.com").await;
    let res = refresh(&app, &access(&pair)).await;
    let (headers, _) = problem(res, 401, "unauthorized").await;
    assert!(header(&headers, "www-authenticate").starts_with("Bearer"));
    assert_no_store(&headers, "refresh 401");
    assert_eq!(
        refresh_status(&app, &refresh_of(&pair)).await,
        200,
        "the session was not harmed"
    );
}

#[tokio::test]
async fn a_refresh_token_is_refused_as_a_bearer_token() {
    let app = spawn_app().await;
    let (_, pair) = signed_in(&app, "kinds@example.com").await;
    assert_invalid_token(app.get_auth("/api/v1/users/me", &refresh_of(&pair)).await).await;
    assert_invalid_token(app.get_auth("/api/v1/tasks", &refresh_of(&pair)).await).await;
}

#[tokio::test]
async fn a_missing_bearer_token_is_401_with_a_plain_bearer_challenge() {
    let app = spawn_app().await;
    assert_token_missing(app.get("/api/v1/users/me").await).await;
    let res = app
        .request(Method::GET, "/api/v1/users/me")
        .header("authorization", "Basic dTpw")
        .send()
        .await
        .unwrap();
    assert_problem(res, 401, "unauthorized").await;
}

#[tokio::test]
async fn a_garbage_token_is_401_invalid_token() {
    let app = spawn_app().await;
    for token in ["garbage", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.e30.", "...."] {
        let res = app
            .request(Method::GET, "/api/v1/users/me")
            .header("authorization", format!("Bearer {token}"))
            .send()
            .await
            .unwrap();
        assert_invalid_token(res).await;
    }
}

#[tokio::test]
async fn a_bearer_token_of_non_ascii_bytes_is_401_invalid_token_as_a_token_was_sent() {
    let app = spawn_app().await;
    let res = app
        .request(Method::GET, "/api/v1/users/me")
        .header("authorization", "Bearer 💥.💥.💥")
        .send()
        .await
        .unwrap();
    assert_invalid_token(res).await;
}

#[tokio::test]
async fn a_tampered_token_is_401_invalid_token() {
    let app = spawn_app().await;
    let (_, pair) = signed_in(&app, "tamper@example.com").await;
    let admin = app.admin().await;
    let token = access(&pair);
    let [header, _, signature] = jwt::parts(&token);
    // The claims of someone else, under the original signature.
    let mut claims = jwt::claims(&token);
    claims["sub"] = json!(admin.id);
    let payload = jwt::b64url_encode(claims.to_string().as_bytes());
    assert_invalid_token(
        app.get_auth(
            "/api/v1/users/me",
            &format!("{header}.{payload}.{signature}"),
        )
        .await,
    )
    .await;
    // A longer lifetime, under the original signature.
    let mut claims = jwt::claims(&token);
    claims["exp"] = json!(claims["exp"].as_i64().unwrap() + 86_400);
    let payload = jwt::b64url_encode(claims.to_string().as_bytes());
    assert_invalid_token(
        app.get_auth(
            "/api/v1/users/me",
            &format!("{header}.{payload}.{signature}"),
        )
        .await,
    )
    .await;
    // One signature character changed.
    let [h, p, s] = jwt::parts(&token);
    let flipped: String = s.chars().rev().collect();
    assert_ne!(flipped, s);
    assert_invalid_token(
        app.get_auth("/api/v1/users/me", &format!("{h}.{p}.{flipped}"))
            .await,
    )
    .await;
    assert_eq!(
        me_status(&app, &token).await,
        200,
        "the genuine token still works"
    );
}

#[tokio::test]
async fn a_token_signed_with_another_key_is_401_invalid_token() {
    let app = spawn_app().await;
    let (_, pair) = signed_in(&app, "otherkey@example.com").await;
    let claims = jwt::claims(&access(&pair));
    let forged = jwt::sign_hs256(&claims, b"another-secret-key-that-is-long-enough");
    assert_invalid_token(app.get_auth("/api/v1/users/me", &forged).await).await;
    let refresh_claims = jwt::claims(&refresh_of(&pair));
    let forged = jwt::sign_hs256(&refresh_claims, b"another-secret-key-that-is-long-enough");
    assert_problem(refresh(&app, &forged).await, 401, "unauthorized").await;
}

#[tokio::test]
async fn an_alg_none_token_is_401_invalid_token() {
    let app = spawn_app().await;
    let (_, pair) = signed_in(&app, "none@example.com").await;
    let claims = jwt::claims(&access(&pair));
    let unsigned = jwt::unsigned(&claims);
    assert_invalid_token(app.get_auth("/api/v1/users/me", &unsigned).await).await;
    assert_invalid_token(
        app.get_auth("/api/v1/users/me", unsigned.trim_end_matches('.'))
            .await,
    )
    .await;
    let refresh_claims = jwt::claims(&refresh_of(&pair));
    assert_problem(
        refresh(&app, &jwt::unsigned(&refresh_claims)).await,
        401,
        "unauthorized",
    )
    .await;
}

#[tokio::test]
async fn an_expired_token_is_401_invalid_token_though_correctly_signed() {
    let app = spawn_app().await;
    let (_, pair) = signed_in(&app, "expired@example.com").await;
    let now = jwt::now();
    let mut claims = jwt::claims(&access(&pair));
    claims["iat"] = json!(now - 3600);
    claims["exp"] = json!(now - 5);
    assert_invalid_token(
        app.get_auth("/api/v1/users/me", &jwt::sign_hs256(&claims, TEST_SECRET))
            .await,
    )
    .await;
    let mut refresh_claims = jwt::claims(&refresh_of(&pair));
    refresh_claims["iat"] = json!(now - 3600);
    refresh_claims["exp"] = json!(now - 5);
    assert_problem(
        refresh(&app, &jwt::sign_hs256(&refresh_claims, TEST_SECRET)).await,
        401,
        "unauthorized",
    )
    .await;
    // The same claims, still valid, are accepted: it was the expiry that was refused.
    claims["exp"] = json!(now + 600);
    assert_eq!(
        me_status(&app, &jwt::sign_hs256(&claims, TEST_SECRET)).await,
        200
    );
}

#[tokio::test]
async fn a_token_whose_type_claim_is_changed_is_refused() {
    let app = spawn_app().await;
    let (_, pair) = signed_in(&app, "retyped@example.com").await;
    // An access token re-signed as a refresh token must not buy a session.
    let mut claims = jwt::claims(&access(&pair));
    claims["type"] = json!("refresh");
    assert_problem(
        refresh(&app, &jwt::sign_hs256(&claims, TEST_SECRET)).await,
        401,
        "unauthorized",
    )
    .await;
    let mut claims = jwt::claims(&access(&pair));
    claims["type"] = json!("admin");
    assert_invalid_token(
        app.get_auth("/api/v1/users/me", &jwt::sign_hs256(&claims, TEST_SECRET))
            .await,
    )
    .await;
}

#[tokio::test]
async fn refresh_rotates_the_token_pair() {
    let app = spawn_app().await;
    let (id, pair) = signed_in(&app, "rotate@example.com").await;
    let res = refresh(&app, &refresh_of(&pair)).await;
    assert_no_store(res.headers(), "refresh 200");
    let (status, next) = json_of(res).await;
    assert_eq!(status, 200, "{next}");
    assert_token_pair(&next);
    assert_ne!(next["refresh_token"], pair["refresh_token"]);
    assert_ne!(next["access_token"], pair["access_token"]);
    assert_eq!(jwt::claims(&access(&next))["sub"], json!(id));
    let (status, me) = json_of(app.get_auth("/api/v1/users/me", &access(&next)).await).await;
    assert_eq!((status, me["id"].clone()), (200, json!(id)));
    // The new refresh token can be spent in turn.
    let (status, third) = json_of(refresh(&app, &refresh_of(&next)).await).await;
    assert_eq!(status, 200, "{third}");
    assert_eq!(me_status(&app, &access(&third)).await, 200);
}

#[tokio::test]
async fn reusing_a_spent_refresh_token_revokes_that_login_session_only() {
    let app = spawn_app().await;
    let (_, first) = signed_in(&app, "reuse@example.com").await;
    let other = app.login("reuse@example.com", USER_PASSWORD).await;
    let (status, rotated) = json_of(refresh(&app, &refresh_of(&first)).await).await;
    assert_eq!(status, 200);
    assert_eq!(me_status(&app, &access(&rotated)).await, 200);

    let res = refresh(&app, &refresh_of(&first)).await;
    let (headers, _) = problem(res, 401, "unauthorized").await;
    assert_no_store(&headers, "reuse 401");

    assert_refresh_revoked(&app, &refresh_of(&rotated)).await;
    assert_access_revoked(&app, &access(&rotated)).await;
    assert_access_revoked(&app, &access(&first)).await;

    assert_eq!(
        me_status(&app, &access(&other)).await,
        200,
        "another login session is untouched"
    );
    assert_eq!(refresh_status(&app, &refresh_of(&other)).await, 200);
}

#[tokio::test]
async fn of_parallel_refreshes_of_one_token_exactly_one_succeeds() {
    let app = spawn_app().await;
    let (_, pair) = signed_in(&app, "parallel@example.com").await;
    let token = refresh_of(&pair);
    let responses = join_all((0..8).map(|_| refresh(&app, &token))).await;
    let mut winners = Vec::new();
    for res in responses {
        if res.status().as_u16() == 200 {
            winners.push(res.json::<Value>().await.unwrap());
        } else {
            assert_problem(res, 401, "unauthorized").await;
        }
    }
    assert_eq!(winners.len(), 1, "exactly one 200");
}

#[tokio::test]
async fn refresh_with_a_garbage_token_is_401() {
    let app = spawn_app().await;
    for token in ["garbage", "", "a.b.c"] {
        let (headers, _) = problem(refresh(&app, token).await, 401, "unauthorized").await;
        assert_no_store(&headers, "refresh 401");
    }
}

#[tokio::test]
async fn a_refresh_body_of_the_wrong_shape_is_422_naming_the_field() {
    let app = spawn_app().await;
    let res = app.post_json("/api/v1/auth/refresh", &json!({})).await;
    let (headers, _) = problem(res, 422, "validation_failed").await;
    assert_no_store(&headers, "refresh 422");
    assert_invalid_field(
        app.post_json("/api/v1/auth/refresh", &json!({})).await,
        "refresh_token",
    )
    .await;
    assert_invalid_field(
        app.post_json("/api/v1/auth/refresh", &json!({"refresh_token": 5}))
            .await,
        "refresh_token",
    )
    .await;
    assert_invalid_field(
        app.post_json(
            "/api/v1/auth/refresh",
            &json!({"refresh_token": "x", "extra": true}),
        )
        .await,
        "extra",
    )
    .await;
}

#[tokio::test]
async fn logout_is_204_for_any_string_and_idempotent() {
    let app = spawn_app().await;
    let (_, pair) = signed_in(&app, "bye@example.com").await;
    for token in ["garbage", "", "a.b.c", access(&pair).as_str()] {
        let res = logout(&app, token).await;
        assert_eq!(res.status().as_u16(), 204, "{token:?}");
        assert_no_store(res.headers(), "logout 204");
    }
    assert_eq!(
        me_status(&app, &access(&pair)).await,
        200,
        "an access token as refresh_token ends nothing"
    );
    for _ in 0..2 {
        assert_eq!(
            logout(&app, &refresh_of(&pair)).await.status().as_u16(),
            204
        );
    }
}

#[tokio::test]
async fn after_logout_that_sessions_refresh_and_access_tokens_are_401() {
    let app = spawn_app().await;
    let (_, pair) = signed_in(&app, "out@example.com").await;
    let other = app.login("out@example.com", USER_PASSWORD).await;
    assert_eq!(
        logout(&app, &refresh_of(&pair)).await.status().as_u16(),
        204
    );
    assert_refresh_revoked(&app, &refresh_of(&pair)).await;
    assert_access_revoked(&app, &access(&pair)).await;
    assert_eq!(
        me_status(&app, &access(&other)).await,
        200,
        "another session is untouched"
    );
    assert_eq!(refresh_status(&app, &refresh_of(&other)).await, 200);
}

#[tokio::test]
async fn logout_after_a_rotation_ends_the_rotated_session() {
    let app = spawn_app().await;
    let (_, pair) = signed_in(&app, "rotout@example.com").await;
    let (_, next) = json_of(refresh(&app, &refresh_of(&pair)).await).await;
    assert_eq!(
        logout(&app, &refresh_of(&next)).await.status().as_u16(),
        204
    );
    assert_access_revoked(&app, &access(&next)).await;
    assert_refresh_revoked(&app, &refresh_of(&next)).await;
}

/// `POST /logout?all=true` with a bearer token.
async fn logout_all(app: &TestApp, bearer: Option<&str>, refresh_token: &str) -> reqwest::Response {
    let mut req = app
        .request(Method::POST, "/api/v1/auth/logout?all=true")
        .json(&json!({"refresh_token": refresh_token}));
    if let Some(token) = bearer {
        req = req.bearer_auth(token);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn logout_all_with_a_bearer_ends_every_session_of_the_user() {
    let app = spawn_app().await;
    let (_, first) = signed_in(&app, "everywhere@example.com").await;
    let second = app.login("everywhere@example.com", USER_PASSWORD).await;
    let third = app.login("everywhere@example.com", USER_PASSWORD).await;
    let (_, third) = json_of(refresh(&app, &refresh_of(&third)).await).await;
    let bystander = app.user("bystander@example.com").await;

    let res = logout_all(&app, Some(&access(&first)), &refresh_of(&first)).await;
    assert_eq!(res.status().as_u16(), 204);
    assert_no_store(res.headers(), "logout all");

    for pair in [&first, &second, &third] {
        assert_access_revoked(&app, &access(pair)).await;
        assert_refresh_revoked(&app, &refresh_of(pair)).await;
    }
    assert_eq!(
        me_status(&app, &bystander.access).await,
        200,
        "other users are untouched"
    );
    let fresh = app.login("everywhere@example.com", USER_PASSWORD).await;
    assert_eq!(
        me_status(&app, &access(&fresh)).await,
        200,
        "a login right after works"
    );
    assert_eq!(refresh_status(&app, &refresh_of(&fresh)).await, 200);
}

#[tokio::test]
async fn logout_all_with_a_bearer_and_another_sessions_refresh_token_still_ends_every_session() {
    let app = spawn_app().await;
    let (_, first) = signed_in(&app, "mixed@example.com").await;
    let second = app.login("mixed@example.com", USER_PASSWORD).await;
    let res = logout_all(&app, Some(&access(&second)), "not-a-token").await;
    assert_eq!(res.status().as_u16(), 204);
    for pair in [&first, &second] {
        assert_access_revoked(&app, &access(pair)).await;
        assert_refresh_revoked(&app, &refresh_of(pair)).await;
    }
}

#[tokio::test]
async fn logout_all_without_a_bearer_is_401_and_ends_nothing() {
    let app = spawn_app().await;
    let (_, pair) = signed_in(&app, "noall@example.com").await;
    let res = logout_all(&app, None, &refresh_of(&pair)).await;
    let (headers, _) = problem(res, 401, "unauthorized").await;
    assert!(header(&headers, "www-authenticate").starts_with("Bearer"));
    assert_no_store(&headers, "logout all 401");
    assert_invalid_token(logout_all(&app, Some("garbage"), &refresh_of(&pair)).await).await;
    assert_eq!(me_status(&app, &access(&pair)).await, 200);
}

#[tokio::test]
async fn logout_with_a_body_of_the_wrong_shape_is_422() {
    let app = spawn_app().await;
    let res = app
        .post_json("/api/v1/auth/logout", &json!({"token": "x"}))
        .await;
    let (headers, _) = problem(res, 422, "validation_failed").await;
    assert_no_store(&headers, "logout 422");
    assert_invalid_field(
        app.post_json("/api/v1/auth/logout", &json!({})).await,
        "refresh_token",
    )
    .await;
}

#[tokio::test]
async fn a_non_boolean_all_parameter_is_422_naming_all() {
    let app = spawn_app().await;
    let (_, pair) = signed_in(&app, "allq@example.com").await;
    let res = app
        .request(Method::POST, "/api/v1/auth/logout?all=maybe")
        .bearer_auth(access(&pair))
        .json(&json!({"refresh_token": refresh_of(&pair)}))
        .send()
        .await
        .unwrap();
    assert_invalid_field(res, "all").await;
    assert_eq!(me_status(&app, &access(&pair)).await, 200);
}

#[tokio::test]
async fn refresh_and_logout_work_with_a_trailing_slash() {
    let app = spawn_app().await;
    let (_, pair) = signed_in(&app, "slash@example.com").await;
    let res = app
        .post_json(
            "/api/v1/auth/refresh/",
            &json!({"refresh_token": refresh_of(&pair)}),
        )
        .await;
    let (status, next) = json_of(res).await;
    assert_eq!(status, 200, "{next}");
    let res = app
        .post_json(
            "/api/v1/auth/logout/",
            &json!({"refresh_token": refresh_of(&next)}),
        )
        .await;
    assert_eq!(res.status().as_u16(), 204);
    assert_access_revoked(&app, &access(&next)).await;
}
