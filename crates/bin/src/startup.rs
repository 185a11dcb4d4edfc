//! Wiring and lifecycle: connect, migrate, build the services, bind, serve, shut down.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::HttpServer;
use actix_web::dev::Server;
use async_trait::async_trait;
use sea_orm::{DatabaseConnection, DatabaseConnectionType};
use sea_orm_migration::MigratorTrait;
use secrecy::ExposeSecret;
use taskforge_api::rate_limit::{RateLimitSettings, RateLimits};
use taskforge_api::{AppState, DatabaseProbe, HttpSettings, Metrics, PoolStats};
use taskforge_domain::auth::{AuthService, TokenLifetimes};
use taskforge_domain::clock::Clock;
use taskforge_domain::task::TaskService;
use taskforge_domain::user::{Email, Password, UserService};
use taskforge_infra::{
    BcryptHasher, JwtTokenService, SeaSessionRepository, SeaTaskRepository, SeaUserRepository,
    SystemClock,
};
use taskforge_migration::Migrator;

use crate::settings::Settings;

/// How often expired and revoked sessions are deleted.
const PURGE_INTERVAL: Duration = Duration::from_secs(600);
/// How long in-flight requests may take to finish on shutdown.
const SHUTDOWN_TIMEOUT_SECS: u64 = 20;

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
}

/// Connects to the database and applies pending migrations when `AUTO_MIGRATE` is on.
///
/// # Errors
/// [`StartupError::Database`] or [`StartupError::Migration`].
pub async fn open_database(settings: &Settings) -> Result<DatabaseConnection, StartupError> {
    let db = taskforge_infra::db::connect(&settings.database_url, settings.db_max_connections)
        .await
        .map_err(StartupError::Database)?;
    if settings.auto_migrate {
        Migrator::up(&db, None)
            .await
            .map_err(StartupError::Migration)?;
    }
    Ok(db)
}

/// Builds the domain services over SeaORM, bcrypt and JWT.
///
/// # Errors
/// [`StartupError::Config`] when the JWT algorithm is refused.
pub fn build_services(
    settings: &Settings,
    db: &DatabaseConnection,
) -> Result<Services, StartupError> {
    let users = Arc::new(SeaUserRepository::new(db.clone()));
    let tasks = Arc::new(SeaTaskRepository::new(db.clone()));
    let sessions = Arc::new(SeaSessionRepository::new(db.clone()));
    let hasher = Arc::new(BcryptHasher::new(settings.bcrypt_cost).map_err(StartupError::Config)?);
    let tokens = Arc::new(
        JwtTokenService::new(
            settings.jwt_secret_key.expose_secret().as_bytes(),
            &settings.jwt_algorithm,
        )
        .map_err(StartupError::Config)?,
    );
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let lifetimes = TokenLifetimes {
        access_secs: settings.access_token_expire_minutes * 60,
        refresh_secs: settings.refresh_token_expire_days * 86_400,
    };
    Ok(Services {
        auth: Arc::new(AuthService::new(
            users.clone(),
            sessions,
            hasher.clone(),
            tokens,
            clock.clone(),
            lifetimes,
        )),
        users: Arc::new(UserService::new(users.clone(), hasher, clock.clone())),
        tasks: Arc::new(TaskService::new(tasks, users, clock)),
    })
}

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

/// The readiness probe and pool statistics over the pool.
struct PoolProbe(DatabaseConnection);

#[async_trait]
impl DatabaseProbe for PoolProbe {
    async fn is_reachable(&self) -> bool {
        matches!(
            tokio::time::timeout(Duration::from_secs(2), self.0.ping()).await,
            Ok(Ok(()))
        )
    }

    fn pool_stats(&self) -> PoolStats {
        // The pool getters panic on the wrong backend: match the variant first.
        match &self.0.inner {
            DatabaseConnectionType::SqlxPostgresPoolConnection(_) => {
                stats_of(self.0.get_postgres_connection_pool())
            }
            DatabaseConnectionType::SqlxSqlitePoolConnection(_) => {
                stats_of(self.0.get_sqlite_connection_pool())
            }
            _ => PoolStats::default(),
        }
    }
}

fn stats_of<DB: sea_orm::sqlx::Database>(pool: &sea_orm::sqlx::Pool<DB>) -> PoolStats {
    // `size` counts idle connections too; the two are read one after the other, so
    // saturate rather than underflow when a connection is returned in between.
    let idle = u32::try_from(pool.num_idle()).unwrap_or(u32::MAX);
    PoolStats {
        idle,
        in_use: pool.size().saturating_sub(idle),
        max: pool.options().get_max_connections(),
    }
}

/// A running server: bound, serving when [`Application::run_until_stopped`] is awaited.
pub struct Application {
    port: u16,
    server: Server,
    db: DatabaseConnection,
    services: Arc<Services>,
}

impl Application {
    /// Opens the database, migrates, bootstraps the first admin, binds the listener
    /// (port 0 picks a free one) and prepares the server.
    ///
    /// # Errors
    /// [`StartupError`] for whatever could not be set up.
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        let db = open_database(&settings).await?;
        let services = build_services(&settings, &db)?;
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
        let state = AppState {
            auth: services.auth.clone(),
            users: services.users.clone(),
            tasks: services.tasks.clone(),
            database: Arc::new(PoolProbe(db.clone())),
            // One registry per process: the server's closure below runs once per worker.
            metrics: Arc::new(Metrics::new().map_err(|e| StartupError::Metrics(e.to_string()))?),
        };
        let http = HttpSettings {
            max_body_bytes: settings.max_body_bytes,
            allowed_origins: settings.allowed_origins.clone(),
            rate_limits: RateLimits::new(&RateLimitSettings {
                enabled: settings.rate_limit_enabled,
                login_per_min: settings.rate_limit_login_per_min,
                register_per_min: settings.rate_limit_register_per_min,
                refresh_per_min: settings.rate_limit_refresh_per_min,
                logout_per_min: settings.rate_limit_logout_per_min,
                trusted_proxies: settings.trusted_proxies.clone(),
            }),
        };
        let server = HttpServer::new(move || taskforge_api::build_app(state.clone(), http.clone()))
            .listen(listener)
            .map_err(|source| StartupError::Bind {
                address: format!("{}:{port}", settings.host),
                source,
            })?
            .shutdown_timeout(SHUTDOWN_TIMEOUT_SECS)
            .run();
        Ok(Self {
            port,
            server,
            db,
            services: Arc::new(services),
        })
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The database pool (tests close it to see readiness fail).
    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Serves until SIGTERM/SIGINT: stops accepting, lets in-flight requests finish
    /// (bounded), then closes the pool. Meanwhile a background job purges dead sessions.
    ///
    /// # Errors
    /// The server's I/O error.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let auth = self.services.auth.clone();
        let purge = tokio::spawn(async move {
            let mut tick = tokio::time::interval(PURGE_INTERVAL);
            loop {
                tick.tick().await;
                match auth.purge_sessions().await {
                    Ok(n) if n > 0 => {
                        tracing::info!(purged = n, "purged expired and revoked sessions")
                    }
                    Ok(_) => {}
                    Err(err) => tracing::warn!(error = %err, "session purge failed"),
                }
            }
        });
        let result = self.server.await;
        purge.abort();
        if let Err(err) = self.db.close().await {
            tracing::warn!(error = %err, "closing the database pool failed");
        }
        tracing::info!("server stopped");
        result
    }
}
