//! The accounts part of the adapter contract (sessions with their client and last use,
//! password resets, the login throttle), run like the contract suite against SQLite,
//! PostgreSQL, the PostgreSQL fast path and the in-memory store. A binary of its own
//! so that it runs while the contract suite is being reworked; it can move into
//! `contract/` as one more module.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use taskforge_domain::DomainError;
use taskforge_domain::auth::{Rotation, Session, SessionRepository};
use taskforge_domain::clock::to_micros;
use taskforge_domain::page::PageRequest;
use taskforge_domain::testing::InMemoryStore;
use taskforge_domain::user::{
    Email, FullName, PasswordHash, Role, SessionEffect, User, UserRepository,
};
use taskforge_infra::postgres::{self, FastPath};
use taskforge_infra::{SeaSessionRepository, SeaUserRepository, db};
use taskforge_migration::{Migrator, MigratorTrait};
use tokio::task::JoinSet;
use uuid::Uuid;

#[path = "../common/mod.rs"]
mod common;

/// Runs each test on the four backends (the PostgreSQL ones only with `TEST_DATABASE_URL`).
macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(crate::TestDb::sqlite().await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    if let Some(db) = crate::TestDb::postgres(false).await {
                        super::$name(db).await;
                    }
                }
            )*
        }
        mod fast_path {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    if let Some(db) = crate::TestDb::postgres(true).await {
                        super::$name(db).await;
                    }
                }
            )*
        }
        mod in_memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(crate::TestDb::in_memory()).await;
                }
            )*
        }
    };
}

mod contract;

enum Storage {
    Sql(DatabaseConnection),
    Memory(InMemoryStore),
}

struct TestDb {
    users: Arc<dyn UserRepository>,
    sessions: Arc<dyn SessionRepository>,
    storage: Storage,
    _cleanup: Option<Cleanup>,
}

enum Cleanup {
    SqliteFile(PathBuf),
    PostgresDatabase { admin_url: String, name: String },
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        match self {
            Cleanup::SqliteFile(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            Cleanup::PostgresDatabase { admin_url, name } => {
                let (admin_url, name) = (admin_url.clone(), name.clone());
                let _ = std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("runtime for cleanup");
                    runtime.block_on(async move {
                        let admin = db::connect(&admin_url, 1).await.expect("admin connection");
                        let _ = admin
                            .execute_unprepared(&format!(
                                r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#
                            ))
                            .await;
                        let _ = admin.close().await;
                    });
                })
                .join();
            }
        }
    }
}

impl TestDb {
    async fn sqlite() -> Self {
        let path = std::env::temp_dir().join(format!("taskforge-accounts-{}.db", Uuid::now_v7()));
        let cleanup = Cleanup::SqliteFile(path.clone());
        let conn = db::connect(&format!("sqlite://{}", path.display()), 5)
            .await
            .expect("connect to SQLite");
        Migrator::up(&conn, None).await.expect("migrations apply");
        common::record_run("accounts-sqlite");
        let pool: db::Database = conn.clone().into();
        Self {
            users: Arc::new(SeaUserRepository::new(pool.clone())),
            sessions: Arc::new(SeaSessionRepository::new(pool)),
            storage: Storage::Sql(conn),
            _cleanup: Some(cleanup),
        }
    }

    /// A fresh PostgreSQL database: the plain adapters, or the fast path's sessions.
    async fn postgres(fast: bool) -> Option<Self> {
        let Ok(admin_url) = std::env::var("TEST_DATABASE_URL") else {
            println!("TEST_DATABASE_URL is not set: skipping the PostgreSQL run");
            return None;
        };
        let name = format!("tf_accounts_{}", Uuid::now_v7().simple());
        let admin = db::connect(&admin_url, 1)
            .await
            .expect("connect to TEST_DATABASE_URL");
        admin
            .execute_unprepared(&format!(r#"CREATE DATABASE "{name}""#))
            .await
            .expect("create test database");
        let _ = admin.close().await;
        let cleanup = Cleanup::PostgresDatabase {
            admin_url: admin_url.clone(),
            name: name.clone(),
        };
        let (base, _) = admin_url
            .rsplit_once('/')
            .expect("TEST_DATABASE_URL ends in /<database>");
        let url = format!("{base}/{name}");
        let conn = db::connect(&url, 5)
            .await
            .expect("connect to the test database");
        Migrator::up(&conn, None).await.expect("migrations apply");
        let (users, sessions): (Arc<dyn UserRepository>, Arc<dyn SessionRepository>) = if fast {
            common::record_run("accounts-fast-path");
            let pool = postgres::request_pool(&url, 5, &Default::default())
                .await
                .expect("a request pool");
            let fast = FastPath::new(&pool);
            (
                Arc::new(SeaUserRepository::new(pool)),
                Arc::new(fast.sessions()),
            )
        } else {
            common::record_run("accounts-postgres");
            let pool: db::Database = conn.clone().into();
            (
                Arc::new(SeaUserRepository::new(pool.clone())),
                Arc::new(SeaSessionRepository::new(pool)),
            )
        };
        Some(Self {
            users,
            sessions,
            storage: Storage::Sql(conn),
            _cleanup: Some(cleanup),
        })
    }

    fn in_memory() -> Self {
        common::record_run("accounts-in-memory");
        let store = InMemoryStore::new();
        Self {
            users: Arc::new(store.users()),
            sessions: Arc::new(store.sessions()),
            storage: Storage::Memory(store),
            _cleanup: None,
        }
    }
}

/// A fixed instant plus `secs`, with microseconds so precision is exercised.
fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_795_000_000 + secs, 123_456_000)
        .single()
        .expect("valid instant")
}

fn now() -> DateTime<Utc> {
    to_micros(Utc::now())
}

fn hash_of(label: &str) -> PasswordHash {
    PasswordHash::new(format!("$2b$04$hash-of-{label}"))
}

async fn insert_user(db: &TestDb, email: &str, role: Role) -> User {
    let t = now();
    let user = User {
        id: Uuid::now_v7(),
        email: Email::parse(email).expect("valid email"),
        username: None,
        full_name: FullName::parse("Test Person").expect("valid name"),
        role,
        is_active: true,
        created_at: t,
        updated_at: t,
    };
    db.users
        .insert(&user, &hash_of(email))
        .await
        .expect("insert user");
    user
}

fn new_session(user_id: Uuid, expires_at: DateTime<Utc>) -> Session {
    Session {
        id: Uuid::now_v7(),
        user_id,
        refresh_jti: Uuid::now_v7(),
        created_at: now(),
        expires_at,
        revoked_at: None,
    }
}

async fn insert_session(db: &TestDb, user_id: Uuid) -> Session {
    let session = new_session(user_id, now() + TimeDelta::days(7));
    db.sessions.insert(&session).await.expect("insert session");
    session
}

fn page(limit: u64, offset: u64) -> PageRequest {
    PageRequest::new(Some(limit), Some(offset)).expect("valid page")
}

fn assert_not_found<T: std::fmt::Debug>(result: Result<T, DomainError>) {
    assert!(
        matches!(result, Err(DomainError::NotFound(_))),
        "{result:?}"
    );
}
