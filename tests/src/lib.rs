//! The black-box test harness: `spawn_app()` → [`TestApp`], a running server on a free
//! port against a fresh database (PostgreSQL when `TEST_DATABASE_URL` is set, else a
//! temporary SQLite file), with typed request helpers. The tests are in `tests/`.

use std::collections::HashMap;

use reqwest::{Method, RequestBuilder, Response};
use sea_orm::{ConnectionTrait, Database, DbBackend, QueryResult, Statement};
use serde_json::{Value, json};
use taskforge::{Application, Settings};
use uuid::Uuid;

/// Records that a black-box test ran on PostgreSQL: CI sets `TASKFORGE_PG_MARKER` to a
/// file and fails when nothing was recorded, so a silently skipped suite cannot pass.
fn record_postgres_run() {
    if let Ok(path) = std::env::var("TASKFORGE_PG_MARKER") {
        use std::io::Write;
        if let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(file, "api");
        }
    }
}

/// A fresh database for one test, dropped afterwards.
enum TestDatabase {
    Sqlite(std::path::PathBuf),
    Postgres { admin_url: String, name: String },
}

impl TestDatabase {
    async fn create() -> (Self, String) {
        match std::env::var("TEST_DATABASE_URL") {
            Ok(admin_url) if !admin_url.is_empty() => {
                let name = format!("tf_api_{}", Uuid::new_v4().simple());
                let admin = Database::connect(&admin_url)
                    .await
                    .expect("connect to TEST_DATABASE_URL");
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("create the test database");
                admin.close().await.expect("close the admin connection");
                let url = match admin_url.rsplit_once('/') {
                    Some((base, _)) => format!("{base}/{name}"),
                    None => panic!("TEST_DATABASE_URL must end in /<database>"),
                };
                record_postgres_run();
                (Self::Postgres { admin_url, name }, url)
            }
            _ => {
                let path = std::env::temp_dir()
                    .join(format!("taskforge-test-{}.db", Uuid::new_v4().simple()));
                let url = format!("sqlite://{}", path.display());
                (Self::Sqlite(path), url)
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        match self {
            TestDatabase::Sqlite(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            TestDatabase::Postgres { admin_url, name } => {
                let (admin_url, name) = (admin_url.clone(), name.clone());
                // Drop runs inside the test's runtime: do the async cleanup on a thread of its own.
                let _ = std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .ok()?;
                    rt.block_on(async {
                        let admin = Database::connect(&admin_url).await.ok()?;
                        let _ = admin
                            .execute_unprepared(&format!(
                                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                            ))
                            .await;
                        admin.close().await.ok()
                    })
                })
                .join();
            }
        }
    }
}

/// The admin every test server is bootstrapped with (`FIRST_ADMIN_*`).
pub const ADMIN_EMAIL: &str = "admin@example.com";
/// The bootstrap admin's password.
pub const ADMIN_PASSWORD: &str = "admin-password-1";
/// The password [`TestApp::user`] registers users with.
pub const USER_PASSWORD: &str = "user-password-1";

/// A logged-in account.
#[derive(Debug, Clone)]
pub struct Account {
    /// The user id.
    pub id: String,
    /// The email.
    pub email: String,
    /// A bearer access token.
    pub access: String,
    /// The refresh token of the same login.
    pub refresh: String,
}

/// A running server for one test.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    /// Shares the server's pool: closing it makes the database "gone".
    pub db: sea_orm::DatabaseConnection,
    /// HTTP client (no redirects followed: a redirect would be a bug).
    pub client: reqwest::Client,
    /// The URL of the server's database (see [`spawn_instance_of`]).
    pub database_url: String,
    /// The database, dropped with the app that created it (`None` for a second
    /// instance on another app's database).
    _database: Option<TestDatabase>,
}

/// Starts the server with test settings plus `overrides` (variable → value).
pub async fn spawn_app_with(overrides: &[(&str, &str)]) -> TestApp {
    let (database, url) = TestDatabase::create().await;
    let mut app = serve(url, overrides).await;
    app._database = Some(database);
    app
}

/// A second server (instance) on the database of `app`, with test settings plus
/// `overrides`: both serve the same data, as instances behind a load balancer do.
/// The database stays `app`'s (dropped with it).
pub async fn spawn_instance_of(app: &TestApp, overrides: &[(&str, &str)]) -> TestApp {
    serve(app.database_url.clone(), overrides).await
}

/// Whether the suite runs on PostgreSQL (`TEST_DATABASE_URL` set).
pub fn postgres_configured() -> bool {
    std::env::var("TEST_DATABASE_URL").is_ok_and(|url| !url.is_empty())
}

/// Starts a server on the database at `url`, which it migrates and bootstraps.
async fn serve(url: String, overrides: &[(&str, &str)]) -> TestApp {
    let mut vars: HashMap<String, String> = [
        ("HOST", "127.0.0.1"),
        ("PORT", "0"),
        ("BCRYPT_COST", "4"),
        ("JWT_SECRET_KEY", "test-secret-key-that-is-long-enough-32b"),
        ("DB_MAX_CONNECTIONS", "5"),
        ("RATE_LIMIT_ENABLED", "false"),
        ("FIRST_ADMIN_EMAIL", ADMIN_EMAIL),
        ("FIRST_ADMIN_PASSWORD", ADMIN_PASSWORD),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    vars.insert("DATABASE_URL".into(), url.clone());
    for (k, v) in overrides {
        vars.insert((*k).to_owned(), (*v).to_owned());
    }
    let settings = Settings::from_map(vars).expect("valid test settings");
    let app = Application::build(settings)
        .await
        .expect("the server starts");
    let address = format!("http://127.0.0.1:{}", app.port());
    let db = app.db().clone();
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("an HTTP client");
    TestApp {
        address,
        db,
        client,
        database_url: url,
        _database: None,
    }
}

/// Starts the server with test settings.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

impl TestApp {
    /// Whether this server runs on PostgreSQL (else SQLite).
    pub fn is_postgres(&self) -> bool {
        self.db.get_database_backend() == DbBackend::Postgres
    }

    /// `sql` as a statement for this server's database: parameters are written `$1`,
    /// `$2`, … and become `?1`, `?2`, … on SQLite. Values are bound as the server binds
    /// them, so a timestamp is stored in the server's own format on either database.
    pub fn statement(&self, sql: &str, values: Vec<sea_orm::Value>) -> Statement {
        let backend = self.db.get_database_backend();
        let sql = match backend {
            DbBackend::Sqlite => sql.replace('$', "?"),
            _ => sql.to_owned(),
        };
        Statement::from_sql_and_values(backend, sql, values)
    }

    /// Runs a statement on the test database behind the server's back (see
    /// [`TestApp::statement`]); how many rows it touched.
    pub async fn execute_sql(&self, sql: &str, values: Vec<sea_orm::Value>) -> u64 {
        self.db
            .execute_raw(self.statement(sql, values))
            .await
            .unwrap_or_else(|err| panic!("{sql}: {err}"))
            .rows_affected()
    }

    /// The rows of a query on the test database (see [`TestApp::statement`]).
    pub async fn query_sql(&self, sql: &str, values: Vec<sea_orm::Value>) -> Vec<QueryResult> {
        self.db
            .query_all_raw(self.statement(sql, values))
            .await
            .unwrap_or_else(|err| panic!("{sql}: {err}"))
    }

    /// A request to `path` on this server.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.address))
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path)
            .send()
            .await
            .expect("request sent")
    }

    /// `GET path` with a bearer token.
    pub async fn get_auth(&self, path: &str, token: &str) -> Response {
        self.request(Method::GET, path)
            .bearer_auth(token)
            .send()
            .await
            .expect("request sent")
    }

    /// `method path` with a JSON body and optional bearer token.
    pub async fn send_json(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: &Value,
    ) -> Response {
        let mut req = self.request(method, path).json(body);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        req.send().await.expect("request sent")
    }

    /// `POST path` with a JSON body.
    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.send_json(Method::POST, path, None, body).await
    }

    /// Logs in with JSON; panics unless 200. Returns the token pair body.
    pub async fn login(&self, identifier: &str, password: &str) -> Value {
        let res = self
            .post_json(
                "/api/v1/auth/login",
                &json!({"email": identifier, "password": password}),
            )
            .await;
        let (status, body) = json_of(res).await;
        assert_eq!(status, 200, "login of {identifier}: {body}");
        body
    }

    /// Registers `email` with [`USER_PASSWORD`] and logs in.
    pub async fn user(&self, email: &str) -> Account {
        let (status, body) = json_of(
            self.post_json(
                "/api/v1/auth/register",
                &json!({"email": email, "password": USER_PASSWORD}),
            )
            .await,
        )
        .await;
        assert_eq!(status, 201, "register {email}: {body}");
        let tokens = self.login(email, USER_PASSWORD).await;
        Account {
            id: body["id"].as_str().unwrap_or_default().to_owned(),
            email: email.to_owned(),
            access: tokens["access_token"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            refresh: tokens["refresh_token"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        }
    }

    /// The bootstrap admin, logged in.
    pub async fn admin(&self) -> Account {
        let tokens = self.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        let (_, me) = json_of(
            self.get_auth(
                "/api/v1/users/me",
                tokens["access_token"].as_str().unwrap_or_default(),
            )
            .await,
        )
        .await;
        Account {
            id: me["id"].as_str().unwrap_or_default().to_owned(),
            email: ADMIN_EMAIL.to_owned(),
            access: tokens["access_token"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            refresh: tokens["refresh_token"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        }
    }
}

/// The status and JSON body of a response.
pub async fn json_of(res: Response) -> (u16, Value) {
    let status = res.status().as_u16();
    let body = res.json::<Value>().await.unwrap_or(Value::Null);
    (status, body)
}

/// Asserts a problem+json error of `status` with code `error`, and returns its body.
pub async fn assert_problem(res: Response, status: u16, error: &str) -> Value {
    assert_eq!(res.status().as_u16(), status, "status");
    let content_type = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let request_id = res
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body: Value = res.json().await.expect("a JSON problem body");
    assert_eq!(body["status"], json!(status));
    assert_eq!(body["status_code"], json!(status));
    assert_eq!(body["error"], json!(error));
    assert_eq!(body["type"], json!("about:blank"));
    assert!(
        body["title"].as_str().is_some_and(|t| !t.is_empty()),
        "title: {body}"
    );
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "detail: {body}"
    );
    assert!(
        body["instance"]
            .as_str()
            .is_some_and(|i| i.starts_with('/')),
        "instance: {body}"
    );
    assert!(
        body["timestamp"]
            .as_str()
            .is_some_and(|t| chrono::DateTime::parse_from_rfc3339(t).is_ok()),
        "timestamp: {body}"
    );
    assert_eq!(
        body["request_id"].as_str(),
        Some(request_id.as_str()),
        "request_id matches the header"
    );
    if status == 422 {
        assert!(
            body["errors"].as_array().is_some_and(|e| !e.is_empty()),
            "errors: {body}"
        );
    } else {
        assert!(body.get("errors").is_none(), "errors only on 422: {body}");
    }
    body
}

/// The `field`s of a 422 body.
pub fn error_fields(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| e["field"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}
