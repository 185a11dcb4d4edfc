//! The adapter suite: every repository behaviour the ports promise, written once and run
//! against SQLite always and against PostgreSQL when `TEST_DATABASE_URL` is set
//! (e.g. `postgres://postgres@127.0.0.1:5432/test`).
//!
//! Each test gets a fresh, migrated database of its own — a temporary SQLite file, or a
//! uniquely named PostgreSQL database created through `TEST_DATABASE_URL` and dropped
//! when the test ends, pass or fail. Every PostgreSQL test that ran appends `infra` to the
//! file named by `TASKFORGE_PG_MARKER` (when set), which CI checks so that a silently
//! skipped PostgreSQL suite cannot pass.

use std::cmp::Ordering;
use std::collections::HashSet;
use std::fmt::Debug;
use std::path::PathBuf;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use taskforge_domain::DomainError;
use taskforge_domain::auth::{Rotation, Session, SessionRepository};
use taskforge_domain::clock::to_micros;
use taskforge_domain::page::PageRequest;
use taskforge_domain::task::{
    Description, Priority, Task, TaskFilter, TaskRepository, TaskSort, TaskSortKey, TaskStatus,
    Title,
};
use taskforge_domain::user::{
    Email, FullName, LoginIdentifier, PasswordHash, Role, SessionEffect, User, UserFilter,
    UserRepository, Username,
};
use taskforge_infra::{SeaSessionRepository, SeaTaskRepository, SeaUserRepository, db};
use taskforge_migration::{Migrator, MigratorTrait, SchemaManager};
use tokio::task::JoinSet;
use uuid::Uuid;

mod common;
use common::record_postgres_run;

// ---------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------

/// A fresh, migrated database and the three repositories on it.
struct TestDb {
    conn: DatabaseConnection,
    users: SeaUserRepository,
    tasks: SeaTaskRepository,
    sessions: SeaSessionRepository,
    /// Declared last so the pool is dropped before the database is removed.
    _cleanup: Cleanup,
}

/// Removes a test database when the test ends, also when it panics.
enum Cleanup {
    SqliteFile(PathBuf),
    PostgresDatabase { admin_url: String, name: String },
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        match self {
            Cleanup::SqliteFile(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut file = path.clone().into_os_string();
                    file.push(suffix);
                    let _ = std::fs::remove_file(file);
                }
            }
            Cleanup::PostgresDatabase { admin_url, name } => {
                // Drop runs outside async, maybe while unwinding: do the async work on
                // a thread with a runtime of its own.
                let (admin_url, name) = (admin_url.clone(), name.clone());
                let _ = std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("runtime for cleanup");
                    runtime.block_on(async move {
                        let admin = db::connect(&admin_url, 1).await.expect("admin connection");
                        admin
                            .execute_unprepared(&format!(
                                r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#
                            ))
                            .await
                            .expect("drop test database");
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
        let path = std::env::temp_dir().join(format!("taskforge-test-{}.db", Uuid::now_v7()));
        let cleanup = Cleanup::SqliteFile(path.clone());
        // No `?mode=rwc`: `db::connect` must create a missing file by itself.
        let conn = db::connect(&format!("sqlite://{}", path.display()), 5)
            .await
            .expect("connect to SQLite");
        Self::migrated(conn.clone(), conn.into(), cleanup).await
    }

    async fn postgres(test: &str) -> Option<Self> {
        let Ok(admin_url) = std::env::var("TEST_DATABASE_URL") else {
            println!("TEST_DATABASE_URL is not set: skipping the PostgreSQL run of {test}");
            return None;
        };
        let name = format!("tf_test_{}", Uuid::now_v7().simple());
        let admin = db::connect(&admin_url, 1)
            .await
            .expect("connect to TEST_DATABASE_URL");
        // An ICU English default collation (where "apple" < "Zebra"), so the code-point
        // title order is proven by the schema rather than inherited from a C locale.
        // Servers without ICU get their default.
        let icu = format!(
            r#"CREATE DATABASE "{name}" TEMPLATE template0 ENCODING 'UTF8' LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"#
        );
        if admin.execute_unprepared(&icu).await.is_err() {
            admin
                .execute_unprepared(&format!(r#"CREATE DATABASE "{name}""#))
                .await
                .expect("create test database");
        }
        let _ = admin.close().await;
        let cleanup = Cleanup::PostgresDatabase {
            admin_url: admin_url.clone(),
            name: name.clone(),
        };
        let url = database_url(&admin_url, &name);
        let conn = db::connect(&url, 2)
            .await
            .expect("connect to the test database");
        // The repositories run as the server's do: on connections kept between
        // statements, transactions on the pool's others.
        let repositories = db::connect_lazy_postgres(&url, 5)
            .await
            .expect("connect to the test database");
        record_postgres_run();
        Some(Self::migrated(conn, repositories, cleanup).await)
    }

    /// Migrates through `conn` and builds the repositories on `repositories`.
    async fn migrated(
        conn: DatabaseConnection,
        repositories: db::Database,
        cleanup: Cleanup,
    ) -> Self {
        Migrator::up(&conn, None).await.expect("migrations apply");
        Self {
            users: SeaUserRepository::new(repositories.clone()),
            tasks: SeaTaskRepository::new(repositories.clone()),
            sessions: SeaSessionRepository::new(repositories),
            conn,
            _cleanup: cleanup,
        }
    }
}

/// `admin_url` with its database name replaced by `name`.
fn database_url(admin_url: &str, name: &str) -> String {
    let authority_start = admin_url.find("://").map_or(0, |i| i + 3);
    let (path_start, query) = match admin_url[authority_start..].find('/') {
        Some(slash) => {
            let path_start = authority_start + slash;
            let query = admin_url[path_start..]
                .find('?')
                .map_or("", |q| &admin_url[path_start + q..]);
            (path_start, query)
        }
        None => (admin_url.len(), ""),
    };
    format!("{}/{name}{query}", &admin_url[..path_start])
}

/// Generates `sqlite::<name>` and `postgres::<name>` for each async test fn taking a
/// [`TestDb`]. The PostgreSQL variant returns early (with a note) only when
/// `TEST_DATABASE_URL` is unset.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(super::TestDb::sqlite().await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    if let Some(db) = super::TestDb::postgres(stringify!($name)).await {
                        super::$name(db).await;
                    }
                }
            )*
        }
    };
}

on_both_backends!(
    migrations_go_down_and_up_again,
    // users
    inserted_user_is_found_by_id_and_by_email_unchanged,
    credentials_are_found_by_email_and_by_username_in_any_case,
    password_hash_is_returned_for_a_known_user_only,
    duplicate_email_is_conflict_email_already_registered,
    username_differing_only_in_case_is_conflict_username_already_taken,
    parallel_inserts_of_one_email_let_exactly_one_win,
    user_update_writes_every_field_and_keeps_the_password_hash_unless_given,
    updating_a_missing_user_is_not_found,
    updating_to_a_taken_email_or_username_is_conflict_and_changes_nothing,
    demoting_or_deactivating_the_last_active_admin_is_conflict_and_changes_nothing,
    with_two_admins_one_may_be_demoted_but_then_not_the_other,
    parallel_demotions_of_every_admin_leave_exactly_one_active_admin,
    update_with_revoke_all_revokes_every_session_of_that_user_only,
    update_with_keep_leaves_sessions_alone,
    deleting_a_user_removes_their_tasks_and_sessions_only,
    deleting_the_last_active_admin_is_conflict_and_deletes_nothing,
    deleting_one_of_two_admins_works,
    deleting_a_missing_user_is_not_found,
    user_list_is_newest_first_with_id_tie_breaks_and_pages,
    user_list_filters_by_role_and_activity,
    user_list_q_matches_email_or_username_literally_and_case_insensitively,
    // tasks
    inserted_task_is_found_by_id_unchanged,
    task_for_a_missing_owner_is_not_found,
    update_with_the_current_version_writes_every_field,
    stale_version_update_is_precondition_failed_and_changes_nothing,
    updating_a_missing_task_is_not_found,
    reassigning_a_task_to_a_missing_owner_is_not_found_and_changes_nothing,
    parallel_updates_with_one_version_let_exactly_one_win,
    parallel_updates_of_many_tasks_each_get_the_outcome_of_their_own_row,
    an_update_to_a_missing_owner_fails_alone_among_parallel_updates,
    chains_of_parallel_updates_apply_every_step_in_turn,
    delete_without_version_removes_the_task_and_a_second_is_not_found,
    delete_with_the_current_version_removes_the_task,
    delete_with_a_stale_version_is_precondition_failed_and_keeps_the_task,
    parallel_deletes_let_exactly_one_win_and_the_rest_are_not_found,
    task_list_filters_each_narrow_items_and_total,
    task_search_treats_percent_underscore_and_backslash_literally,
    task_search_is_case_insensitive_beyond_ascii_in_title_and_description,
    task_list_sorts_by_every_key_in_both_directions_with_id_tie_breaks,
    priority_sorts_by_rank_not_by_name,
    title_sorts_by_code_point,
    tasks_without_due_date_sort_last_in_both_directions,
    pages_of_tasks_cover_every_match_exactly_once,
    // sessions
    session_for_a_missing_user_is_not_found,
    rotating_the_current_token_moves_the_session_to_the_new_one,
    presenting_a_spent_token_is_reuse_and_revokes_the_session,
    parallel_rotations_of_one_token_let_exactly_one_rotate,
    expired_revoked_or_unknown_sessions_are_rejected_and_unchanged,
    find_session_user_returns_the_user_of_a_live_session_only,
    find_with_session_user_reads_the_live_sessions_user_and_any_users_task,
    parallel_session_checks_each_get_the_answer_of_their_own_keys,
    parallel_lists_each_get_their_own_page,
    parallel_inserts_each_get_the_outcome_of_their_own_row,
    a_task_written_before_a_list_is_in_it_while_others_list_the_same_page,
    revoke_ends_one_session_and_keeps_the_first_revocation_instant,
    revoke_all_ends_every_session_of_one_user_only,
    purge_deletes_expired_and_revoked_sessions_and_counts_them,
);

// ---------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------

/// A fixed instant plus `secs`, with a microsecond part so precision is exercised.
fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_795_000_000 + secs, 123_456_000)
        .single()
        .expect("valid instant")
}

fn now() -> DateTime<Utc> {
    to_micros(Utc::now())
}

fn new_user(email: &str, username: Option<&str>, role: Role) -> User {
    let t = now();
    User {
        id: Uuid::now_v7(),
        email: Email::parse(email).expect("valid email"),
        username: username.map(|u| Username::parse(u).expect("valid username")),
        full_name: FullName::parse("Test Person").expect("valid name"),
        role,
        is_active: true,
        created_at: t,
        updated_at: t,
    }
}

fn hash_of(label: &str) -> PasswordHash {
    // The repositories store hashes opaquely; any string does.
    PasswordHash::new(format!("$2b$04$hash-of-{label}"))
}

async fn insert_user(db: &TestDb, email: &str, role: Role) -> User {
    let user = new_user(email, None, role);
    db.users
        .insert(&user, &hash_of(email))
        .await
        .expect("insert user");
    user
}

fn new_task(owner_id: Uuid, title: &str) -> Task {
    let t = now();
    Task {
        id: Uuid::now_v7(),
        owner_id,
        title: Title::parse(title).expect("valid title"),
        description: None,
        status: TaskStatus::Todo,
        priority: Priority::Medium,
        due_date: None,
        completed_at: None,
        created_at: t,
        updated_at: t,
        version: 1,
    }
}

fn description(text: &str) -> Option<Description> {
    Some(Description::parse(text).expect("valid description"))
}

async fn insert_task(db: &TestDb, task: &Task) {
    db.tasks.insert(task).await.expect("insert task");
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

async fn stored_session(db: &TestDb, id: Uuid) -> Option<Session> {
    // The port has no plain session lookup, so read the row directly.
    let rows = db
        .conn
        .query_all_raw(sea_orm::Statement::from_sql_and_values(
            db.conn.get_database_backend(),
            match db.conn.get_database_backend() {
                sea_orm::DbBackend::Postgres => {
                    "SELECT id, user_id, refresh_jti, created_at, expires_at, revoked_at FROM sessions WHERE id = $1"
                }
                _ => {
                    "SELECT id, user_id, refresh_jti, created_at, expires_at, revoked_at FROM sessions WHERE id = ?"
                }
            },
            [id.into()],
        ))
        .await
        .expect("read session");
    rows.first().map(|row| Session {
        id: row.try_get("", "id").expect("id"),
        user_id: row.try_get("", "user_id").expect("user_id"),
        refresh_jti: row.try_get("", "refresh_jti").expect("refresh_jti"),
        created_at: row.try_get("", "created_at").expect("created_at"),
        expires_at: row.try_get("", "expires_at").expect("expires_at"),
        revoked_at: row.try_get("", "revoked_at").expect("revoked_at"),
    })
}

fn page(limit: u64, offset: u64) -> PageRequest {
    PageRequest::new(Some(limit), Some(offset)).expect("valid page")
}

fn all() -> PageRequest {
    page(100, 0)
}

#[track_caller]
fn assert_conflict<T: Debug>(result: Result<T, DomainError>, message: &str) {
    match result {
        Err(DomainError::Conflict(m)) => assert_eq!(m, message),
        other => panic!("expected Conflict({message:?}), got {other:?}"),
    }
}

#[track_caller]
fn assert_not_found<T: Debug>(result: Result<T, DomainError>) {
    assert!(
        matches!(result, Err(DomainError::NotFound(_))),
        "expected NotFound, got {result:?}"
    );
}

#[track_caller]
fn assert_precondition_failed<T: Debug>(result: Result<T, DomainError>) {
    assert!(
        matches!(result, Err(DomainError::PreconditionFailed(_))),
        "expected PreconditionFailed, got {result:?}"
    );
}

fn ids<T>(items: &[T], id: impl Fn(&T) -> Uuid) -> Vec<Uuid> {
    items.iter().map(id).collect()
}

// ---------------------------------------------------------------------------------------
// Migrations
// ---------------------------------------------------------------------------------------

async fn migrations_go_down_and_up_again(db: TestDb) {
    let schema = SchemaManager::new(&db.conn);
    for table in ["users", "tasks", "sessions"] {
        assert!(schema.has_table(table).await.unwrap(), "{table} after up");
    }

    Migrator::down(&db.conn, None).await.expect("down");
    for table in ["users", "tasks", "sessions"] {
        assert!(
            !schema.has_table(table).await.unwrap(),
            "{table} after down"
        );
    }

    Migrator::up(&db.conn, None).await.expect("up again");
    for table in ["users", "tasks", "sessions"] {
        assert!(
            schema.has_table(table).await.unwrap(),
            "{table} after up again"
        );
    }
    // No index on updated_at, so a task update can be heap-only on PostgreSQL, where
    // the pages keep room for it.
    for index in ["idx_tasks_owner_id_updated_at", "idx_tasks_updated_at"] {
        assert!(!schema.has_index("tasks", index).await.unwrap(), "{index}");
    }
    if db.conn.get_database_backend() == sea_orm::DbBackend::Postgres {
        let row = db
            .conn
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                "SELECT array_to_string(reloptions, ',') AS options FROM pg_class \
                 WHERE oid = 'tasks'::regclass",
            ))
            .await
            .expect("read reloptions")
            .expect("the tasks table");
        let options: String = row.try_get("", "options").expect("options");
        assert!(options.contains("fillfactor=80"), "{options}");
    }
    let user = insert_user(&db, "again@example.com", Role::User).await;
    let task = new_task(user.id, "works");
    insert_task(&db, &task).await;
    assert_eq!(db.tasks.find_by_id(task.id).await.unwrap(), Some(task));
}

// ---------------------------------------------------------------------------------------
// Users
// ---------------------------------------------------------------------------------------

async fn inserted_user_is_found_by_id_and_by_email_unchanged(db: TestDb) {
    let mut user = new_user("Alice@Example.com", Some("Alice_1"), Role::Admin);
    user.created_at = at(0);
    user.updated_at = at(1);
    db.users.insert(&user, &hash_of("alice")).await.unwrap();

    assert_eq!(
        db.users.find_by_id(user.id).await.unwrap(),
        Some(user.clone())
    );
    assert_eq!(
        db.users.find_by_email("alice@example.com").await.unwrap(),
        Some(user.clone())
    );
    assert_eq!(db.users.find_by_id(Uuid::now_v7()).await.unwrap(), None);
    assert_eq!(
        db.users.find_by_email("bob@example.com").await.unwrap(),
        None
    );

    // Optional fields left empty come back empty.
    let mut bare = new_user("bare@example.com", None, Role::User);
    bare.full_name = None;
    bare.is_active = false;
    db.users.insert(&bare, &hash_of("bare")).await.unwrap();
    assert_eq!(db.users.find_by_id(bare.id).await.unwrap(), Some(bare));
}

async fn credentials_are_found_by_email_and_by_username_in_any_case(db: TestDb) {
    let user = new_user("carol@example.com", Some("Carol.Dev"), Role::User);
    db.users.insert(&user, &hash_of("carol")).await.unwrap();

    for raw in [
        "carol@example.com",
        " CAROL@example.COM ",
        "carol.dev",
        "CAROL.DEV",
        "Carol.Dev",
    ] {
        let found = db
            .users
            .find_credentials(&LoginIdentifier::parse(raw))
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{raw} finds carol"));
        assert_eq!(found.user, user);
        assert_eq!(found.password_hash, hash_of("carol"));
    }
    for raw in ["nobody@example.com", "carol", "carol@example"] {
        assert!(
            db.users
                .find_credentials(&LoginIdentifier::parse(raw))
                .await
                .unwrap()
                .is_none(),
            "{raw} finds nobody"
        );
    }
}

async fn password_hash_is_returned_for_a_known_user_only(db: TestDb) {
    let user = insert_user(&db, "dave@example.com", Role::User).await;
    assert_eq!(
        db.users.password_hash(user.id).await.unwrap(),
        Some(hash_of("dave@example.com"))
    );
    assert_eq!(db.users.password_hash(Uuid::now_v7()).await.unwrap(), None);
}

async fn duplicate_email_is_conflict_email_already_registered(db: TestDb) {
    let first = insert_user(&db, "erin@example.com", Role::User).await;
    let second = new_user("erin@example.com", Some("erin2"), Role::User);
    assert_conflict(
        db.users.insert(&second, &hash_of("x")).await,
        "email already registered",
    );
    assert_eq!(db.users.find_by_id(second.id).await.unwrap(), None);
    assert_eq!(
        db.users.find_by_email("erin@example.com").await.unwrap(),
        Some(first)
    );
}

async fn username_differing_only_in_case_is_conflict_username_already_taken(db: TestDb) {
    let first = new_user("frank@example.com", Some("Frank"), Role::User);
    db.users.insert(&first, &hash_of("frank")).await.unwrap();
    let second = new_user("other@example.com", Some("fRANK"), Role::User);
    assert_conflict(
        db.users.insert(&second, &hash_of("x")).await,
        "username already taken",
    );
    assert_eq!(db.users.find_by_id(second.id).await.unwrap(), None);

    // Several users without a username do not clash.
    insert_user(&db, "nousername1@example.com", Role::User).await;
    insert_user(&db, "nousername2@example.com", Role::User).await;
}

async fn parallel_inserts_of_one_email_let_exactly_one_win(db: TestDb) {
    let mut racers = JoinSet::new();
    for i in 0..8 {
        let users = db.users.clone();
        racers.spawn(async move {
            let user = new_user("race@example.com", Some(&format!("racer{i}")), Role::User);
            users.insert(&user, &hash_of("race")).await
        });
    }
    let results = racers.join_all().await;
    let wins = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(wins, 1, "{results:?}");
    for result in results.into_iter().filter(Result::is_err) {
        assert_conflict(result, "email already registered");
    }
    let listed = db.users.list(&UserFilter::default(), all()).await.unwrap();
    assert_eq!(listed.total, 1);
}

async fn user_update_writes_every_field_and_keeps_the_password_hash_unless_given(db: TestDb) {
    let user = new_user("gina@example.com", Some("gina"), Role::User);
    db.users.insert(&user, &hash_of("old")).await.unwrap();

    let mut changed = user.clone();
    changed.email = Email::parse("gina.new@example.com").unwrap();
    changed.username = Some(Username::parse("Gina_New").unwrap());
    changed.full_name = None;
    changed.role = Role::Admin;
    changed.is_active = false;
    changed.updated_at = at(99);
    let stored = db
        .users
        .update(&changed, None, SessionEffect::Keep, now())
        .await
        .unwrap();
    assert_eq!(stored, changed);
    assert_eq!(
        db.users.find_by_id(user.id).await.unwrap(),
        Some(changed.clone())
    );
    assert_eq!(
        db.users.password_hash(user.id).await.unwrap(),
        Some(hash_of("old"))
    );
    // The new username is the one logins find, case-insensitively; the old one is free.
    let by_name = db
        .users
        .find_credentials(&LoginIdentifier::parse("gina_new"))
        .await
        .unwrap();
    assert_eq!(by_name.map(|c| c.user.id), Some(user.id));
    assert!(
        db.users
            .find_credentials(&LoginIdentifier::parse("gina"))
            .await
            .unwrap()
            .is_none()
    );

    db.users
        .update(&changed, Some(hash_of("new")), SessionEffect::Keep, now())
        .await
        .unwrap();
    assert_eq!(
        db.users.password_hash(user.id).await.unwrap(),
        Some(hash_of("new"))
    );
}

async fn updating_a_missing_user_is_not_found(db: TestDb) {
    let ghost = new_user("ghost@example.com", None, Role::User);
    assert_not_found(
        db.users
            .update(&ghost, None, SessionEffect::Keep, now())
            .await,
    );
    assert_eq!(db.users.find_by_id(ghost.id).await.unwrap(), None);
}

async fn updating_to_a_taken_email_or_username_is_conflict_and_changes_nothing(db: TestDb) {
    let taken = new_user("taken@example.com", Some("TakenName"), Role::User);
    db.users.insert(&taken, &hash_of("t")).await.unwrap();
    let user = new_user("hank@example.com", Some("hank"), Role::User);
    db.users.insert(&user, &hash_of("h")).await.unwrap();

    let mut same_email = user.clone();
    same_email.email = Email::parse("taken@example.com").unwrap();
    assert_conflict(
        db.users
            .update(&same_email, None, SessionEffect::Keep, now())
            .await,
        "email already registered",
    );

    let mut same_username = user.clone();
    same_username.username = Some(Username::parse("takenname").unwrap());
    assert_conflict(
        db.users
            .update(
                &same_username,
                Some(hash_of("other")),
                SessionEffect::Keep,
                now(),
            )
            .await,
        "username already taken",
    );

    assert_eq!(
        db.users.find_by_id(user.id).await.unwrap(),
        Some(user.clone())
    );
    assert_eq!(
        db.users.password_hash(user.id).await.unwrap(),
        Some(hash_of("h"))
    );
}

async fn demoting_or_deactivating_the_last_active_admin_is_conflict_and_changes_nothing(
    db: TestDb,
) {
    let admin = insert_user(&db, "root@example.com", Role::Admin).await;
    // An inactive admin does not count as another active admin.
    let mut dormant = new_user("dormant@example.com", None, Role::Admin);
    dormant.is_active = false;
    db.users.insert(&dormant, &hash_of("d")).await.unwrap();
    let session = insert_session(&db, admin.id).await;

    let mut demoted = admin.clone();
    demoted.role = Role::User;
    assert_conflict(
        db.users
            .update(
                &demoted,
                Some(hash_of("new")),
                SessionEffect::RevokeAll,
                now(),
            )
            .await,
        "cannot demote or deactivate the last active admin",
    );

    let mut deactivated = admin.clone();
    deactivated.is_active = false;
    assert_conflict(
        db.users
            .update(&deactivated, None, SessionEffect::RevokeAll, now())
            .await,
        "cannot demote or deactivate the last active admin",
    );

    assert_eq!(
        db.users.find_by_id(admin.id).await.unwrap(),
        Some(admin.clone())
    );
    assert_eq!(
        db.users.password_hash(admin.id).await.unwrap(),
        Some(hash_of("root@example.com"))
    );
    assert_eq!(
        db.sessions.find_session_user(session.id).await.unwrap(),
        Some(admin.clone())
    );

    // Changing anything else of the last admin is fine.
    let mut renamed = admin.clone();
    renamed.full_name = FullName::parse("Still Admin").unwrap();
    assert_eq!(
        db.users
            .update(&renamed, None, SessionEffect::Keep, now())
            .await
            .unwrap(),
        renamed
    );
}

async fn with_two_admins_one_may_be_demoted_but_then_not_the_other(db: TestDb) {
    let first = insert_user(&db, "admin1@example.com", Role::Admin).await;
    let second = insert_user(&db, "admin2@example.com", Role::Admin).await;

    let mut demoted = first.clone();
    demoted.role = Role::User;
    assert_eq!(
        db.users
            .update(&demoted, None, SessionEffect::Keep, now())
            .await
            .unwrap()
            .role,
        Role::User
    );

    let mut deactivated = second.clone();
    deactivated.is_active = false;
    assert_conflict(
        db.users
            .update(&deactivated, None, SessionEffect::RevokeAll, now())
            .await,
        "cannot demote or deactivate the last active admin",
    );
    assert_eq!(db.users.find_by_id(second.id).await.unwrap(), Some(second));
}

async fn parallel_demotions_of_every_admin_leave_exactly_one_active_admin(db: TestDb) {
    let mut admins = Vec::new();
    for i in 0..8 {
        admins.push(insert_user(&db, &format!("pa{i}@example.com"), Role::Admin).await);
    }
    let mut racers = JoinSet::new();
    for (i, admin) in admins.into_iter().enumerate() {
        let users = db.users.clone();
        racers.spawn(async move {
            // Half demote, half deactivate: both are guarded the same way.
            let mut changed = admin;
            if i % 2 == 0 {
                changed.role = Role::User;
            } else {
                changed.is_active = false;
            }
            users
                .update(&changed, None, SessionEffect::Keep, now())
                .await
        });
    }
    let results = racers.join_all().await;
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        7,
        "{results:?}"
    );
    for result in results.into_iter().filter(Result::is_err) {
        assert_conflict(result, "cannot demote or deactivate the last active admin");
    }
    let filter = UserFilter {
        role: Some(Role::Admin),
        is_active: Some(true),
        ..UserFilter::default()
    };
    assert_eq!(db.users.list(&filter, all()).await.unwrap().total, 1);
}

async fn update_with_revoke_all_revokes_every_session_of_that_user_only(db: TestDb) {
    let user = insert_user(&db, "ivy@example.com", Role::User).await;
    let other = insert_user(&db, "jack@example.com", Role::User).await;
    let sessions = [
        insert_session(&db, user.id).await,
        insert_session(&db, user.id).await,
    ];
    let others = insert_session(&db, other.id).await;

    let revoked_at = now();
    let mut deactivated = user.clone();
    deactivated.is_active = false;
    db.users
        .update(&deactivated, None, SessionEffect::RevokeAll, revoked_at)
        .await
        .unwrap();

    for session in &sessions {
        assert_eq!(
            db.sessions.find_session_user(session.id).await.unwrap(),
            None
        );
        let stored = stored_session(&db, session.id).await.unwrap();
        assert_eq!(stored.revoked_at, Some(revoked_at));
    }
    assert_eq!(
        db.sessions.find_session_user(others.id).await.unwrap(),
        Some(other)
    );
}

async fn update_with_keep_leaves_sessions_alone(db: TestDb) {
    let user = insert_user(&db, "kate@example.com", Role::User).await;
    let session = insert_session(&db, user.id).await;
    let mut renamed = user.clone();
    renamed.full_name = FullName::parse("Kate K").unwrap();
    db.users
        .update(&renamed, None, SessionEffect::Keep, now())
        .await
        .unwrap();
    assert_eq!(
        db.sessions.find_session_user(session.id).await.unwrap(),
        Some(renamed)
    );
}

async fn deleting_a_user_removes_their_tasks_and_sessions_only(db: TestDb) {
    let user = insert_user(&db, "leo@example.com", Role::User).await;
    let other = insert_user(&db, "mia@example.com", Role::User).await;
    let task = new_task(user.id, "leo's");
    insert_task(&db, &task).await;
    let kept_task = new_task(other.id, "mia's");
    insert_task(&db, &kept_task).await;
    let session = insert_session(&db, user.id).await;
    let kept_session = insert_session(&db, other.id).await;

    db.users.delete(user.id).await.unwrap();

    assert_eq!(db.users.find_by_id(user.id).await.unwrap(), None);
    assert_eq!(db.tasks.find_by_id(task.id).await.unwrap(), None);
    assert_eq!(stored_session(&db, session.id).await, None);
    assert_eq!(
        db.tasks.find_by_id(kept_task.id).await.unwrap(),
        Some(kept_task)
    );
    assert_eq!(
        db.sessions
            .find_session_user(kept_session.id)
            .await
            .unwrap(),
        Some(other)
    );
}

async fn deleting_the_last_active_admin_is_conflict_and_deletes_nothing(db: TestDb) {
    let admin = insert_user(&db, "boss@example.com", Role::Admin).await;
    let task = new_task(admin.id, "boss task");
    insert_task(&db, &task).await;
    let session = insert_session(&db, admin.id).await;

    assert_conflict(
        db.users.delete(admin.id).await,
        "cannot delete the last active admin",
    );
    assert_eq!(
        db.users.find_by_id(admin.id).await.unwrap(),
        Some(admin.clone())
    );
    assert_eq!(db.tasks.find_by_id(task.id).await.unwrap(), Some(task));
    assert_eq!(
        db.sessions.find_session_user(session.id).await.unwrap(),
        Some(admin)
    );
}

async fn deleting_one_of_two_admins_works(db: TestDb) {
    let first = insert_user(&db, "ad1@example.com", Role::Admin).await;
    let second = insert_user(&db, "ad2@example.com", Role::Admin).await;
    db.users.delete(first.id).await.unwrap();
    assert_eq!(db.users.find_by_id(first.id).await.unwrap(), None);
    assert_conflict(
        db.users.delete(second.id).await,
        "cannot delete the last active admin",
    );
}

async fn deleting_a_missing_user_is_not_found(db: TestDb) {
    assert_not_found(db.users.delete(Uuid::now_v7()).await);
}

async fn user_list_is_newest_first_with_id_tie_breaks_and_pages(db: TestDb) {
    let mut users = Vec::new();
    for i in 0..7 {
        let mut user = new_user(&format!("list{i}@example.com"), None, Role::User);
        // Pairs share a creation instant, so the id has to break ties.
        user.created_at = at(i / 2);
        user.updated_at = user.created_at;
        db.users.insert(&user, &hash_of("l")).await.unwrap();
        users.push(user);
    }
    let mut expected = users.clone();
    expected.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));

    let full = db.users.list(&UserFilter::default(), all()).await.unwrap();
    assert_eq!(full.items, expected);
    assert_eq!((full.total, full.limit, full.offset), (7, 100, 0));

    let mut paged = Vec::new();
    for offset in (0..7).step_by(3) {
        let page = db
            .users
            .list(&UserFilter::default(), page(3, offset))
            .await
            .unwrap();
        assert_eq!((page.total, page.limit, page.offset), (7, 3, offset));
        paged.extend(page.items);
    }
    assert_eq!(paged, expected);

    let beyond = db
        .users
        .list(&UserFilter::default(), page(3, 50))
        .await
        .unwrap();
    assert!(beyond.items.is_empty());
    assert_eq!(beyond.total, 7);
}

async fn user_list_filters_by_role_and_activity(db: TestDb) {
    let admin = insert_user(&db, "a@example.com", Role::Admin).await;
    let user = insert_user(&db, "u@example.com", Role::User).await;
    let mut inactive = new_user("i@example.com", None, Role::User);
    inactive.is_active = false;
    db.users.insert(&inactive, &hash_of("i")).await.unwrap();

    let listed = |filter: UserFilter| {
        let users = db.users.clone();
        async move {
            let page = users.list(&filter, all()).await.unwrap();
            assert_eq!(page.total, page.items.len() as u64);
            page.items.into_iter().map(|u| u.id).collect::<HashSet<_>>()
        }
    };
    let role = |role| UserFilter {
        role: Some(role),
        ..UserFilter::default()
    };
    let active = |is_active| UserFilter {
        is_active: Some(is_active),
        ..UserFilter::default()
    };
    assert_eq!(listed(role(Role::Admin)).await, HashSet::from([admin.id]));
    assert_eq!(
        listed(role(Role::User)).await,
        HashSet::from([user.id, inactive.id])
    );
    assert_eq!(listed(active(false)).await, HashSet::from([inactive.id]));
    assert_eq!(
        listed(active(true)).await,
        HashSet::from([admin.id, user.id])
    );
    let active_users = UserFilter {
        role: Some(Role::User),
        is_active: Some(true),
        q: None,
    };
    assert_eq!(listed(active_users).await, HashSet::from([user.id]));
}

async fn user_list_q_matches_email_or_username_literally_and_case_insensitively(db: TestDb) {
    let percent = new_user("100%off@example.com", Some("Deal_Hunter"), Role::User);
    let plain = new_user("100xoff@example.com", Some("DealXHunter"), Role::User);
    let other = new_user("zed@example.org", Some("zed"), Role::User);
    for user in [&percent, &plain, &other] {
        db.users.insert(user, &hash_of("q")).await.unwrap();
    }
    let search = |q: &str| {
        let users = db.users.clone();
        let filter = UserFilter {
            q: Some(q.to_owned()),
            ..UserFilter::default()
        };
        async move {
            let page = users.list(&filter, all()).await.unwrap();
            assert_eq!(page.total, page.items.len() as u64);
            page.items.into_iter().map(|u| u.id).collect::<HashSet<_>>()
        }
    };
    assert_eq!(search("%").await, HashSet::from([percent.id]));
    assert_eq!(search("0%O").await, HashSet::from([percent.id]));
    assert_eq!(search("l_h").await, HashSet::from([percent.id]));
    assert_eq!(search("DEAL").await, HashSet::from([percent.id, plain.id]));
    assert_eq!(
        search("EXAMPLE.COM").await,
        HashSet::from([percent.id, plain.id])
    );
    assert_eq!(search("ZED").await, HashSet::from([other.id]));
    assert_eq!(search("nobody").await, HashSet::new());
}

// ---------------------------------------------------------------------------------------
// Tasks
// ---------------------------------------------------------------------------------------

async fn inserted_task_is_found_by_id_unchanged(db: TestDb) {
    let owner = insert_user(&db, "owner@example.com", Role::User).await;
    let mut task = new_task(owner.id, "Write the report");
    task.description = description("Quarterly, with charts");
    task.priority = Priority::High;
    task.due_date = Some(at(3600));
    task.set_status(TaskStatus::Done, at(10));
    task.created_at = at(0);
    task.updated_at = at(10);
    insert_task(&db, &task).await;

    assert_eq!(db.tasks.find_by_id(task.id).await.unwrap(), Some(task));
    assert_eq!(db.tasks.find_by_id(Uuid::now_v7()).await.unwrap(), None);
}

async fn task_for_a_missing_owner_is_not_found(db: TestDb) {
    let task = new_task(Uuid::now_v7(), "orphan");
    assert_not_found(db.tasks.insert(&task).await);
    assert_eq!(db.tasks.find_by_id(task.id).await.unwrap(), None);
}

async fn update_with_the_current_version_writes_every_field(db: TestDb) {
    let owner = insert_user(&db, "o1@example.com", Role::User).await;
    let new_owner = insert_user(&db, "o2@example.com", Role::User).await;
    let task = new_task(owner.id, "before");
    insert_task(&db, &task).await;

    let mut changed = task.clone();
    changed.owner_id = new_owner.id;
    changed.title = Title::parse("AFTER").unwrap();
    changed.description = description("Now described");
    changed.priority = Priority::Low;
    changed.due_date = Some(at(500));
    changed.set_status(TaskStatus::InProgress, at(20));
    changed.updated_at = at(20);
    changed.version = 2;
    db.tasks.update(&changed, 1).await.unwrap();
    assert_eq!(
        db.tasks.find_by_id(task.id).await.unwrap(),
        Some(changed.clone())
    );

    // The search copies follow the new texts.
    let found = db
        .tasks
        .list(
            &TaskFilter {
                q: Some("after".into()),
                ..TaskFilter::default()
            },
            TaskSort::default(),
            all(),
        )
        .await
        .unwrap();
    assert_eq!(found.items, vec![changed.clone()]);
    let stale = db
        .tasks
        .list(
            &TaskFilter {
                q: Some("before".into()),
                ..TaskFilter::default()
            },
            TaskSort::default(),
            all(),
        )
        .await
        .unwrap();
    assert_eq!(stale.total, 0);

    // Clearing optional fields clears them.
    let mut cleared = changed.clone();
    cleared.description = None;
    cleared.due_date = None;
    cleared.version = 3;
    db.tasks.update(&cleared, 2).await.unwrap();
    assert_eq!(db.tasks.find_by_id(task.id).await.unwrap(), Some(cleared));
}

async fn stale_version_update_is_precondition_failed_and_changes_nothing(db: TestDb) {
    let owner = insert_user(&db, "stale@example.com", Role::User).await;
    let task = new_task(owner.id, "original");
    insert_task(&db, &task).await;

    let mut changed = task.clone();
    changed.title = Title::parse("overwritten").unwrap();
    changed.version = 3;
    assert_precondition_failed(db.tasks.update(&changed, 2).await);
    assert_eq!(db.tasks.find_by_id(task.id).await.unwrap(), Some(task));
}

async fn updating_a_missing_task_is_not_found(db: TestDb) {
    let owner = insert_user(&db, "missing@example.com", Role::User).await;
    let task = new_task(owner.id, "never stored");
    assert_not_found(db.tasks.update(&task, 1).await);
    assert_eq!(db.tasks.find_by_id(task.id).await.unwrap(), None);
}

async fn reassigning_a_task_to_a_missing_owner_is_not_found_and_changes_nothing(db: TestDb) {
    let owner = insert_user(&db, "keeper@example.com", Role::User).await;
    let task = new_task(owner.id, "mine");
    insert_task(&db, &task).await;
    let mut moved = task.clone();
    moved.owner_id = Uuid::now_v7();
    moved.version = 2;
    assert_not_found(db.tasks.update(&moved, 1).await);
    assert_eq!(db.tasks.find_by_id(task.id).await.unwrap(), Some(task));
}

async fn parallel_updates_with_one_version_let_exactly_one_win(db: TestDb) {
    // Two tasks, so that on PostgreSQL the writers of both can share a batch, each
    // task's writers then taking their turns in it.
    let owner = insert_user(&db, "race@example.com", Role::User).await;
    let contended = [new_task(owner.id, "contended"), new_task(owner.id, "also")];
    for task in &contended {
        insert_task(&db, task).await;
    }

    let mut racers = JoinSet::new();
    for i in 0..8 {
        for task in &contended {
            let tasks = db.tasks.clone();
            let mut mine = task.clone();
            mine.title = Title::parse(&format!("writer {i}")).unwrap();
            mine.version = 2;
            racers.spawn(async move { (mine.clone(), tasks.update(&mine, 1).await) });
        }
    }
    let results = racers.join_all().await;
    for task in &contended {
        let of_task: Vec<_> = results.iter().filter(|(t, _)| t.id == task.id).collect();
        let winners: Vec<&Task> = of_task
            .iter()
            .filter(|(_, r)| r.is_ok())
            .map(|(t, _)| t)
            .collect();
        assert_eq!(winners.len(), 1, "{of_task:?}");
        for (_, result) in of_task.iter().filter(|(_, r)| r.is_err()) {
            assert!(
                matches!(result, Err(DomainError::PreconditionFailed(_))),
                "{result:?}"
            );
        }
        assert_eq!(
            db.tasks.find_by_id(task.id).await.unwrap().as_ref(),
            Some(winners[0])
        );
    }
}

async fn parallel_updates_of_many_tasks_each_get_the_outcome_of_their_own_row(db: TestDb) {
    let owner = insert_user(&db, "updates@example.com", Role::User).await;
    let mut stored = Vec::new();
    for i in 0..24 {
        let task = new_task(owner.id, &format!("task {i}"));
        insert_task(&db, &task).await;
        stored.push(task);
    }
    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Expect {
        Updated,
        Stale,
        Missing,
    }
    let mut running = JoinSet::new();
    for (i, task) in stored.iter().enumerate() {
        let mut changed = task.clone();
        changed.title = Title::parse(&format!("changed {i}")).unwrap();
        changed.version = 2;
        // A stale version changes nothing.
        let (expected_version, expect) = match i % 3 {
            1 => (7, Expect::Stale),
            _ => (1, Expect::Updated),
        };
        let tasks = db.tasks.clone();
        running.spawn(async move {
            let outcome = tasks.update(&changed, expected_version).await;
            (changed, expect, outcome)
        });
    }
    // An update of a task that does not exist.
    let ghost = new_task(owner.id, "ghost");
    let tasks = db.tasks.clone();
    running.spawn(async move {
        let outcome = tasks.update(&ghost, 1).await;
        (ghost, Expect::Missing, outcome)
    });
    for (changed, expect, outcome) in running.join_all().await {
        let now_stored = db.tasks.find_by_id(changed.id).await.unwrap();
        match expect {
            Expect::Updated => {
                outcome.unwrap();
                assert_eq!(now_stored, Some(changed));
            }
            Expect::Stale => {
                assert_precondition_failed(outcome);
                assert_eq!(now_stored.unwrap().version, 1);
            }
            Expect::Missing => {
                assert_not_found(outcome);
                assert!(now_stored.is_none_or(|t| t.version == 1));
            }
        }
    }
}

async fn an_update_to_a_missing_owner_fails_alone_among_parallel_updates(db: TestDb) {
    let owner = insert_user(&db, "orphaned@example.com", Role::User).await;
    let mut running = JoinSet::new();
    for i in 0..16 {
        let task = new_task(owner.id, &format!("task {i}"));
        insert_task(&db, &task).await;
        let mut changed = task.clone();
        changed.version = 2;
        let orphaned = i == 5;
        if orphaned {
            changed.owner_id = Uuid::now_v7(); // no such user
        }
        let tasks = db.tasks.clone();
        running.spawn(async move { (changed.clone(), orphaned, tasks.update(&changed, 1).await) });
    }
    for (changed, orphaned, outcome) in running.join_all().await {
        let now_stored = db.tasks.find_by_id(changed.id).await.unwrap().unwrap();
        if orphaned {
            assert_not_found(outcome);
            assert_eq!(now_stored.version, 1);
        } else {
            outcome.unwrap();
            assert_eq!(now_stored, changed);
        }
    }
}

async fn chains_of_parallel_updates_apply_every_step_in_turn(db: TestDb) {
    // Each writer holds the version the one before it writes: all of them queue at
    // once, and each must still find exactly the version it expects.
    let owner = insert_user(&db, "chain@example.com", Role::User).await;
    let task = new_task(owner.id, "chain");
    insert_task(&db, &task).await;
    let mut running = JoinSet::new();
    for step in 1..=10 {
        let tasks = db.tasks.clone();
        let mut next = task.clone();
        next.version = step + 1;
        next.title = Title::parse(&format!("step {step}")).unwrap();
        running.spawn(async move {
            // A writer whose predecessor has not landed yet retries, as the domain does.
            for _ in 0..1000 {
                match tasks.update(&next, step).await {
                    Err(DomainError::PreconditionFailed(_)) => {
                        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                    }
                    other => return other,
                }
            }
            panic!("step {step} never found version {step}");
        });
    }
    for outcome in running.join_all().await {
        outcome.unwrap();
    }
    let last = db.tasks.find_by_id(task.id).await.unwrap().unwrap();
    assert_eq!((last.version, last.title.as_str()), (11, "step 10"));
}

async fn delete_without_version_removes_the_task_and_a_second_is_not_found(db: TestDb) {
    let owner = insert_user(&db, "del@example.com", Role::User).await;
    let task = new_task(owner.id, "to delete");
    insert_task(&db, &task).await;
    db.tasks.delete(task.id, None).await.unwrap();
    assert_eq!(db.tasks.find_by_id(task.id).await.unwrap(), None);
    assert_not_found(db.tasks.delete(task.id, None).await);
    assert_not_found(db.tasks.delete(task.id, Some(1)).await);
}

async fn delete_with_the_current_version_removes_the_task(db: TestDb) {
    let owner = insert_user(&db, "delv@example.com", Role::User).await;
    let mut task = new_task(owner.id, "versioned");
    task.version = 4;
    insert_task(&db, &task).await;
    db.tasks.delete(task.id, Some(4)).await.unwrap();
    assert_eq!(db.tasks.find_by_id(task.id).await.unwrap(), None);
}

async fn delete_with_a_stale_version_is_precondition_failed_and_keeps_the_task(db: TestDb) {
    let owner = insert_user(&db, "dels@example.com", Role::User).await;
    let task = new_task(owner.id, "keep me");
    insert_task(&db, &task).await;
    assert_precondition_failed(db.tasks.delete(task.id, Some(2)).await);
    assert_eq!(db.tasks.find_by_id(task.id).await.unwrap(), Some(task));
}

async fn parallel_deletes_let_exactly_one_win_and_the_rest_are_not_found(db: TestDb) {
    let owner = insert_user(&db, "pdel@example.com", Role::User).await;
    for expected_version in [None, Some(1)] {
        let task = new_task(owner.id, "contended delete");
        insert_task(&db, &task).await;
        let mut racers = JoinSet::new();
        for _ in 0..8 {
            let tasks = db.tasks.clone();
            racers.spawn(async move { tasks.delete(task.id, expected_version).await });
        }
        let results = racers.join_all().await;
        assert_eq!(
            results.iter().filter(|r| r.is_ok()).count(),
            1,
            "{results:?}"
        );
        for result in results.into_iter().filter(Result::is_err) {
            assert_not_found(result);
        }
        assert_eq!(db.tasks.find_by_id(task.id).await.unwrap(), None);
    }
}

/// Two owners' tasks covering every filter value.
async fn filter_fixture(db: &TestDb) -> (Uuid, Uuid, Vec<Task>) {
    let alice = insert_user(db, "fa@example.com", Role::User).await;
    let bob = insert_user(db, "fb@example.com", Role::User).await;
    let mut tasks = Vec::new();
    let statuses = [TaskStatus::Todo, TaskStatus::InProgress, TaskStatus::Done];
    for i in 0..12_i64 {
        let owner = if i % 2 == 0 { alice.id } else { bob.id };
        let mut task = new_task(owner, &format!("task {i}"));
        task.set_status(statuses[(i % 3) as usize], at(i));
        task.priority = Priority::ALL[((i / 3) % 3) as usize];
        // Every fourth task has no due date; the others are due at 100, 200, ...
        task.due_date = (i % 4 != 0).then(|| at(100 * i));
        task.created_at = at(i);
        task.updated_at = at(i);
        insert_task(db, &task).await;
        tasks.push(task);
    }
    (alice.id, bob.id, tasks)
}

async fn task_list_filters_each_narrow_items_and_total(db: TestDb) {
    let (alice, bob, tasks) = filter_fixture(&db).await;
    let check = |filter: TaskFilter, expected: &dyn Fn(&Task) -> bool| {
        let expected: HashSet<Uuid> = tasks.iter().filter(|t| expected(t)).map(|t| t.id).collect();
        let repo = db.tasks.clone();
        async move {
            assert!(!expected.is_empty(), "the fixture covers {filter:?}");
            let page = repo
                .list(&filter, TaskSort::default(), all())
                .await
                .unwrap();
            let got: HashSet<Uuid> = page.items.iter().map(|t| t.id).collect();
            assert_eq!(got, expected, "{filter:?}");
            assert_eq!(page.total, expected.len() as u64, "{filter:?}");
        }
    };
    let none = TaskFilter::default();

    check(none.clone(), &|_| true).await;
    check(
        TaskFilter {
            owner_id: Some(alice),
            ..none.clone()
        },
        &|t| t.owner_id == alice,
    )
    .await;
    check(
        TaskFilter {
            owner_id: Some(bob),
            ..none.clone()
        },
        &|t| t.owner_id == bob,
    )
    .await;
    for status in TaskStatus::ALL {
        check(
            TaskFilter {
                status: Some(status),
                ..none.clone()
            },
            &|t| t.status == status,
        )
        .await;
    }
    check(
        TaskFilter {
            completed: Some(true),
            ..none.clone()
        },
        &|t| t.status == TaskStatus::Done,
    )
    .await;
    check(
        TaskFilter {
            completed: Some(false),
            ..none.clone()
        },
        &|t| t.status != TaskStatus::Done,
    )
    .await;
    for priority in Priority::ALL {
        check(
            TaskFilter {
                priority: Some(priority),
                ..none.clone()
            },
            &|t| t.priority == priority,
        )
        .await;
    }
    // Strict bounds: a task due exactly at the bound is excluded; no due date never matches.
    check(
        TaskFilter {
            due_before: Some(at(500)),
            ..none.clone()
        },
        &|t| t.due_date.is_some_and(|d| d < at(500)),
    )
    .await;
    check(
        TaskFilter {
            due_after: Some(at(500)),
            ..none.clone()
        },
        &|t| t.due_date.is_some_and(|d| d > at(500)),
    )
    .await;
    check(
        TaskFilter {
            due_after: Some(at(100)),
            due_before: Some(at(700)),
            ..none.clone()
        },
        &|t| t.due_date.is_some_and(|d| d > at(100) && d < at(700)),
    )
    .await;
    // Filters combine with AND.
    check(
        TaskFilter {
            owner_id: Some(alice),
            completed: Some(false),
            priority: Some(Priority::Low),
            ..none.clone()
        },
        &|t| t.owner_id == alice && t.status != TaskStatus::Done && t.priority == Priority::Low,
    )
    .await;
    check(
        TaskFilter {
            owner_id: Some(bob),
            q: Some("TASK 1".into()),
            ..none.clone()
        },
        &|t| t.owner_id == bob && t.title.as_str().starts_with("task 1"),
    )
    .await;
}

async fn search(db: &TestDb, q: &str) -> HashSet<String> {
    let filter = TaskFilter {
        q: Some(q.to_owned()),
        ..TaskFilter::default()
    };
    let page = db
        .tasks
        .list(&filter, TaskSort::default(), all())
        .await
        .unwrap();
    assert_eq!(page.total, page.items.len() as u64);
    page.items
        .into_iter()
        .map(|t| t.title.as_str().to_owned())
        .collect()
}

fn titles(titles: &[&str]) -> HashSet<String> {
    titles.iter().map(|t| (*t).to_owned()).collect()
}

async fn task_search_treats_percent_underscore_and_backslash_literally(db: TestDb) {
    let owner = insert_user(&db, "lit@example.com", Role::User).await;
    for title in [
        "100% done",
        "100 percent done",
        "snake_case",
        "snakeXcase",
        r"back\slash",
        "backslash",
    ] {
        insert_task(&db, &new_task(owner.id, title)).await;
    }
    assert_eq!(search(&db, "%").await, titles(&["100% done"]));
    assert_eq!(search(&db, "0% d").await, titles(&["100% done"]));
    assert_eq!(search(&db, "_").await, titles(&["snake_case"]));
    assert_eq!(search(&db, "e_c").await, titles(&["snake_case"]));
    assert_eq!(search(&db, r"\").await, titles(&[r"back\slash"]));
    assert_eq!(search(&db, r"k\s").await, titles(&[r"back\slash"]));
    assert_eq!(search(&db, r"\%").await, titles(&[]));
    assert_eq!(
        search(&db, "done").await,
        titles(&["100% done", "100 percent done"])
    );
}

async fn task_search_is_case_insensitive_beyond_ascii_in_title_and_description(db: TestDb) {
    let owner = insert_user(&db, "case@example.com", Role::User).await;
    insert_task(&db, &new_task(owner.id, "Visit the école")).await;
    insert_task(&db, &new_task(owner.id, "ΣΟΦΙΑ notes")).await;
    let mut described = new_task(owner.id, "plain title");
    described.description = description("Bring the ÉCOLE forms");
    insert_task(&db, &described).await;
    insert_task(&db, &new_task(owner.id, "unrelated")).await;

    assert_eq!(
        search(&db, "ÉCOLE").await,
        titles(&["Visit the école", "plain title"])
    );
    assert_eq!(
        search(&db, "école").await,
        titles(&["Visit the école", "plain title"])
    );
    assert_eq!(search(&db, "σοφια").await, titles(&["ΣΟΦΙΑ notes"]));
    assert_eq!(search(&db, "VISIT").await, titles(&["Visit the école"]));
    assert_eq!(search(&db, "Forms").await, titles(&["plain title"]));
}

/// The order the port promises, computed independently in Rust.
fn expected_order(tasks: &[Task], sort: TaskSort) -> Vec<Uuid> {
    let mut sorted = tasks.to_vec();
    sorted.sort_by(|a, b| {
        if sort.key == TaskSortKey::DueDate {
            // Nulls last, whatever the direction.
            let nulls = a.due_date.is_none().cmp(&b.due_date.is_none());
            if nulls != Ordering::Equal {
                return nulls;
            }
        }
        let by_key = match sort.key {
            TaskSortKey::CreatedAt => a.created_at.cmp(&b.created_at),
            TaskSortKey::UpdatedAt => a.updated_at.cmp(&b.updated_at),
            TaskSortKey::DueDate => a.due_date.cmp(&b.due_date),
            TaskSortKey::Priority => a.priority.cmp(&b.priority),
            TaskSortKey::Title => a.title.as_str().cmp(b.title.as_str()),
        };
        let order = by_key.then(a.id.cmp(&b.id));
        if sort.descending {
            order.reverse()
        } else {
            order
        }
    });
    ids(&sorted, |t| t.id)
}

/// Tasks with many ties on every key, so the tie-breaker is exercised everywhere.
async fn sort_fixture(db: &TestDb) -> Vec<Task> {
    let owner = insert_user(db, "sort@example.com", Role::User).await;
    let titles = [
        "beta", "Alpha", "alpha", "Beta", "école", "Zulu", "beta", "École", "Ωmega", "alpha",
        "zulu", "Alpha",
    ];
    let mut tasks = Vec::new();
    for (i, title) in titles.into_iter().enumerate() {
        let i = i as i64;
        let mut task = new_task(owner.id, title);
        task.priority = Priority::ALL[(i % 3) as usize];
        task.created_at = at(i % 4);
        task.updated_at = at((i * 7) % 5);
        task.due_date = (i % 3 != 1).then(|| at(1000 * (i % 4)));
        insert_task(db, &task).await;
        tasks.push(task);
    }
    tasks
}

async fn task_list_sorts_by_every_key_in_both_directions_with_id_tie_breaks(db: TestDb) {
    let tasks = sort_fixture(&db).await;
    for key in ["created_at", "updated_at", "due_date", "priority", "title"] {
        for raw in [key.to_owned(), format!("-{key}")] {
            let sort = TaskSort::parse(&raw).unwrap();
            let page = db
                .tasks
                .list(&TaskFilter::default(), sort, all())
                .await
                .unwrap();
            assert_eq!(
                ids(&page.items, |t| t.id),
                expected_order(&tasks, sort),
                "sort={raw}"
            );
        }
    }
}

async fn priority_sorts_by_rank_not_by_name(db: TestDb) {
    let owner = insert_user(&db, "prio@example.com", Role::User).await;
    for priority in [Priority::Medium, Priority::High, Priority::Low] {
        let mut task = new_task(owner.id, priority.as_str());
        task.priority = priority;
        insert_task(&db, &task).await;
    }
    let order = |raw: &str| {
        let repo = db.tasks.clone();
        let sort = TaskSort::parse(raw).unwrap();
        async move {
            let page = repo
                .list(&TaskFilter::default(), sort, all())
                .await
                .unwrap();
            page.items
                .into_iter()
                .map(|t| t.priority)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        order("priority").await,
        [Priority::Low, Priority::Medium, Priority::High]
    );
    assert_eq!(
        order("-priority").await,
        [Priority::High, Priority::Medium, Priority::Low]
    );
}

async fn title_sorts_by_code_point(db: TestDb) {
    let owner = insert_user(&db, "titles@example.com", Role::User).await;
    for title in [
        "école", "apple", "Zebra", "École", "Ωmega", "zebra", "Apple", "banana",
    ] {
        insert_task(&db, &new_task(owner.id, title)).await;
    }
    let page = db
        .tasks
        .list(
            &TaskFilter::default(),
            TaskSort::parse("title").unwrap(),
            all(),
        )
        .await
        .unwrap();
    let got: Vec<&str> = page.items.iter().map(|t| t.title.as_str()).collect();
    // Upper-case ASCII < lower-case ASCII < Latin-1 < Greek: no locale would do this.
    assert_eq!(
        got,
        [
            "Apple", "Zebra", "apple", "banana", "zebra", "École", "école", "Ωmega"
        ]
    );
}

async fn tasks_without_due_date_sort_last_in_both_directions(db: TestDb) {
    let owner = insert_user(&db, "due@example.com", Role::User).await;
    for (title, due) in [
        ("none-1", None),
        ("late", Some(at(300))),
        ("none-2", None),
        ("early", Some(at(100))),
        ("middle", Some(at(200))),
    ] {
        let mut task = new_task(owner.id, title);
        task.due_date = due;
        insert_task(&db, &task).await;
    }
    let order = |raw: &str| {
        let repo = db.tasks.clone();
        let sort = TaskSort::parse(raw).unwrap();
        async move {
            let page = repo
                .list(&TaskFilter::default(), sort, all())
                .await
                .unwrap();
            page.items
                .into_iter()
                .map(|t| t.title.as_str().to_owned())
                .collect::<Vec<_>>()
        }
    };
    // Ties among the undated are broken by id (creation order here) in the sort's direction.
    assert_eq!(
        order("due_date").await,
        ["early", "middle", "late", "none-1", "none-2"]
    );
    assert_eq!(
        order("-due_date").await,
        ["late", "middle", "early", "none-2", "none-1"]
    );
}

async fn pages_of_tasks_cover_every_match_exactly_once(db: TestDb) {
    let tasks = sort_fixture(&db).await;
    for raw in ["-created_at", "due_date", "-priority", "title"] {
        let sort = TaskSort::parse(raw).unwrap();
        let mut seen = Vec::new();
        for offset in (0..tasks.len() as u64).step_by(5) {
            let page = db
                .tasks
                .list(&TaskFilter::default(), sort, page(5, offset))
                .await
                .unwrap();
            assert_eq!(page.total, tasks.len() as u64);
            assert_eq!((page.limit, page.offset), (5, offset));
            seen.extend(ids(&page.items, |t| t.id));
        }
        assert_eq!(seen, expected_order(&tasks, sort), "sort={raw}");
    }

    // A page past the end has no rows but still knows the total; no match at all is 0.
    let past = tasks.len() as u64 + 3;
    let page_past = db
        .tasks
        .list(&TaskFilter::default(), TaskSort::default(), page(5, past))
        .await
        .unwrap();
    assert!(page_past.items.is_empty());
    assert_eq!(page_past.total, tasks.len() as u64);
    let nobody = TaskFilter {
        owner_id: Some(Uuid::now_v7()),
        ..TaskFilter::default()
    };
    let empty = db
        .tasks
        .list(&nobody, TaskSort::default(), page(5, 0))
        .await
        .unwrap();
    assert_eq!((empty.items.len(), empty.total), (0, 0));
}

// ---------------------------------------------------------------------------------------
// Sessions
// ---------------------------------------------------------------------------------------

async fn session_for_a_missing_user_is_not_found(db: TestDb) {
    let session = new_session(Uuid::now_v7(), now() + TimeDelta::days(1));
    assert_not_found(db.sessions.insert(&session).await);
    assert_eq!(stored_session(&db, session.id).await, None);
}

async fn rotating_the_current_token_moves_the_session_to_the_new_one(db: TestDb) {
    let user = insert_user(&db, "rot@example.com", Role::User).await;
    let session = insert_session(&db, user.id).await;
    let new_jti = Uuid::now_v7();
    let new_expiry = now() + TimeDelta::days(14);

    let rotation = db
        .sessions
        .rotate(session.id, session.refresh_jti, new_jti, new_expiry, now())
        .await
        .unwrap();
    let expected = Session {
        refresh_jti: new_jti,
        expires_at: new_expiry,
        ..session.clone()
    };
    assert_eq!(rotation, Rotation::Rotated(expected.clone()));
    assert_eq!(stored_session(&db, session.id).await, Some(expected));

    // The new token rotates in turn.
    let newer = db
        .sessions
        .rotate(session.id, new_jti, Uuid::now_v7(), new_expiry, now())
        .await
        .unwrap();
    assert!(matches!(newer, Rotation::Rotated(_)), "{newer:?}");
}

async fn presenting_a_spent_token_is_reuse_and_revokes_the_session(db: TestDb) {
    let user = insert_user(&db, "reuse@example.com", Role::User).await;
    let session = insert_session(&db, user.id).await;
    let expiry = now() + TimeDelta::days(7);
    let new_jti = Uuid::now_v7();
    db.sessions
        .rotate(session.id, session.refresh_jti, new_jti, expiry, now())
        .await
        .unwrap();

    let detected_at = now();
    let reuse = db
        .sessions
        .rotate(
            session.id,
            session.refresh_jti,
            Uuid::now_v7(),
            expiry,
            detected_at,
        )
        .await
        .unwrap();
    assert_eq!(reuse, Rotation::ReuseDetected);
    let stored = stored_session(&db, session.id).await.unwrap();
    assert_eq!(stored.revoked_at, Some(detected_at));
    assert_eq!(stored.refresh_jti, new_jti);
    assert_eq!(
        db.sessions.find_session_user(session.id).await.unwrap(),
        None
    );

    // Even the current token is dead now.
    let current = db
        .sessions
        .rotate(session.id, new_jti, Uuid::now_v7(), expiry, now())
        .await
        .unwrap();
    assert_eq!(current, Rotation::Rejected);
}

async fn parallel_rotations_of_one_token_let_exactly_one_rotate(db: TestDb) {
    let user = insert_user(&db, "prot@example.com", Role::User).await;
    let session = insert_session(&db, user.id).await;
    let mut racers = JoinSet::new();
    for _ in 0..8 {
        let sessions = db.sessions.clone();
        let session = session.clone();
        racers.spawn(async move {
            sessions
                .rotate(
                    session.id,
                    session.refresh_jti,
                    Uuid::now_v7(),
                    now() + TimeDelta::days(7),
                    now(),
                )
                .await
        });
    }
    let results: Vec<Rotation> = racers
        .join_all()
        .await
        .into_iter()
        .map(|r| r.expect("rotate"))
        .collect();
    let rotated: Vec<&Session> = results
        .iter()
        .filter_map(|r| match r {
            Rotation::Rotated(session) => Some(session),
            _ => None,
        })
        .collect();
    assert_eq!(rotated.len(), 1, "{results:?}");
    // The winner's new token is the one the session now expects.
    let stored = stored_session(&db, session.id).await.unwrap();
    assert_eq!(stored.refresh_jti, rotated[0].refresh_jti);
}

async fn expired_revoked_or_unknown_sessions_are_rejected_and_unchanged(db: TestDb) {
    let user = insert_user(&db, "rej@example.com", Role::User).await;
    let t = now();

    let expired = new_session(user.id, t - TimeDelta::seconds(1));
    let expiring_now = new_session(user.id, t);
    let mut revoked = new_session(user.id, t + TimeDelta::days(1));
    revoked.revoked_at = Some(t - TimeDelta::hours(1));
    for session in [&expired, &expiring_now, &revoked] {
        db.sessions.insert(session).await.unwrap();
    }

    for session in [&expired, &expiring_now, &revoked] {
        // Neither the current token nor a spent one gets anywhere.
        for presented in [session.refresh_jti, Uuid::now_v7()] {
            let rotation = db
                .sessions
                .rotate(
                    session.id,
                    presented,
                    Uuid::now_v7(),
                    t + TimeDelta::days(7),
                    t,
                )
                .await
                .unwrap();
            assert_eq!(rotation, Rotation::Rejected);
        }
        assert_eq!(
            stored_session(&db, session.id).await.as_ref(),
            Some(session)
        );
    }

    let unknown = db
        .sessions
        .rotate(Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7(), t, t)
        .await
        .unwrap();
    assert_eq!(unknown, Rotation::Rejected);
}

async fn find_session_user_returns_the_user_of_a_live_session_only(db: TestDb) {
    let user = insert_user(&db, "fsu@example.com", Role::Admin).await;
    let other = insert_user(&db, "fsu2@example.com", Role::User).await;
    let session = insert_session(&db, user.id).await;
    insert_session(&db, other.id).await;

    assert_eq!(
        db.sessions.find_session_user(session.id).await.unwrap(),
        Some(user)
    );
    assert_eq!(
        db.sessions.find_session_user(Uuid::now_v7()).await.unwrap(),
        None
    );
    db.sessions.revoke(session.id, now()).await.unwrap();
    assert_eq!(
        db.sessions.find_session_user(session.id).await.unwrap(),
        None
    );
}

async fn find_with_session_user_reads_the_live_sessions_user_and_any_users_task(db: TestDb) {
    let user = insert_user(&db, "fws@example.com", Role::User).await;
    let other = insert_user(&db, "fws2@example.com", Role::User).await;
    let session = insert_session(&db, user.id).await;
    insert_session(&db, other.id).await;
    let own = new_task(user.id, "own");
    let theirs = new_task(other.id, "theirs");
    insert_task(&db, &own).await;
    insert_task(&db, &theirs).await;

    // The task is found whoever owns it: visibility is the domain's rule.
    for task in [&own, &theirs] {
        assert_eq!(
            db.tasks
                .find_with_session_user(session.id, task.id)
                .await
                .unwrap(),
            Some((user.clone(), Some(task.clone())))
        );
    }
    // A missing task still answers who the session's user is.
    assert_eq!(
        db.tasks
            .find_with_session_user(session.id, Uuid::now_v7())
            .await
            .unwrap(),
        Some((user.clone(), None))
    );
    // An unknown or revoked session answers nothing, even for an existing task.
    assert_eq!(
        db.tasks
            .find_with_session_user(Uuid::now_v7(), own.id)
            .await
            .unwrap(),
        None
    );
    db.sessions.revoke(session.id, now()).await.unwrap();
    assert_eq!(
        db.tasks
            .find_with_session_user(session.id, own.id)
            .await
            .unwrap(),
        None
    );
}

// On PostgreSQL the server's repositories answer concurrent lookups and identical
// pages together (batches of one statement); each caller must still get exactly the
// answer of its own arguments, never an older one.

async fn parallel_session_checks_each_get_the_answer_of_their_own_keys(db: TestDb) {
    let alice = insert_user(&db, "batch-a@example.com", Role::User).await;
    let bob = insert_user(&db, "batch-b@example.com", Role::Admin).await;
    let alice_session = insert_session(&db, alice.id).await;
    let bob_session = insert_session(&db, bob.id).await;
    let revoked = insert_session(&db, alice.id).await;
    db.sessions.revoke(revoked.id, now()).await.unwrap();
    let alice_task = new_task(alice.id, "alice's");
    let bob_task = new_task(bob.id, "bob's");
    insert_task(&db, &alice_task).await;
    insert_task(&db, &bob_task).await;
    let missing = Uuid::now_v7();

    type Expected = Option<(User, Option<Task>)>;
    let cases: Vec<(Uuid, Uuid, Expected)> = vec![
        (
            alice_session.id,
            alice_task.id,
            Some((alice.clone(), Some(alice_task.clone()))),
        ),
        (
            alice_session.id,
            bob_task.id,
            Some((alice.clone(), Some(bob_task.clone()))),
        ),
        (
            bob_session.id,
            alice_task.id,
            Some((bob.clone(), Some(alice_task.clone()))),
        ),
        (bob_session.id, missing, Some((bob.clone(), None))),
        (revoked.id, alice_task.id, None),
        (Uuid::now_v7(), bob_task.id, None),
    ];
    let mut running = JoinSet::new();
    for round in 0..20 {
        for (session_id, task_id, expected) in cases.clone() {
            let tasks = db.tasks.clone();
            running.spawn(async move {
                let found = tasks
                    .find_with_session_user(session_id, task_id)
                    .await
                    .unwrap();
                assert_eq!(
                    found, expected,
                    "round {round}: session {session_id}, task {task_id}"
                );
            });
        }
        for (session_id, expected) in [
            (alice_session.id, Some(alice.clone())),
            (bob_session.id, Some(bob.clone())),
            (revoked.id, None),
        ] {
            let sessions = db.sessions.clone();
            running.spawn(async move {
                let found = sessions.find_session_user(session_id).await.unwrap();
                assert_eq!(found, expected, "round {round}: session {session_id}");
            });
        }
    }
    running.join_all().await;
}

async fn parallel_lists_each_get_their_own_page(db: TestDb) {
    let alice = insert_user(&db, "pages-a@example.com", Role::User).await;
    let bob = insert_user(&db, "pages-b@example.com", Role::User).await;
    let mut done = 0;
    for (owner, count) in [(alice.id, 7), (bob.id, 3)] {
        for i in 0..count {
            let mut task = new_task(owner, &format!("task {i}"));
            if i % 2 == 0 {
                task.status = TaskStatus::Done;
                done += 1;
            }
            insert_task(&db, &task).await;
        }
    }
    assert_eq!(done, 6);
    let mut running = JoinSet::new();
    for round in 0..20 {
        for (owner, status, limit, items, total) in [
            (alice.id, None, 5, 5, 7),
            (alice.id, None, 20, 7, 7),
            (alice.id, Some(TaskStatus::Done), 20, 4, 4),
            (bob.id, None, 20, 3, 3),
            (bob.id, Some(TaskStatus::Done), 1, 1, 2),
        ] {
            let tasks = db.tasks.clone();
            running.spawn(async move {
                let filter = TaskFilter {
                    owner_id: Some(owner),
                    status,
                    ..TaskFilter::default()
                };
                let page = tasks
                    .list(&filter, TaskSort::default(), page(limit, 0))
                    .await
                    .unwrap();
                let what = format!("round {round}: owner {owner}, {status:?}, limit {limit}");
                assert_eq!((page.items.len(), page.total), (items, total), "{what}");
                assert!(page.items.iter().all(|t| t.owner_id == owner), "{what}");
                assert!(
                    page.items
                        .iter()
                        .all(|t| status.is_none_or(|s| t.status == s)),
                    "{what}"
                );
            });
        }
    }
    running.join_all().await;
}

async fn parallel_inserts_each_get_the_outcome_of_their_own_row(db: TestDb) {
    let owner = insert_user(&db, "inserts@example.com", Role::User).await;
    let gone = Uuid::now_v7(); // no such user
    let twice = new_task(owner.id, "inserted twice");
    let mut running = JoinSet::new();
    for i in 0..40 {
        let tasks = db.tasks.clone();
        let (task, should_work) = match i % 8 {
            // An owner that does not exist fails its own insert only.
            3 => (new_task(gone, &format!("orphan {i}")), false),
            _ => (new_task(owner.id, &format!("task {i}")), true),
        };
        running.spawn(async move { (task.clone(), should_work, tasks.insert(&task).await) });
    }
    for _ in 0..2 {
        let (tasks, task) = (db.tasks.clone(), twice.clone());
        running.spawn(async move { (task.clone(), true, tasks.insert(&task).await) });
    }
    let mut twice_outcomes = Vec::new();
    for (task, should_work, outcome) in running.join_all().await {
        if task.id == twice.id {
            twice_outcomes.push(outcome);
        } else if should_work {
            outcome.unwrap();
            assert_eq!(db.tasks.find_by_id(task.id).await.unwrap(), Some(task));
        } else {
            assert_not_found(outcome);
            assert_eq!(db.tasks.find_by_id(task.id).await.unwrap(), None);
        }
    }
    // Of two inserts of one id exactly one is stored; the other is a conflict.
    let stored = twice_outcomes
        .iter()
        .filter(|outcome| outcome.is_ok())
        .count();
    assert_eq!(stored, 1, "{twice_outcomes:?}");
    assert!(
        twice_outcomes
            .iter()
            .any(|outcome| matches!(outcome, Err(DomainError::Conflict(_)))),
        "{twice_outcomes:?}"
    );
    assert_eq!(db.tasks.find_by_id(twice.id).await.unwrap(), Some(twice));
}

async fn a_task_written_before_a_list_is_in_it_while_others_list_the_same_page(db: TestDb) {
    let user = insert_user(&db, "fresh@example.com", Role::User).await;
    let filter = TaskFilter {
        owner_id: Some(user.id),
        ..TaskFilter::default()
    };
    // Others keep asking for the very page the writer reads back, so that its reads
    // queue behind theirs and are answered together with them.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut readers = JoinSet::new();
    for _ in 0..8 {
        let (tasks, filter, stop) = (db.tasks.clone(), filter.clone(), stop.clone());
        readers.spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                tasks
                    .list(&filter, TaskSort::default(), all())
                    .await
                    .unwrap();
            }
        });
    }
    for i in 0..30 {
        let task = new_task(user.id, &format!("written {i}"));
        insert_task(&db, &task).await;
        let listed = db
            .tasks
            .list(&filter, TaskSort::default(), all())
            .await
            .unwrap();
        assert_eq!(listed.total, i + 1);
        assert!(
            listed.items.iter().any(|t| t.id == task.id),
            "write {i} missing"
        );

        let mut changed = task.clone();
        changed.version = 2;
        changed.title = Title::parse("changed").unwrap();
        db.tasks.update(&changed, 1).await.unwrap();
        let listed = db
            .tasks
            .list(&filter, TaskSort::default(), all())
            .await
            .unwrap();
        let read_back = listed.items.iter().find(|t| t.id == task.id).unwrap();
        assert_eq!(read_back.version, 2, "update {i} not seen");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    readers.join_all().await;
}

async fn revoke_ends_one_session_and_keeps_the_first_revocation_instant(db: TestDb) {
    let user = insert_user(&db, "rev@example.com", Role::User).await;
    let session = insert_session(&db, user.id).await;
    let kept = insert_session(&db, user.id).await;

    let first = at(1);
    db.sessions.revoke(session.id, first).await.unwrap();
    db.sessions.revoke(session.id, at(2)).await.unwrap();
    assert_eq!(
        stored_session(&db, session.id).await.unwrap().revoked_at,
        Some(first)
    );
    assert_eq!(stored_session(&db, kept.id).await.unwrap().revoked_at, None);

    // Unknown sessions are a no-op, not an error.
    db.sessions.revoke(Uuid::now_v7(), now()).await.unwrap();
}

async fn revoke_all_ends_every_session_of_one_user_only(db: TestDb) {
    let user = insert_user(&db, "rall@example.com", Role::User).await;
    let other = insert_user(&db, "rall2@example.com", Role::User).await;
    let mine = [
        insert_session(&db, user.id).await,
        insert_session(&db, user.id).await,
    ];
    let theirs = insert_session(&db, other.id).await;
    db.sessions.revoke(mine[0].id, at(1)).await.unwrap();

    db.sessions.revoke_all(user.id, at(5)).await.unwrap();
    assert_eq!(
        stored_session(&db, mine[0].id).await.unwrap().revoked_at,
        Some(at(1))
    );
    assert_eq!(
        stored_session(&db, mine[1].id).await.unwrap().revoked_at,
        Some(at(5))
    );
    assert_eq!(
        stored_session(&db, theirs.id).await.unwrap().revoked_at,
        None
    );

    db.sessions.revoke_all(Uuid::now_v7(), now()).await.unwrap();
}

async fn purge_deletes_expired_and_revoked_sessions_and_counts_them(db: TestDb) {
    let user = insert_user(&db, "purge@example.com", Role::User).await;
    let t = now();
    let expired = new_session(user.id, t - TimeDelta::seconds(1));
    let expiring_now = new_session(user.id, t);
    let mut revoked = new_session(user.id, t + TimeDelta::days(1));
    revoked.revoked_at = Some(t - TimeDelta::seconds(5));
    let live = new_session(user.id, t + TimeDelta::seconds(1));
    for session in [&expired, &expiring_now, &revoked, &live] {
        db.sessions.insert(session).await.unwrap();
    }

    assert_eq!(db.sessions.purge(t).await.unwrap(), 3);
    for gone in [&expired, &expiring_now, &revoked] {
        assert_eq!(stored_session(&db, gone.id).await, None);
    }
    assert_eq!(stored_session(&db, live.id).await, Some(live));
    assert_eq!(db.sessions.purge(t).await.unwrap(), 0);
}

// ---------------------------------------------------------------------------------------
// SQLite specifics
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn sqlite_in_memory_database_works_with_migrations_and_repositories() {
    let conn = db::connect("sqlite::memory:", 10).await.unwrap();
    Migrator::up(&conn, None).await.unwrap();
    let users = SeaUserRepository::new(conn.clone());
    let user = new_user("mem@example.com", Some("mem"), Role::User);
    users.insert(&user, &hash_of("m")).await.unwrap();
    // Every statement sees the same in-memory database (one connection, never recycled).
    for _ in 0..5 {
        assert_eq!(users.find_by_id(user.id).await.unwrap(), Some(user.clone()));
    }
}

#[tokio::test]
async fn sqlite_connection_enforces_foreign_keys_and_uses_wal() {
    let db = TestDb::sqlite().await;
    let mode = db
        .conn
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Sqlite,
            "PRAGMA journal_mode",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(mode.try_get::<String>("", "journal_mode").unwrap(), "wal");
    let fk = db
        .conn
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Sqlite,
            "PRAGMA foreign_keys",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(fk.try_get::<i32>("", "foreign_keys").unwrap(), 1);
}

#[test]
fn database_url_replaces_only_the_database_name() {
    assert_eq!(
        database_url("postgres://postgres@127.0.0.1:5432/test", "x"),
        "postgres://postgres@127.0.0.1:5432/x"
    );
    assert_eq!(
        database_url("postgres://u:p@h/db?sslmode=disable", "x"),
        "postgres://u:p@h/x?sslmode=disable"
    );
    assert_eq!(
        database_url("postgres://h:5432", "x"),
        "postgres://h:5432/x"
    );
}
