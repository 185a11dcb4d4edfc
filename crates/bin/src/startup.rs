//! Wiring and lifecycle: connect, migrate, build the services, bind, serve, shut down.

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use actix_web::HttpServer;
use actix_web::dev::Server;
use async_trait::async_trait;
use sea_orm::DatabaseConnection;
use sea_orm_migration::MigratorTrait;
use secrecy::ExposeSecret;
use taskforge_api::rate_limit::{Counters, RateLimitSettings, RateLimits, SharedLink};
use taskforge_api::streams::Streams;
use taskforge_api::{AppState, DatabaseProbe, HttpSettings, Lifecycle, Metrics, PoolStats};
use taskforge_domain::auth::{
    AuthService, LoginThrottleRepository, PasswordResetRepository, PasswordResetService,
    ResetSettings, SessionRepository, TokenLifetimes,
};
use taskforge_domain::clock::Clock;
use taskforge_domain::idempotency::IdempotencyRepository;
use taskforge_domain::ids::IdSource;
use taskforge_domain::mail::Mailer;
use taskforge_domain::task::{TaskChangeLog, TaskEvents, TaskRepository, TaskService};
use taskforge_domain::user::{Email, Password, UserRepository, UserService};
use taskforge_infra::db::{Database, Deadlines};
use taskforge_infra::live::LiveChanges;
use taskforge_infra::mail::{self as infra_mail, QueueSettings};
use taskforge_infra::postgres::{self, FastPath};
use taskforge_infra::{
    BcryptHasher, JwtTokenService, RandomTokens, SeaIdempotencyRepository, SeaLoginThrottle,
    SeaPasswordResetRepository, SeaSessionRepository, SeaTaskChangeLog, SeaTaskRepository,
    SeaUserRepository, SystemClock, TimeOrderedIds,
};
use taskforge_migration::Migrator;

use crate::settings::{self, Settings};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The database could not be opened.
    #[error("cannot connect to the database: {0}")]
    Database(#[source] sea_orm::DbErr),
    /// Migrations failed.
    #[error("cannot apply migrations: {0}")]
    Migration(#[source] sea_orm::DbErr),
    /// The listener could not be bound.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// `host:port`.
        address: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A setting was refused by a component.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The first-admin bootstrap failed.
    #[error("cannot create the first admin: {0}")]
    Bootstrap(String),
    /// The metrics registry refused a metric.
    #[error("cannot set up metrics: {0}")]
    Metrics(String),
}

/// The domain services over their adapters.
pub struct Services {
    /// Sessions and tokens.
    pub auth: Arc<AuthService>,
    /// Accounts.
    pub users: Arc<UserService>,
    /// Tasks.
    pub tasks: Arc<TaskService>,
    /// Password reset by mail.
    pub resets: Arc<PasswordResetService>,
}

/// The limits kept in Redis when `REDIS_URL` is set (rate limits and event streams,
/// each falling back to this instance's own count while Redis cannot be reached), else
/// this instance's own.
///
/// # Errors
/// [`StartupError::Config`] when `REDIS_URL` is not a usable Redis URL.
fn shared_limits(
    settings: &Settings,
    metrics: &Metrics,
) -> Result<(Counters, Streams), StartupError> {
    let Some(url) = &settings.redis_url else {
        return Ok((Counters::local(), Streams::new(settings.streams)));
    };
    let store = Arc::new(
        crate::shared_limits::RedisCounters::new(url.expose_secret(), settings.redis_timeout)
            .map_err(|e| StartupError::Config(format!("REDIS_URL: {e}")))?,
    );
    let link = Arc::new(SharedLink::new(
        settings.redis_timeout,
        metrics.rate_limits(),
    ));
    tracing::info!("rate limits and event stream limits: shared in Redis");
    Ok((
        Counters::shared(store.clone(), link.clone()),
        Streams::shared(settings.streams, store, link),
    ))
}

/// Connects to the database and applies pending migrations when `AUTO_MIGRATE` is on.
///
/// # Errors
/// [`StartupError::Database`] or [`StartupError::Migration`].
pub async fn open_database(settings: &Settings) -> Result<DatabaseConnection, StartupError> {
    open_database_with(settings, settings.db_max_connections).await
}

async fn open_database_with(
    settings: &Settings,
    max_connections: u32,
) -> Result<DatabaseConnection, StartupError> {
    // Migrations run on a connection of their own, without the requests' deadlines;
    // but an in-memory SQLite database is one per connection, so it is migrated on
    // the pool itself (it starts empty: its migrations are quick).
    let memory = taskforge_infra::db::is_sqlite_memory(&settings.database_url);
    if settings.auto_migrate && !memory {
        migrate_up(settings).await?;
    }
    let db = taskforge_infra::db::connect_with(
        &settings.database_url,
        max_connections,
        &settings.db_deadlines,
    )
    .await
    .map_err(StartupError::Database)?;
    if settings.auto_migrate && memory {
        Migrator::up(&db, None)
            .await
            .map_err(StartupError::Migration)?;
    }
    Ok(db)
}

/// Applies pending migrations on a connection of their own, without the requests'
/// deadlines (building an index over a large table may rightly take minutes).
///
/// # Errors
/// [`StartupError::Database`] or [`StartupError::Migration`].
pub async fn migrate_up(settings: &Settings) -> Result<(), StartupError> {
    let db = connect_for_migrations(settings).await?;
    Migrator::up(&db, None)
        .await
        .map_err(StartupError::Migration)?;
    db.close().await.map_err(StartupError::Database)
}

/// A one-connection pool for schema changes (see [`migrate_up`]).
///
/// # Errors
/// [`StartupError::Database`].
pub async fn connect_for_migrations(
    settings: &Settings,
) -> Result<DatabaseConnection, StartupError> {
    taskforge_infra::db::connect_with(&settings.database_url, 1, &Deadlines::for_migrations())
        .await
        .map_err(StartupError::Database)
}

/// The adapters that hold no connection, built once and shared by the services of
/// every pool: the hasher owns a thread pool and a dummy hash made at start-up.
#[derive(Clone)]
pub struct Adapters {
    hasher: Arc<BcryptHasher>,
    tokens: Arc<JwtTokenService>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdSource>,
    lifetimes: TokenLifetimes,
    /// The mail queue (one per process; none for one-off commands or with mail off).
    mailer: Option<Arc<dyn Mailer>>,
    reset: ResetSettings,
    login_throttle: bool,
    max_exact_count: u64,
    /// The longest a task write may still land after its request started.
    writes_land_within: Duration,
}

/// Builds the hasher, the token service and the clock from the settings.
///
/// # Errors
/// [`StartupError::Config`] when the bcrypt cost or the JWT algorithm is refused.
pub fn build_adapters(settings: &Settings) -> Result<Adapters, StartupError> {
    Ok(Adapters {
        hasher: Arc::new(
            BcryptHasher::new(settings.bcrypt_cost, settings.hashing)
                .map_err(StartupError::Config)?,
        ),
        tokens: Arc::new(
            JwtTokenService::new(
                settings.jwt_secret_key.expose_secret().as_bytes(),
                &settings.jwt_algorithm,
            )
            .map_err(StartupError::Config)?,
        ),
        clock: Arc::new(SystemClock),
        ids: Arc::new(TimeOrderedIds),
        lifetimes: TokenLifetimes {
            access_secs: settings.access_token_expire_minutes * 60,
            refresh_secs: settings.refresh_token_expire_days * 86_400,
        },
        mailer: None,
        reset: settings.accounts.reset.clone(),
        login_throttle: settings.accounts.login_throttle_enabled,
        max_exact_count: settings.max_exact_count,
        // A write starts only while its request waits (a batch leaves out the keys of
        // requesters that gave up), so it lands within the request's deadline, then
        // one statement of a batch that took it just before: a wait for a connection,
        // and the statement under the client's bound (a little over its deadline).
        writes_land_within: settings.request_timeout
            + settings.db_deadlines.acquire
            + 2 * settings.db_deadlines.statement,
    })
}

/// The repositories one set of services runs on.
#[derive(Clone)]
pub struct Repositories {
    users: Arc<dyn UserRepository>,
    tasks: Arc<dyn TaskRepository>,
    sessions: Arc<dyn SessionRepository>,
    changes: Arc<dyn TaskChangeLog>,
    idempotency: Arc<dyn IdempotencyRepository>,
    resets: Arc<dyn PasswordResetRepository>,
    throttle: Arc<dyn LoginThrottleRepository>,
}

impl Repositories {
    /// The plain SeaORM adapters on `db`: one statement per call, on either database.
    pub fn plain(db: &Database) -> Self {
        Self {
            users: Arc::new(SeaUserRepository::new(db.clone())),
            tasks: Arc::new(SeaTaskRepository::new(db.clone())),
            sessions: Arc::new(SeaSessionRepository::new(db.clone())),
            changes: Arc::new(SeaTaskChangeLog::new(db.clone())),
            idempotency: Arc::new(SeaIdempotencyRepository::new(db.clone())),
            resets: Arc::new(SeaPasswordResetRepository::new(db.clone())),
            throttle: Arc::new(SeaLoginThrottle::new(db.clone())),
        }
    }

    /// The PostgreSQL fast path on `db`, a pool from [`postgres::request_pool`].
    pub fn fast_path(db: &Database) -> Self {
        let fast = FastPath::new(db);
        Self {
            users: Arc::new(SeaUserRepository::new(db.clone())),
            tasks: Arc::new(fast.tasks()),
            sessions: Arc::new(fast.sessions()),
            changes: Arc::new(SeaTaskChangeLog::new(db.clone())),
            idempotency: Arc::new(SeaIdempotencyRepository::new(db.clone())),
            resets: Arc::new(SeaPasswordResetRepository::new(db.clone())),
            throttle: Arc::new(SeaLoginThrottle::new(db.clone())),
        }
    }
}

/// The domain services over `repositories` and the shared adapters.
pub fn services_over(adapters: &Adapters, repositories: &Repositories) -> Services {
    let Repositories {
        users,
        tasks,
        sessions,
        changes,
        idempotency,
        resets,
        throttle,
    } = repositories.clone();
    let Adapters {
        hasher,
        tokens,
        clock,
        ids,
        lifetimes,
        mailer,
        reset,
        login_throttle,
        max_exact_count,
        writes_land_within,
    } = adapters.clone();
    let auth = AuthService::new(
        users.clone(),
        sessions,
        hasher.clone(),
        tokens,
        clock.clone(),
        ids.clone(),
        lifetimes,
    );
    Services {
        auth: Arc::new(if login_throttle {
            auth.with_login_throttle(throttle)
        } else {
            auth
        }),
        resets: Arc::new(PasswordResetService::new(
            users.clone(),
            resets,
            hasher.clone(),
            Arc::new(RandomTokens),
            mailer,
            clock.clone(),
            reset,
        )),
        users: Arc::new(
            UserService::new(users.clone(), hasher, clock.clone(), ids.clone())
                .with_max_exact_count(max_exact_count),
        ),
        tasks: Arc::new(
            TaskService::new(tasks, users, changes, idempotency, clock, ids)
                .with_max_exact_count(max_exact_count)
                .with_writes_landing_within(writes_land_within),
        ),
    }
}

/// Builds the domain services over the plain SeaORM adapters, bcrypt and JWT (the
/// command line's one-off tasks).
///
/// # Errors
/// [`StartupError::Config`] when the bcrypt cost or the JWT algorithm is refused.
pub fn build_services(
    settings: &Settings,
    db: &DatabaseConnection,
) -> Result<Services, StartupError> {
    Ok(services_over(
        &build_adapters(settings)?,
        &Repositories::plain(&db.clone().into()),
    ))
}

/// The fast path's request pools, one per HTTP worker (see
/// [`postgres::request_pool`]), sharing `DB_MAX_CONNECTIONS` between them: fewer pools
/// than workers when there are fewer than two connections per worker (workers then
/// share pools).
async fn request_pools(settings: &Settings, workers: usize) -> Result<Vec<Database>, StartupError> {
    let mut pools = Vec::new();
    for size in postgres::split_connections(settings.db_max_connections, workers) {
        let pool = postgres::request_pool(&settings.database_url, size, &settings.db_deadlines)
            .await
            .map_err(StartupError::Database)?;
        pools.push(pool);
    }
    Ok(pools)
}

/// The HTTP worker threads: one per core, as actix-web's default.
fn http_workers() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

/// Connections of the pool for start-up, readiness and the session purge when the
/// requests have pools of their own (PostgreSQL).
const BACKGROUND_CONNECTIONS: u32 = 2;

/// Password reset requests worked on at once after their 202 (each holds a database
/// connection for a moment); more are answered 503.
const RESET_JOBS: usize = 64;

/// Makes `email` an active admin (creating it with `password` if needed).
///
/// # Errors
/// [`StartupError::Bootstrap`] for an invalid email or password, or a storage failure.
pub async fn ensure_admin(
    services: &Services,
    email: &str,
    password: &str,
) -> Result<(), StartupError> {
    let email = Email::parse(email).map_err(|e| StartupError::Bootstrap(describe(e)))?;
    let password = Password::parse(password).map_err(|e| StartupError::Bootstrap(describe(e)))?;
    services
        .users
        .ensure_admin(email, password)
        .await
        .map(|_| ())
        .map_err(|e| StartupError::Bootstrap(describe(e)))
}

fn describe(err: taskforge_domain::DomainError) -> String {
    match err {
        taskforge_domain::DomainError::Validation(errors) => errors
            .iter()
            .map(|e| format!("{} {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}

/// The readiness probe over the background pool, and the statistics of the request
/// pools.
struct PoolProbe {
    background: DatabaseConnection,
    requests: Vec<Database>,
}

#[async_trait]
impl DatabaseProbe for PoolProbe {
    async fn is_reachable(&self) -> bool {
        matches!(
            tokio::time::timeout(Duration::from_secs(2), self.background.ping()).await,
            Ok(Ok(()))
        )
    }

    fn pool_stats(&self) -> PoolStats {
        self.requests
            .iter()
            .map(Database::snapshot)
            .fold(PoolStats::default(), |sum, pool| PoolStats {
                idle: sum.idle.saturating_add(pool.idle),
                in_use: sum.in_use.saturating_add(pool.in_use),
                max: sum.max.saturating_add(pool.max),
            })
    }
}

/// A running server: bound, serving when [`Application::run_until_stopped`] is awaited.
pub struct Application {
    port: u16,
    server: Server,
    db: DatabaseConnection,
    /// The PostgreSQL pools of the HTTP workers (none on SQLite: they use `db`).
    request_pools: Vec<Database>,
    services: Arc<Services>,
    lifecycle: Arc<Lifecycle>,
    drain: Duration,
    purge_interval: Duration,
    change_log_retention: chrono::Duration,
}

impl Application {
    /// Opens the database, migrates, bootstraps the first admin, binds the listener
    /// (port 0 picks a free one) and prepares the server.
    ///
    /// # Errors
    /// [`StartupError`] for whatever could not be set up.
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        let fast_path = settings.db_fast_path == settings::FastPath::Auto
            && !taskforge_infra::db::is_sqlite(&settings.database_url);
        // With the fast path the requests have pools of their own; this one is for
        // start-up, readiness and the purge. Otherwise it serves everything.
        let background = if fast_path {
            BACKGROUND_CONNECTIONS.min(settings.db_max_connections)
        } else {
            settings.db_max_connections
        };
        let db = open_database_with(&settings, background).await?;
        let mut adapters = build_adapters(&settings)?;
        // One registry per process: the server's closure below runs once per worker.
        let metrics = Arc::new(Metrics::new().map_err(|e| StartupError::Metrics(e.to_string()))?);
        // One mail queue per process, its outcomes counted in the metrics.
        let observed = metrics.clone();
        adapters.mailer = infra_mail::mailer(
            &settings.accounts.mail_transport,
            &settings.accounts.mail_from,
            QueueSettings::default(),
            Arc::new(move |outcome: infra_mail::MailOutcome| {
                observed.count_mail(outcome.as_str());
            }),
        )
        .map_err(StartupError::Config)?;
        let plain = Database::new(db.clone(), settings.db_deadlines);
        let services = services_over(&adapters, &Repositories::plain(&plain));
        if let Some((email, password)) = &settings.first_admin {
            ensure_admin(&services, email, password.expose_secret()).await?;
        }
        let address = format!("{}:{}", settings.host, settings.port);
        let listener = TcpListener::bind(&address).map_err(|source| StartupError::Bind {
            address: address.clone(),
            source,
        })?;
        let port = listener
            .local_addr()
            .map_err(|source| StartupError::Bind { address, source })?
            .port();
        let workers = http_workers();
        // The pools the workers serve from: the fast path's own, or the one pool.
        let (request_pools, serving) = if fast_path {
            let pools = request_pools(&settings, workers).await?;
            (pools.clone(), pools)
        } else {
            (Vec::new(), vec![plain.clone()])
        };
        let probe = Arc::new(PoolProbe {
            background: db.clone(),
            requests: serving.clone(),
        });
        let lifecycle = Arc::new(Lifecycle::default());
        // One reader of the change log per process feeds every event stream; on
        // PostgreSQL it also hears the writes of other instances.
        let listen_url = (!taskforge_infra::db::is_sqlite(&settings.database_url))
            .then_some(settings.database_url.as_str());
        let events = Arc::new(TaskEvents::new(Arc::new(LiveChanges::start(
            plain.clone(),
            listen_url,
        ))));
        let (counters, streams) = shared_limits(&settings, &metrics)?;
        let streams = Arc::new(streams);
        // Reset requests worked on after their answer, at most this many at once.
        let reset_jobs = Arc::new(tokio::sync::Semaphore::new(RESET_JOBS));
        // Callers' traces are continued only when spans are exported.
        let trace_context = settings.otlp_endpoint.as_ref().map(|_| {
            Arc::new(crate::telemetry::otel::W3cTraceContext::default())
                as Arc<dyn taskforge_api::TraceContext>
        });
        let states: Arc<[AppState]> = serving
            .iter()
            .map(|pool| {
                let repositories = if fast_path {
                    Repositories::fast_path(pool)
                } else {
                    Repositories::plain(pool)
                };
                let services = services_over(&adapters, &repositories);
                AppState {
                    auth: services.auth,
                    users: services.users,
                    tasks: services.tasks,
                    resets: services.resets,
                    reset_jobs: reset_jobs.clone(),
                    events: events.clone(),
                    streams: streams.clone(),
                    database: probe.clone(),
                    metrics: metrics.clone(),
                    trace_context: trace_context.clone(),
                    lifecycle: lifecycle.clone(),
                }
            })
            .collect();
        let http = HttpSettings {
            max_body_bytes: settings.max_body_bytes,
            allowed_origins: settings.allowed_origins.clone(),
            rate_limits: RateLimits::new(
                &RateLimitSettings {
                    enabled: settings.rate_limit_enabled,
                    login_per_min: settings.rate_limit_login_per_min,
                    register_per_min: settings.rate_limit_register_per_min,
                    refresh_per_min: settings.rate_limit_refresh_per_min,
                    logout_per_min: settings.rate_limit_logout_per_min,
                    reset_per_min: settings.accounts.rate_limit_reset_per_min,
                    trusted_proxies: settings.trusted_proxies.clone(),
                },
                counters,
            ),
            request_timeout: settings.request_timeout,
        };
        // The closure runs once per worker (again for a worker restarted after a
        // panic): each takes the next pool's state in turn.
        let next_state = Arc::new(AtomicUsize::new(0));
        let server = HttpServer::new(move || {
            let i = next_state.fetch_add(1, Ordering::Relaxed) % states.len();
            taskforge_api::build_app(states[i].clone(), http.clone())
        })
        .workers(workers)
        // A client that closes its connection before the answer has given up: its
        // request is dropped where it waits (as nginx does), so an abandoned login
        // never takes its turn at bcrypt. A client that half-closes its connection
        // to wait for the answer would lose it; browsers and HTTP libraries don't.
        .h1_allow_half_closed(false)
        .listen(listener)
        .map_err(|source| StartupError::Bind {
            address: format!("{}:{port}", settings.host),
            source,
        })?
        .shutdown_timeout(settings.shutdown_timeout.as_secs())
        // SIGTERM and SIGINT are handled in `run_until_stopped`: drain first, then stop.
        .disable_signals()
        .run();
        Ok(Self {
            port,
            server,
            db,
            request_pools,
            services: Arc::new(services),
            lifecycle,
            drain: settings.shutdown_drain,
            purge_interval: settings.purge_interval,
            change_log_retention: settings.change_log_retention,
        })
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The pool for start-up, readiness and the session purge (tests close it to see
    /// readiness fail).
    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Serves until SIGTERM/SIGINT, then shuts down without losing a request: readiness
    /// turns 503 and every answer closes its connection for `SHUTDOWN_DRAIN_MS` (a load
    /// balancer takes the instance out, clients reconnect elsewhere); then the listener
    /// stops accepting, in-flight requests finish (at most `SHUTDOWN_TIMEOUT_SECS`), and
    /// the pools close. Meanwhile a background job purges dead sessions.
    ///
    /// # Errors
    /// The server's I/O error.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let handle = self.server.handle();
        let (lifecycle, drain) = (self.lifecycle.clone(), self.drain);
        let shutdown = tokio::spawn(async move {
            stop_signal().await;
            tracing::info!(drain_ms = drain.as_millis(), "stop signal: draining");
            lifecycle.start_draining();
            tokio::time::sleep(drain).await;
            tracing::info!("no longer accepting; finishing the requests in flight");
            handle.stop(true).await;
        });
        let services = self.services.clone();
        let (every, retention) = (self.purge_interval, self.change_log_retention);
        let purge = tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                purge(&services, retention).await;
            }
        });
        let result = self.server.await;
        purge.abort();
        shutdown.abort();
        for pool in self.request_pools.into_iter().chain([self.db.into()]) {
            if let Err(err) = pool.close().await {
                tracing::warn!(error = %err, "closing a database pool failed");
            }
        }
        tracing::info!("server stopped");
        result
    }
}

/// The background job: deletes dead sessions, changes older than the retention and
/// expired idempotency keys.
async fn purge(services: &Services, retention: chrono::Duration) {
    match services.auth.purge_sessions().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(purged = n, "purged expired and revoked sessions"),
        Err(err) => tracing::warn!(error = %err, "session purge failed"),
    }
    match services.resets.purge().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(purged = n, "purged used and expired password resets"),
        Err(err) => tracing::warn!(error = %err, "password reset purge failed"),
    }
    match services.auth.purge_login_throttles().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(purged = n, "purged lapsed login throttles"),
        Err(err) => tracing::warn!(error = %err, "login throttle purge failed"),
    }
    match services.tasks.purge(retention).await {
        Ok((0, 0)) => {}
        Ok((changes, keys)) => {
            tracing::info!(
                changes,
                keys,
                "purged old task changes and expired idempotency keys"
            );
        }
        Err(err) => tracing::warn!(error = %err, "change log purge failed"),
    }
}

/// SIGTERM or SIGINT, whichever comes first.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = terminate.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for SIGTERM; only SIGINT stops the server");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
