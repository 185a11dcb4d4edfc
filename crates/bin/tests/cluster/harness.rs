//! The cluster under test, started the way an operator starts it: `deploy/cluster/run.sh`
//! (three `taskforge` instances, HAProxy, Redis) on free loopback ports, against a fresh
//! database on the PostgreSQL of `TEST_DATABASE_URL`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};

/// The password of every account the tests make.
pub const PASSWORD: &str = "cluster-password-1";

/// A running cluster; everything it started is stopped when it is dropped.
pub struct Cluster {
    script: Child,
    dir: PathBuf,
    /// `http://127.0.0.1:<port>` of the balancer.
    pub balancer: String,
    /// `http://127.0.0.1:<port>` of each instance, in start order.
    pub instances: Vec<String>,
    redis_port: u16,
    /// A Redis the test started itself after stopping the script's.
    restarted_redis: Option<Child>,
    admin_url: String,
    database: String,
    pub http: reqwest::Client,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The binaries the cluster needs, or why it cannot run here.
pub fn missing_tools() -> Vec<&'static str> {
    ["haproxy", "redis-server", "curl"]
        .into_iter()
        .filter(|tool| {
            let found = Command::new("sh")
                .args([
                    "-c",
                    &format!("command -v {tool} || test -x /usr/sbin/{tool}"),
                ])
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            !found
        })
        .collect()
}

impl Cluster {
    /// Starts the cluster on a fresh database next to `test_database_url`'s and waits
    /// until the balancer serves.
    pub async fn start(test_database_url: &str) -> Self {
        let (server, _) = test_database_url
            .rsplit_once('/')
            .expect("TEST_DATABASE_URL must end in /<database>");
        let database = format!("tf_cluster_{}", std::process::id());
        let admin_url = test_database_url.to_owned();
        let admin = Database::connect(&admin_url)
            .await
            .expect("connect to TEST_DATABASE_URL");
        admin
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
            .await
            .expect("drop a stale cluster database");
        admin
            .execute_unprepared(&format!("CREATE DATABASE {database}"))
            .await
            .expect("create the cluster database");
        admin.close().await.expect("close the admin connection");

        let dir = std::env::temp_dir().join(format!("taskforge-cluster-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("the cluster directory");
        let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let balancer_port = free_port();
        let redis_port = free_port();
        let script = Command::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../deploy/cluster/run.sh"
        ))
        .arg(format!("{server}/{database}"))
        .env("TASKFORGE_BIN", env!("CARGO_BIN_EXE_taskforge"))
        .env("CLUSTER_DIR", &dir)
        .env("BALANCER_PORT", balancer_port.to_string())
        .env(
            "INSTANCE_PORTS",
            ports
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(" "),
        )
        .env("REDIS_PORT", redis_port.to_string())
        .env_remove("REDIS_URL")
        .env_remove("DATABASE_URL")
        .env("BCRYPT_COST", "4")
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "warn")
        .env("REDIS_TIMEOUT_MS", "200")
        // A closed event stream is noticed, and gives its lease back, within a second.
        .env("EVENTS_HEARTBEAT_SECS", "1")
        .env("DB_MAX_CONNECTIONS", "5")
        .env("RATE_LIMIT_ENABLED", "true")
        .env("RATE_LIMIT_LOGIN_PER_MIN", "5")
        .env("RATE_LIMIT_REGISTER_PER_MIN", "1000")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("run.sh starts");
        let cluster = Self {
            script,
            balancer: format!("http://127.0.0.1:{balancer_port}"),
            instances: ports
                .iter()
                .map(|p| format!("http://127.0.0.1:{p}"))
                .collect(),
            dir,
            redis_port,
            restarted_redis: None,
            admin_url,
            database,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .expect("an HTTP client"),
        };
        let started = Instant::now();
        while !cluster.dir.join("ready").exists() {
            assert!(
                started.elapsed() < Duration::from_secs(90),
                "the cluster starts (logs in {})",
                cluster.dir.display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        cluster
    }

    /// The pid run.sh recorded for `name` (`instance-2`, `redis`, `haproxy`).
    fn pid(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(format!("{name}.pid")))
            .expect("a pid file")
            .trim()
            .to_owned()
    }

    fn signal(pid: &str, signal: &str) {
        let _ = Command::new("kill")
            .args([signal, pid])
            .stderr(Stdio::null())
            .status();
    }

    /// SIGKILLs instance `n` (1-based).
    pub fn kill_instance(&self, n: usize) {
        let name = format!("instance-{n}");
        Self::signal(&self.pid(&name), "-KILL");
        // Its pid is not ours any more: nothing signals it again.
        let _ = std::fs::remove_file(self.dir.join(format!("{name}.pid")));
    }

    /// Stops Redis (SIGKILL: an outage, not a goodbye).
    pub async fn stop_redis(&mut self) {
        match self.restarted_redis.take() {
            Some(mut child) => {
                let _ = child.kill();
                let _ = child.wait();
            }
            None => {
                Self::signal(&self.pid("redis"), "-KILL");
                let _ = std::fs::remove_file(self.dir.join("redis.pid"));
            }
        }
        // The port is free once the process is gone.
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.redis_port)).is_ok() {
            assert!(started.elapsed() < Duration::from_secs(5), "Redis stops");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Starts an empty Redis on the port of the one stopped.
    pub async fn restart_redis(&mut self) {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.redis_port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.restarted_redis = Some(child);
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.redis_port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(5), "Redis restarts");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Instance `n`'s log so far.
    pub fn log(&self, n: usize) -> String {
        std::fs::read_to_string(self.dir.join(format!("instance-{n}.log"))).unwrap_or_default()
    }

    /// `taskforge_rate_limit_shared` on `instance`.
    pub async fn shared_gauge(&self, instance: &str) -> String {
        let text = self
            .http
            .get(format!("{instance}/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics text");
        text.lines()
            .find_map(|l| l.strip_prefix("taskforge_rate_limit_shared "))
            .expect("the shared gauge")
            .to_owned()
    }

    /// A POST of `body` to `base` + `path` as the client at `ip` (X-Forwarded-For,
    /// which the instances believe from loopback: the balancer's address, and the
    /// test's).
    pub async fn post(&self, base: &str, path: &str, ip: &str, body: &Value) -> reqwest::Response {
        self.http
            .post(format!("{base}{path}"))
            .header("x-forwarded-for", ip)
            .json(body)
            .send()
            .await
            .expect("a response")
    }

    /// Registers `email` through the balancer.
    pub async fn register(&self, email: &str, ip: &str) {
        let res = self
            .post(
                &self.balancer,
                "/api/v1/auth/register",
                ip,
                &json!({"email": email, "password": PASSWORD}),
            )
            .await;
        assert_eq!(res.status(), 201, "register {email}");
    }

    /// Logs `email` in at `base`: the token pair.
    pub async fn login(&self, base: &str, email: &str, ip: &str) -> Value {
        let res = self
            .post(
                base,
                "/api/v1/auth/login",
                ip,
                &json!({"email": email, "password": PASSWORD}),
            )
            .await;
        assert_eq!(res.status(), 200, "login {email} at {base}");
        res.json().await.expect("tokens")
    }

    /// `GET /api/v1/users/me` at `base`: its status.
    pub async fn me(&self, base: &str, token: &str) -> u16 {
        self.http
            .get(format!("{base}/api/v1/users/me"))
            .bearer_auth(token)
            .send()
            .await
            .expect("a response")
            .status()
            .as_u16()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(mut redis) = self.restarted_redis.take() {
            let _ = redis.kill();
            let _ = redis.wait();
        }
        // run.sh stops what it started on SIGTERM; whatever is left (it was killed
        // first) is stopped by its pid file.
        Self::signal(&self.script.id().to_string(), "-TERM");
        let started = Instant::now();
        while matches!(self.script.try_wait(), Ok(None))
            && started.elapsed() < Duration::from_secs(15)
        {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.script.kill();
        let _ = self.script.wait();
        for name in ["haproxy", "redis", "instance-1", "instance-2", "instance-3"] {
            if let Ok(pid) = std::fs::read_to_string(self.dir.join(format!("{name}.pid"))) {
                Self::signal(pid.trim(), "-KILL");
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        // The database goes too, from a runtime of its own (drop may run inside the
        // test's runtime, which cannot be blocked on).
        let (admin_url, database) = (self.admin_url.clone(), self.database.clone());
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                if let Ok(admin) = Database::connect(&admin_url).await {
                    let _ = admin
                        .execute_unprepared(&format!(
                            "DROP DATABASE IF EXISTS {database} WITH (FORCE)"
                        ))
                        .await;
                }
            });
        })
        .join();
    }
}
