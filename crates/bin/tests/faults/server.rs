//! The server under test: the `taskforge` binary, as an operator runs it.

use std::collections::HashMap;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// A running `taskforge serve`, killed when dropped if still running.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    pub http: reqwest::Client,
}

/// The settings every fault test starts from: fast hashing, no rate limits, short
/// deadlines so that faults show within seconds.
pub fn settings(database_url: &str) -> HashMap<&'static str, String> {
    HashMap::from([
        ("DATABASE_URL", database_url.to_owned()),
        ("BCRYPT_COST", "4".to_owned()),
        ("RATE_LIMIT_ENABLED", "false".to_owned()),
        ("LOG_FORMAT", "json".to_owned()),
        ("RUST_LOG", "warn".to_owned()),
        (
            "JWT_SECRET_KEY",
            "fault-tests-secret-fault-tests-secret".to_owned(),
        ),
        ("DB_MAX_CONNECTIONS", "10".to_owned()),
        ("DB_ACQUIRE_TIMEOUT_MS", "1000".to_owned()),
        ("DB_STATEMENT_TIMEOUT_MS", "2000".to_owned()),
        ("DB_LOCK_TIMEOUT_MS", "1000".to_owned()),
        ("REQUEST_TIMEOUT_MS", "5000".to_owned()),
    ])
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

impl Server {
    /// Starts the binary with `env` and waits until it answers `/health`.
    pub async fn start(env: &HashMap<&'static str, String>) -> Self {
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_taskforge"))
            .env_clear()
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("PORT", port.to_string())
            .current_dir(std::env::temp_dir())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the binary starts");
        let server = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("an HTTP client"),
        };
        let started = Instant::now();
        while server
            .http
            .get(format!("{}/health", server.base))
            .send()
            .await
            .is_err()
        {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the server starts"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        server
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Its address and HTTP client, for a background task.
    pub fn client(&self) -> Client {
        Client {
            base: self.base.clone(),
            http: self.http.clone(),
        }
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "SIGTERM sent");
    }

    /// Waits for the process to exit, at most `limit`.
    pub async fn exited_within(&mut self, limit: Duration) -> Option<ExitStatus> {
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if started.elapsed() > limit {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Registers `name@example.com` and logs in: the access token.
    pub async fn user(&self, name: &str) -> String {
        let credentials =
            json!({"email": format!("{name}@example.com"), "password": "fault-password-1"});
        let registered = self
            .http
            .post(self.url("/api/v1/auth/register"))
            .json(&credentials)
            .send()
            .await
            .expect("register");
        assert_eq!(registered.status(), 201, "register {name}");
        let tokens: Value = self
            .http
            .post(self.url("/api/v1/auth/login"))
            .json(&credentials)
            .send()
            .await
            .expect("login")
            .json()
            .await
            .expect("tokens");
        tokens["access_token"]
            .as_str()
            .expect("an access token")
            .to_owned()
    }

    /// Creates a task for the token's user: its id.
    pub async fn task(&self, token: &str, title: &str) -> String {
        let created: Value = self
            .http
            .post(self.url("/api/v1/tasks"))
            .bearer_auth(token)
            .json(&json!({"title": title}))
            .send()
            .await
            .expect("create a task")
            .json()
            .await
            .expect("a task");
        created["id"].as_str().expect("a task id").to_owned()
    }
}

/// What a background writer needs of a [`Server`]: its address and an HTTP client.
pub struct Client {
    pub base: String,
    pub http: reqwest::Client,
}

impl Client {
    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
