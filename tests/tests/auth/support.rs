//! Helpers shared by the auth and users tests of this binary.

use reqwest::header::HeaderMap;
use reqwest::{Method, Response};
use serde_json::{Value, json};
use taskforge_tests::{TestApp, USER_PASSWORD, assert_problem, json_of};

/// The keys of a User, exactly.
pub const USER_KEYS: [&str; 9] = [
    "id",
    "email",
    "username",
    "full_name",
    "role",
    "is_admin",
    "is_active",
    "created_at",
    "updated_at",
];

/// The keys of a TokenPair, exactly.
pub const TOKEN_PAIR_KEYS: [&str; 5] = [
    "access_token",
    "refresh_token",
    "token_type",
    "expires_in",
    "refresh_expires_in",
];

/// Asserts a problem+json error and returns its headers with the body.
pub async fn problem(res: Response, status: u16, error: &str) -> (HeaderMap, Value) {
    let headers = res.headers().clone();
    let body = assert_problem(res, status, error).await;
    (headers, body)
}

/// A header's value as text, `""` when absent.
pub fn header(headers: &HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Asserts `Cache-Control: no-store`.
pub fn assert_no_store(headers: &HeaderMap, what: &str) {
    let value = header(headers, "cache-control");
    assert!(
        value
            .split(',')
            .any(|d| d.trim().eq_ignore_ascii_case("no-store")),
        "{what}: Cache-Control is {value:?}, expected no-store"
    );
}

/// Asserts 401 with `WWW-Authenticate: Bearer ... error="invalid_token"`.
pub async fn assert_invalid_token(res: Response) -> Value {
    let (headers, body) = problem(res, 401, "unauthorized").await;
    let challenge = header(&headers, "www-authenticate");
    assert!(
        challenge.starts_with("Bearer"),
        "WWW-Authenticate: {challenge:?}"
    );
    assert!(
        challenge.contains(r#"error="invalid_token""#),
        "WWW-Authenticate: {challenge:?}"
    );
    body
}

/// Asserts 401 with a `WWW-Authenticate: Bearer` challenge that names no token error
/// (no token was sent).
pub async fn assert_token_missing(res: Response) -> Value {
    let (headers, body) = problem(res, 401, "unauthorized").await;
    let challenge = header(&headers, "www-authenticate");
    assert!(
        challenge.starts_with("Bearer"),
        "WWW-Authenticate: {challenge:?}"
    );
    assert!(
        !challenge.contains("invalid_token"),
        "no token was sent: {challenge:?}"
    );
    body
}

/// Asserts a 422 whose `errors[].field` include `field`.
pub async fn assert_invalid_field(res: Response, field: &str) -> Value {
    let body = assert_problem(res, 422, "validation_failed").await;
    let fields = taskforge_tests::error_fields(&body);
    assert!(
        fields.iter().any(|f| f == field),
        "expected a 422 on {field}, got {body}"
    );
    body
}

/// Asserts the User shape: exactly the contract's keys, and their types.
pub fn assert_user(user: &Value) {
    let object = user
        .as_object()
        .unwrap_or_else(|| panic!("a User object: {user}"));
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    let mut expected = USER_KEYS.to_vec();
    expected.sort_unstable();
    assert_eq!(keys, expected, "User keys: {user}");
    let id = user["id"].as_str().expect("id is a string");
    let parsed = uuid::Uuid::parse_str(id).expect("id is a UUID");
    assert_eq!(
        parsed.hyphenated().to_string(),
        id,
        "id is a canonical lower-case UUID"
    );
    assert!(user["email"].is_string(), "{user}");
    assert!(
        user["username"].is_string() || user["username"].is_null(),
        "{user}"
    );
    assert!(
        user["full_name"].is_string() || user["full_name"].is_null(),
        "{user}"
    );
    let role = user["role"].as_str().expect("role is a string");
    assert!(role == "user" || role == "admin", "{user}");
    assert_eq!(
        user["is_admin"],
        json!(role == "admin"),
        "is_admin is role == admin: {user}"
    );
    assert!(user["is_active"].is_boolean(), "{user}");
    for key in ["created_at", "updated_at"] {
        let text = user[key]
            .as_str()
            .unwrap_or_else(|| panic!("{key} is a string: {user}"));
        let at = chrono::DateTime::parse_from_rfc3339(text)
            .unwrap_or_else(|_| panic!("{key} is RFC 3339: {user}"));
        assert_eq!(at.offset().local_minus_utc(), 0, "{key} is UTC: {user}");
        let digits = text.split_once('.').map_or(0, |(_, rest)| {
            rest.chars().take_while(char::is_ascii_digit).count()
        });
        assert!(digits <= 6, "{key} carries at most microseconds: {user}");
    }
    let text = user.to_string().to_lowercase();
    assert!(
        !text.contains("password") && !text.contains("hash") && !text.contains("$2"),
        "no secrets: {user}"
    );
}

/// Asserts the TokenPair shape with the default lifetimes.
pub fn assert_token_pair(pair: &Value) {
    let object = pair
        .as_object()
        .unwrap_or_else(|| panic!("a TokenPair object: {pair}"));
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    let mut expected = TOKEN_PAIR_KEYS.to_vec();
    expected.sort_unstable();
    assert_eq!(keys, expected, "TokenPair keys: {pair}");
    assert_eq!(pair["token_type"], json!("bearer"));
    assert_eq!(pair["expires_in"], json!(1800));
    assert_eq!(pair["refresh_expires_in"], json!(604_800));
    for key in ["access_token", "refresh_token"] {
        let token = pair[key].as_str().unwrap_or_default();
        assert_eq!(token.split('.').count(), 3, "{key} is a JWT: {pair}");
    }
    assert_ne!(pair["access_token"], pair["refresh_token"]);
}

/// The access token of a pair.
pub fn access(pair: &Value) -> String {
    pair["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

/// The refresh token of a pair.
pub fn refresh_of(pair: &Value) -> String {
    pair["refresh_token"]
        .as_str()
        .expect("refresh_token")
        .to_owned()
}

/// `POST /api/v1/auth/register`.
pub async fn register(app: &TestApp, body: &Value) -> Response {
    app.post_json("/api/v1/auth/register", body).await
}

/// Registers `email` (and optionally `username`) with [`USER_PASSWORD`]; returns the User.
pub async fn register_user(app: &TestApp, email: &str, username: Option<&str>) -> Value {
    let mut body = json!({"email": email, "password": USER_PASSWORD});
    if let Some(username) = username {
        body["username"] = json!(username);
    }
    let (status, user) = json_of(register(app, &body).await).await;
    assert_eq!(status, 201, "register {email}: {user}");
    user
}

/// `POST /api/v1/auth/login` with a JSON body.
pub async fn login_json(app: &TestApp, body: &Value) -> Response {
    app.post_json("/api/v1/auth/login", body).await
}

/// `POST path` with an OAuth2 password-flow form.
pub async fn login_form_at(app: &TestApp, path: &str, form: &[(&str, &str)]) -> Response {
    app.request(Method::POST, path)
        .form(form)
        .send()
        .await
        .expect("request sent")
}

/// `POST /api/v1/auth/login` with an OAuth2 password-flow form.
pub async fn login_form(app: &TestApp, form: &[(&str, &str)]) -> Response {
    login_form_at(app, "/api/v1/auth/login", form).await
}

/// `POST /api/v1/auth/refresh`.
pub async fn refresh(app: &TestApp, refresh_token: &str) -> Response {
    app.post_json(
        "/api/v1/auth/refresh",
        &json!({"refresh_token": refresh_token}),
    )
    .await
}

/// `POST /api/v1/auth/logout`.
pub async fn logout(app: &TestApp, refresh_token: &str) -> Response {
    app.post_json(
        "/api/v1/auth/logout",
        &json!({"refresh_token": refresh_token}),
    )
    .await
}

/// The status of `GET /api/v1/users/me` with `token`.
pub async fn me_status(app: &TestApp, token: &str) -> u16 {
    app.get_auth("/api/v1/users/me", token)
        .await
        .status()
        .as_u16()
}

/// The status of `POST /api/v1/auth/refresh` with `token`.
pub async fn refresh_status(app: &TestApp, token: &str) -> u16 {
    refresh(app, token).await.status().as_u16()
}

/// Asserts that an access token is refused with 401 `invalid_token` at `/users/me`.
pub async fn assert_access_revoked(app: &TestApp, token: &str) {
    assert_invalid_token(app.get_auth("/api/v1/users/me", token).await).await;
}

/// Asserts that a refresh token is refused with 401 at `/refresh`.
pub async fn assert_refresh_revoked(app: &TestApp, token: &str) {
    assert_problem(refresh(app, token).await, 401, "unauthorized").await;
}

/// `PATCH path` with a JSON body and a bearer token.
pub async fn patch(app: &TestApp, path: &str, token: &str, body: &Value) -> Response {
    app.send_json(Method::PATCH, path, Some(token), body).await
}

/// `DELETE path` with a bearer token.
pub async fn delete(app: &TestApp, path: &str, token: &str) -> Response {
    app.request(Method::DELETE, path)
        .bearer_auth(token)
        .send()
        .await
        .expect("request sent")
}

/// `POST path` with a JSON body and a bearer token.
pub async fn post_auth(app: &TestApp, path: &str, token: &str, body: &Value) -> Response {
    app.send_json(Method::POST, path, Some(token), body).await
}

/// The `total` of the admin's task list filtered by `owner_id`.
pub async fn task_total_of(app: &TestApp, admin_token: &str, owner_id: &str) -> u64 {
    let (status, page) = json_of(
        app.get_auth(&format!("/api/v1/tasks?owner_id={owner_id}"), admin_token)
            .await,
    )
    .await;
    assert_eq!(status, 200, "admin lists the tasks of {owner_id}: {page}");
    page["total"].as_u64().expect("a total")
}
