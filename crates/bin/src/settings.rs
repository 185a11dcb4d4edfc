//! Configuration: built-in defaults → optional `taskforge.toml` → `.env` → environment,
//! under the variable names FastAPI users know. Each value is parsed by hand so that a
//! bad one is reported as one line naming the variable.

use std::collections::HashMap;
use std::net::IpAddr;

use std::time::Duration;

use secrecy::SecretString;
use taskforge_api::streams::StreamSettings;
use taskforge_infra::db::Deadlines;
use taskforge_infra::password::HashingLimits;

mod accounts;
pub use accounts::AccountSettings;

/// A configuration error: which variable, and what is wrong with it.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {variable}: {message}")]
pub struct ConfigError {
    /// The variable at fault, as written in the environment (`PORT`).
    pub variable: String,
    /// What is wrong.
    pub message: String,
}

impl ConfigError {
    fn new(variable: &str, message: impl Into<String>) -> Self {
        Self {
            variable: variable.to_owned(),
            message: message.into(),
        }
    }
}

/// `development` or `production`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppEnv {
    /// Ephemeral JWT secret allowed (with a warning).
    Development,
    /// A ≥ 32-byte `JWT_SECRET_KEY` is required.
    Production,
}

/// Whether PostgreSQL requests take the fast path (`DB_FAST_PATH`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FastPath {
    /// On PostgreSQL: kept connections and batched statements, one pool per HTTP worker
    /// (see `taskforge_infra::postgres`). SQLite has no fast path.
    Auto,
    /// The plain SeaORM adapters on one shared pool, on every database.
    Off,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable.
    Pretty,
}

/// Every setting, parsed and checked.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `APP_ENV`.
    pub app_env: AppEnv,
    /// `HOST`.
    pub host: String,
    /// `PORT` (0 picks a free port).
    pub port: u16,
    /// `DATABASE_URL`.
    pub database_url: String,
    /// `DB_MAX_CONNECTIONS`.
    pub db_max_connections: u32,
    /// `DB_FAST_PATH`.
    pub db_fast_path: FastPath,
    /// `DB_STATEMENT_TIMEOUT_MS`, `DB_LOCK_TIMEOUT_MS`, `DB_ACQUIRE_TIMEOUT_MS`,
    /// `DB_KEEPALIVE_SECS`.
    pub db_deadlines: Deadlines,
    /// `REQUEST_TIMEOUT_MS`: the most a request may take before it answers 503.
    pub request_timeout: Duration,
    /// `HASH_QUEUE_CAPACITY`, `HASH_QUEUE_TIMEOUT_MS`, `HASH_RESCUE_AFTER_MS`.
    pub hashing: HashingLimits,
    /// `SHUTDOWN_DRAIN_MS`: after SIGTERM, how long the server keeps serving (answering
    /// `Connection: close`, readiness 503) before it stops accepting.
    pub shutdown_drain: Duration,
    /// `SHUTDOWN_TIMEOUT_SECS`: how long in-flight requests get to finish after that.
    pub shutdown_timeout: Duration,
    /// `CHANGE_LOG_RETENTION_DAYS`: how long the task change log keeps its events.
    pub change_log_retention: chrono::Duration,
    /// `PURGE_INTERVAL_SECS`: how often dead sessions, old changes and expired
    /// idempotency keys are deleted.
    pub purge_interval: Duration,
    /// `EVENTS_HEARTBEAT_SECS`, `EVENTS_MAX_STREAMS_PER_USER`.
    pub streams: StreamSettings,
    /// `AUTO_MIGRATE`.
    pub auto_migrate: bool,
    /// `JWT_SECRET_KEY`, or a random one (development only).
    pub jwt_secret_key: SecretString,
    /// Whether `jwt_secret_key` was generated for this process.
    pub jwt_secret_is_ephemeral: bool,
    /// `JWT_ALGORITHM`.
    pub jwt_algorithm: String,
    /// `ACCESS_TOKEN_EXPIRE_MINUTES`.
    pub access_token_expire_minutes: i64,
    /// `REFRESH_TOKEN_EXPIRE_DAYS`.
    pub refresh_token_expire_days: i64,
    /// `BCRYPT_COST`.
    pub bcrypt_cost: u32,
    /// `ALLOWED_ORIGINS`.
    pub allowed_origins: Vec<String>,
    /// `MAX_BODY_BYTES`.
    pub max_body_bytes: usize,
    /// `MAX_EXACT_COUNT`: a list's total is exact up to this many matches.
    pub max_exact_count: u64,
    /// `RATE_LIMIT_ENABLED`.
    pub rate_limit_enabled: bool,
    /// `RATE_LIMIT_LOGIN_PER_MIN`.
    pub rate_limit_login_per_min: u32,
    /// `RATE_LIMIT_REGISTER_PER_MIN`.
    pub rate_limit_register_per_min: u32,
    /// `RATE_LIMIT_REFRESH_PER_MIN`.
    pub rate_limit_refresh_per_min: u32,
    /// `RATE_LIMIT_LOGOUT_PER_MIN`.
    pub rate_limit_logout_per_min: u32,
    /// `TRUSTED_PROXIES`.
    pub trusted_proxies: Vec<IpAddr>,
    /// `REDIS_URL`: rate-limit counters shared by every instance; per instance when unset.
    /// May hold a password: never logged.
    pub redis_url: Option<SecretString>,
    /// `REDIS_TIMEOUT_MS`: the most a rate-limited request waits for Redis before it is
    /// counted by this instance alone.
    pub redis_timeout: Duration,
    /// `LOG_FORMAT` (default: JSON unless stdout is a terminal).
    pub log_format: Option<LogFormat>,
    /// `FIRST_ADMIN_EMAIL` and `FIRST_ADMIN_PASSWORD`.
    pub first_admin: Option<(String, SecretString)>,
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`: where spans go (OTLP/HTTP); none exported when unset.
    pub otlp_endpoint: Option<String>,
    /// `OTEL_SERVICE_NAME`: the `service.name` of exported spans.
    pub otel_service_name: String,
    /// Mail, password reset and the per-account login throttle.
    pub accounts: AccountSettings,
}

/// The raw merged values, keyed by upper-case variable name.
struct Raw(HashMap<String, String>);

impl Raw {
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }

    fn string(&self, name: &str, default: &str) -> String {
        self.get(name).unwrap_or(default).trim().to_owned()
    }

    fn number<T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy>(
        &self,
        name: &str,
        default: T,
        min: T,
        max: T,
    ) -> Result<T, ConfigError> {
        let Some(raw) = self.get(name) else {
            return Ok(default);
        };
        let range = || format!("must be a whole number from {min} to {max}, got {raw:?}");
        let value: T = raw
            .trim()
            .parse()
            .map_err(|_| ConfigError::new(name, range()))?;
        if value < min || value > max {
            return Err(ConfigError::new(name, range()));
        }
        Ok(value)
    }

    fn boolean(&self, name: &str, default: bool) -> Result<bool, ConfigError> {
        match self.get(name).map(|v| v.trim().to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) if ["true", "1", "yes", "on"].contains(&v.as_str()) => Ok(true),
            Some(v) if ["false", "0", "no", "off"].contains(&v.as_str()) => Ok(false),
            Some(v) => Err(ConfigError::new(
                name,
                format!("must be true or false, got {v:?}"),
            )),
        }
    }

    fn list(&self, name: &str) -> Vec<String> {
        self.get(name)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Settings {
    /// Loads `taskforge.toml` (if present), `.env` (if present) and the environment.
    ///
    /// # Errors
    /// [`ConfigError`] naming the first bad variable.
    pub fn load() -> Result<Self, ConfigError> {
        // `.env` never overrides the real environment.
        let _ = dotenvy::dotenv();
        let merged = config::Config::builder()
            .add_source(config::File::with_name("taskforge").required(false))
            .add_source(config::Environment::default())
            .build()
            .map_err(|e| ConfigError::new("taskforge.toml", e.to_string()))?;
        let table = merged
            .try_deserialize::<HashMap<String, config::Value>>()
            .map_err(|e| ConfigError::new("taskforge.toml", e.to_string()))?;
        let raw = table
            .into_iter()
            .filter_map(|(k, v)| v.into_string().ok().map(|v| (k.to_ascii_uppercase(), v)))
            .collect();
        Self::from_map(raw)
    }

    /// Parses settings from upper-case variable names (tests use this directly).
    ///
    /// # Errors
    /// [`ConfigError`] naming the first bad variable.
    pub fn from_map(vars: HashMap<String, String>) -> Result<Self, ConfigError> {
        let raw = Raw(vars);
        let app_env = match raw
            .string("APP_ENV", "development")
            .to_ascii_lowercase()
            .as_str()
        {
            "development" | "dev" => AppEnv::Development,
            "production" | "prod" => AppEnv::Production,
            other => {
                return Err(ConfigError::new(
                    "APP_ENV",
                    format!("must be development or production, got {other:?}"),
                ));
            }
        };
        let (jwt_secret_key, jwt_secret_is_ephemeral) = match raw.get("JWT_SECRET_KEY") {
            Some(secret) if app_env == AppEnv::Production && secret.len() < 32 => {
                return Err(ConfigError::new(
                    "JWT_SECRET_KEY",
                    "must be at least 32 bytes in production",
                ));
            }
            Some(secret) => (SecretString::from(secret.to_owned()), false),
            None if app_env == AppEnv::Production => {
                return Err(ConfigError::new(
                    "JWT_SECRET_KEY",
                    "is required in production (at least 32 bytes)",
                ));
            }
            None => (SecretString::from(ephemeral_secret()), true),
        };
        let jwt_algorithm = raw.string("JWT_ALGORITHM", "HS256").to_ascii_uppercase();
        if !["HS256", "HS384", "HS512"].contains(&jwt_algorithm.as_str()) {
            return Err(ConfigError::new(
                "JWT_ALGORITHM",
                "must be HS256, HS384 or HS512",
            ));
        }
        let db_fast_path = match raw
            .string("DB_FAST_PATH", "auto")
            .to_ascii_lowercase()
            .as_str()
        {
            "auto" => FastPath::Auto,
            "off" => FastPath::Off,
            other => {
                return Err(ConfigError::new(
                    "DB_FAST_PATH",
                    format!("must be auto or off, got {other:?}"),
                ));
            }
        };
        let log_format = match raw.get("LOG_FORMAT").map(|v| v.trim().to_ascii_lowercase()) {
            None => None,
            Some(v) if v == "json" => Some(LogFormat::Json),
            Some(v) if v == "pretty" => Some(LogFormat::Pretty),
            Some(v) => {
                return Err(ConfigError::new(
                    "LOG_FORMAT",
                    format!("must be json or pretty, got {v:?}"),
                ));
            }
        };
        let trusted_proxies = raw
            .list("TRUSTED_PROXIES")
            .iter()
            .map(|ip| {
                ip.parse::<IpAddr>().map_err(|_| {
                    ConfigError::new("TRUSTED_PROXIES", format!("{ip:?} is not an IP address"))
                })
            })
            .collect::<Result<_, _>>()?;
        let allowed_origins = raw.list("ALLOWED_ORIGINS");
        if let Some(bad) = allowed_origins
            .iter()
            .find(|o| !(o.starts_with("http://") || o.starts_with("https://")) || o.ends_with('/'))
        {
            return Err(ConfigError::new(
                "ALLOWED_ORIGINS",
                format!("{bad:?} is not an origin like https://app.example.com"),
            ));
        }
        let first_admin = match (
            raw.get("FIRST_ADMIN_EMAIL"),
            raw.get("FIRST_ADMIN_PASSWORD"),
        ) {
            (Some(email), Some(password)) => Some((
                email.trim().to_owned(),
                SecretString::from(password.to_owned()),
            )),
            (None, None) => None,
            (Some(_), None) => {
                return Err(ConfigError::new(
                    "FIRST_ADMIN_PASSWORD",
                    "is required with FIRST_ADMIN_EMAIL",
                ));
            }
            (None, Some(_)) => {
                return Err(ConfigError::new(
                    "FIRST_ADMIN_EMAIL",
                    "is required with FIRST_ADMIN_PASSWORD",
                ));
            }
        };
        let otlp_endpoint = raw
            .get("OTEL_EXPORTER_OTLP_ENDPOINT")
            .map(|v| v.trim().to_owned());
        if let Some(bad) = otlp_endpoint
            .as_ref()
            .filter(|e| !(e.starts_with("http://") || e.starts_with("https://")))
        {
            return Err(ConfigError::new(
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                format!("{bad:?} is not an http(s) URL like http://collector:4318"),
            ));
        }
        let redis_url = raw
            .get("REDIS_URL")
            .map(str::trim)
            .filter(|u| !u.is_empty());
        if redis_url.is_some_and(|u| !u.starts_with("redis://")) {
            // The value is not echoed: it may carry a password.
            return Err(ConfigError::new(
                "REDIS_URL",
                "must be a redis:// URL like redis://127.0.0.1:6379/0".to_owned(),
            ));
        }
        let redis_url = redis_url.map(|u| SecretString::from(u.to_owned()));
        Ok(Self {
            app_env,
            host: raw.string("HOST", "127.0.0.1"),
            port: raw.number("PORT", 8000, 0, u16::MAX)?,
            database_url: raw.string("DATABASE_URL", "sqlite://taskforge.db"),
            db_max_connections: raw.number("DB_MAX_CONNECTIONS", 10, 1, 1000)?,
            db_fast_path,
            db_deadlines: Deadlines {
                statement: millis(raw.number("DB_STATEMENT_TIMEOUT_MS", 5_000, 100, 600_000)?),
                lock: millis(raw.number("DB_LOCK_TIMEOUT_MS", 2_000, 10, 600_000)?),
                acquire: millis(raw.number("DB_ACQUIRE_TIMEOUT_MS", 3_000, 100, 600_000)?),
                keepalive: Duration::from_secs(raw.number("DB_KEEPALIVE_SECS", 30, 1, 7_200)?),
            },
            request_timeout: millis(raw.number("REQUEST_TIMEOUT_MS", 15_000, 100, 3_600_000)?),
            hashing: HashingLimits {
                capacity: raw.number("HASH_QUEUE_CAPACITY", 64, 1, 100_000)?,
                queue_timeout: millis(raw.number("HASH_QUEUE_TIMEOUT_MS", 10_000, 100, 600_000)?),
                rescue_after: millis(raw.number("HASH_RESCUE_AFTER_MS", 1_000, 10, 600_000)?),
            },
            shutdown_drain: millis(raw.number("SHUTDOWN_DRAIN_MS", 1_000, 0, 600_000)?),
            shutdown_timeout: Duration::from_secs(raw.number(
                "SHUTDOWN_TIMEOUT_SECS",
                20,
                1,
                3_600,
            )?),
            change_log_retention: chrono::Duration::days(raw.number(
                "CHANGE_LOG_RETENTION_DAYS",
                30,
                1,
                3650,
            )?),
            purge_interval: Duration::from_secs(raw.number(
                "PURGE_INTERVAL_SECS",
                600,
                1,
                86_400,
            )?),
            streams: StreamSettings {
                heartbeat: Duration::from_secs(raw.number("EVENTS_HEARTBEAT_SECS", 15, 1, 300)?),
                max_per_user: raw.number("EVENTS_MAX_STREAMS_PER_USER", 5, 1, 10_000)?,
            },
            auto_migrate: raw.boolean("AUTO_MIGRATE", true)?,
            jwt_secret_key,
            jwt_secret_is_ephemeral,
            jwt_algorithm,
            access_token_expire_minutes: raw.number(
                "ACCESS_TOKEN_EXPIRE_MINUTES",
                30,
                1,
                525_600,
            )?,
            refresh_token_expire_days: raw.number("REFRESH_TOKEN_EXPIRE_DAYS", 7, 1, 3650)?,
            bcrypt_cost: raw.number("BCRYPT_COST", 12, 4, 31)?,
            allowed_origins,
            max_body_bytes: raw.number("MAX_BODY_BYTES", 65_536, 1, 1 << 30)?,
            max_exact_count: raw.number("MAX_EXACT_COUNT", 10_000, 1, 10_000_000)?,
            rate_limit_enabled: raw.boolean("RATE_LIMIT_ENABLED", true)?,
            rate_limit_login_per_min: raw.number("RATE_LIMIT_LOGIN_PER_MIN", 5, 1, 1_000_000)?,
            rate_limit_register_per_min: raw.number(
                "RATE_LIMIT_REGISTER_PER_MIN",
                5,
                1,
                1_000_000,
            )?,
            rate_limit_refresh_per_min: raw.number(
                "RATE_LIMIT_REFRESH_PER_MIN",
                10,
                1,
                1_000_000,
            )?,
            rate_limit_logout_per_min: raw.number("RATE_LIMIT_LOGOUT_PER_MIN", 10, 1, 1_000_000)?,
            trusted_proxies,
            redis_url,
            redis_timeout: millis(raw.number("REDIS_TIMEOUT_MS", 250, 10, 60_000)?),
            log_format,
            first_admin,
            otlp_endpoint,
            otel_service_name: raw.string("OTEL_SERVICE_NAME", "taskforge"),
            accounts: AccountSettings::parse(&raw)?,
        })
    }
}

/// A whole number of milliseconds as a duration.
fn millis(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

/// 256 random bits for a development secret that dies with the process.
fn ephemeral_secret() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        Settings::from_map(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn no_configuration_gives_the_documented_defaults() {
        let s = settings(&[]).unwrap();
        assert_eq!((s.host.as_str(), s.port), ("127.0.0.1", 8000));
        assert_eq!(s.database_url, "sqlite://taskforge.db");
        assert!(s.jwt_secret_is_ephemeral);
        assert_eq!(
            (
                s.access_token_expire_minutes,
                s.refresh_token_expire_days,
                s.bcrypt_cost
            ),
            (30, 7, 12)
        );
        assert_eq!(s.max_body_bytes, 65_536);
        assert!(s.rate_limit_enabled && s.auto_migrate);
        assert_eq!(
            (
                s.rate_limit_login_per_min,
                s.rate_limit_register_per_min,
                s.rate_limit_refresh_per_min,
                s.rate_limit_logout_per_min
            ),
            (5, 5, 10, 10)
        );
        assert!(s.allowed_origins.is_empty() && s.trusted_proxies.is_empty());
        assert_eq!((s.db_max_connections, s.db_fast_path), (10, FastPath::Auto));
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        for (var, value) in [
            ("PORT", "eighty"),
            ("PORT", "70000"),
            ("BCRYPT_COST", "3"),
            ("RATE_LIMIT_ENABLED", "maybe"),
            ("LOG_FORMAT", "xml"),
            ("APP_ENV", "staging"),
            ("JWT_ALGORITHM", "none"),
            ("DB_FAST_PATH", "on"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318"),
            ("DB_STATEMENT_TIMEOUT_MS", "0"),
            ("REQUEST_TIMEOUT_MS", "soon"),
            ("HASH_QUEUE_CAPACITY", "0"),
            ("TRUSTED_PROXIES", "10.0.0.1,proxy"),
            ("ALLOWED_ORIGINS", "*"),
            ("REDIS_URL", "http://:secret@cache:6379"),
            ("REDIS_TIMEOUT_MS", "0"),
        ] {
            let err = settings(&[(var, value)]).unwrap_err();
            assert_eq!(err.variable, var, "{value}");
        }
    }

    #[test]
    fn production_requires_a_long_secret() {
        assert_eq!(
            settings(&[("APP_ENV", "production")]).unwrap_err().variable,
            "JWT_SECRET_KEY"
        );
        let short = settings(&[("APP_ENV", "production"), ("JWT_SECRET_KEY", "short")]);
        assert_eq!(short.unwrap_err().variable, "JWT_SECRET_KEY");
        let ok = settings(&[
            ("APP_ENV", "production"),
            ("JWT_SECRET_KEY", &"k".repeat(32)),
        ])
        .unwrap();
        assert!(!ok.jwt_secret_is_ephemeral);
    }

    #[test]
    fn redis_is_optional_and_its_url_never_echoed() {
        let none = settings(&[]).unwrap();
        assert!(none.redis_url.is_none());
        assert_eq!(none.redis_timeout, Duration::from_millis(250));
        let set = settings(&[("REDIS_URL", " redis://:pw@cache:6379/2 ")]).unwrap();
        assert_eq!(
            set.redis_url.as_ref().map(|u| u.expose_secret()),
            Some("redis://:pw@cache:6379/2")
        );
        let err = settings(&[("REDIS_URL", "http://:secret@cache:6379")]).unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
    }
}
