//! Every migration applies, reverts and re-applies cleanly, one step at a time.
//! (The infra adapter suite runs the full up → down → up cycle on PostgreSQL too.)

use sea_orm_migration::sea_orm::{ConnectOptions, Database, DatabaseConnection};
use taskforge_migration::{Migrator, MigratorTrait, SchemaManager};

async fn memory_db() -> DatabaseConnection {
    let mut options = ConnectOptions::new("sqlite::memory:");
    // One connection, never recycled: the in-memory database lives as long as it does.
    options
        .max_connections(1)
        .min_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .sqlx_logging(false);
    Database::connect(options).await.expect("in-memory SQLite")
}

async fn tables(db: &DatabaseConnection) -> Vec<&'static str> {
    let schema = SchemaManager::new(db);
    let mut present = Vec::new();
    for table in [
        "users",
        "tasks",
        "sessions",
        "password_resets",
        "login_throttles",
        "task_changes",
    ] {
        if schema.has_table(table).await.expect("has_table") {
            present.push(table);
        }
    }
    present
}

/// Whether `sessions` has every column the accounts migration adds.
async fn session_columns(db: &DatabaseConnection) -> bool {
    let schema = SchemaManager::new(db);
    let mut all = true;
    for column in ["user_agent", "ip", "last_used_at"] {
        all &= schema
            .has_column("sessions", column)
            .await
            .expect("has_column");
    }
    all
}

/// Whether `tasks` has the owner's list index of the default sort (one of those the
/// list-indexes migration makes).
async fn list_indexes(db: &DatabaseConnection) -> bool {
    SchemaManager::new(db)
        .has_index("tasks", "idx_tasks_owner_created_id")
        .await
        .expect("has_index")
}

/// Whether SQLite's search index of tasks (an FTS5 table and its key table) exists.
async fn search_index(db: &DatabaseConnection) -> bool {
    let schema = SchemaManager::new(db);
    schema.has_table("task_search").await.expect("has_table")
        && schema
            .has_table("task_search_keys")
            .await
            .expect("has_table")
}

/// How many of the two `updated_at` indexes `tasks` has (a task update maintains them).
async fn updated_at_indexes(db: &DatabaseConnection) -> usize {
    let schema = SchemaManager::new(db);
    let mut found = 0;
    for index in ["idx_tasks_owner_id_updated_at", "idx_tasks_updated_at"] {
        found += usize::from(schema.has_index("tasks", index).await.expect("has_index"));
    }
    found
}

/// Whether `task_recency` exists, and whether `tasks` has its own `updated_at` index of
/// the admin's list (PostgreSQL: one or the other serves the sort).
async fn recency(db: &DatabaseConnection) -> (bool, bool) {
    let schema = SchemaManager::new(db);
    (
        schema.has_table("task_recency").await.expect("has_table"),
        schema
            .has_index("tasks", "idx_tasks_updated_id")
            .await
            .expect("has_index"),
    )
}

/// How many due-date list indexes `tasks` has on PostgreSQL, and how many of them carry
/// the due date itself (`INCLUDE`).
async fn covering_due_indexes(db: &DatabaseConnection) -> (i64, i64) {
    use sea_orm_migration::sea_orm::{ConnectionTrait, Statement};
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) AS due, COUNT(*) FILTER (WHERE indexdef LIKE '%INCLUDE (due_date)') \
             AS covering FROM pg_indexes WHERE tablename = 'tasks' AND indexname LIKE '%\\_due\\_%\\_id'",
        ))
        .await
        .expect("read the indexes")
        .expect("a row");
    (
        row.try_get("", "due").expect("due"),
        row.try_get("", "covering").expect("covering"),
    )
}

/// How many of the due-date indexes from before the list indexes `tasks` has.
async fn old_due_indexes(db: &DatabaseConnection) -> usize {
    let schema = SchemaManager::new(db);
    let mut present = 0;
    for index in ["idx_tasks_owner_id_due_date", "idx_tasks_due_date"] {
        if schema.has_index("tasks", index).await.expect("has_index") {
            present += 1;
        }
    }
    present
}

#[tokio::test]
async fn each_migration_goes_down_in_reverse_order_and_everything_comes_back_up() {
    let db = memory_db().await;
    Migrator::up(&db, None).await.expect("up");
    let all = [
        "users",
        "tasks",
        "sessions",
        "password_resets",
        "login_throttles",
        "task_changes",
    ];
    assert_eq!(tables(&db).await, all);
    assert!(session_columns(&db).await, "sessions know their client");

    assert_eq!(updated_at_indexes(&db).await, 0, "HOT-friendly tasks");
    assert!(list_indexes(&db).await, "every list form has its index");
    assert!(search_index(&db).await, "SQLite searches tasks by an index");
    assert_eq!(old_due_indexes(&db).await, 2, "SQLite keeps them");

    Migrator::down(&db, Some(1))
        .await
        .expect("down old due indexes (nothing on SQLite)");
    assert_eq!(old_due_indexes(&db).await, 2);
    Migrator::down(&db, Some(1))
        .await
        .expect("down covering due indexes (nothing on SQLite)");
    assert!(list_indexes(&db).await);
    Migrator::down(&db, Some(1))
        .await
        .expect("down task recency (nothing on SQLite)");
    assert!(list_indexes(&db).await);
    Migrator::down(&db, Some(1))
        .await
        .expect("down search index");
    assert!(!search_index(&db).await, "the search index is gone");
    assert!(list_indexes(&db).await);
    Migrator::down(&db, Some(1))
        .await
        .expect("down list indexes");
    assert!(!list_indexes(&db).await, "the list indexes are gone");
    assert_eq!(tables(&db).await, all);
    Migrator::down(&db, Some(1))
        .await
        .expect("down task changes");
    assert_eq!(tables(&db).await, &all[..5]);
    Migrator::down(&db, Some(1)).await.expect("down accounts");
    assert_eq!(tables(&db).await, ["users", "tasks", "sessions"]);
    assert!(!session_columns(&db).await, "the session columns are gone");
    Migrator::down(&db, Some(1))
        .await
        .expect("down hot task updates");
    assert_eq!(tables(&db).await, ["users", "tasks", "sessions"]);
    assert_eq!(updated_at_indexes(&db).await, 2, "the indexes are back");
    Migrator::down(&db, Some(1)).await.expect("down sessions");
    assert_eq!(tables(&db).await, ["users", "tasks"]);
    Migrator::down(&db, Some(1)).await.expect("down tasks");
    assert_eq!(tables(&db).await, ["users"]);
    Migrator::down(&db, Some(1)).await.expect("down users");
    assert!(tables(&db).await.is_empty());

    Migrator::up(&db, None).await.expect("up again");
    assert_eq!(tables(&db).await, all);
    assert!(session_columns(&db).await);
    assert_eq!(updated_at_indexes(&db).await, 0);
    assert!(list_indexes(&db).await);
    assert!(search_index(&db).await);
}

#[test]
fn migrations_are_named_by_date_verb_and_noun_in_order() {
    let names: Vec<String> = Migrator::migrations()
        .iter()
        .map(|m| m.name().to_owned())
        .collect();
    assert_eq!(
        names,
        [
            "m20261125_000001_create_users",
            "m20261125_000002_create_tasks",
            "m20261125_000003_create_sessions",
            "m20261204_000004_hot_task_updates",
            "m20261206_000005_accounts",
            "m20261206_000006_task_changes",
            "m20261206_000007_list_indexes",
            "m20261206_000008_sqlite_task_search",
            "m20261206_000009_task_recency",
            "m20261206_000010_covering_due_indexes",
            "m20261207_000011_drop_old_due_indexes",
        ]
    );
}

/// The same cycle on PostgreSQL, when `TEST_DATABASE_URL` names a server to create a
/// database on (the adapter suites run there too, but only ever upwards).
#[tokio::test]
async fn on_postgresql_everything_goes_down_and_comes_back_up() {
    use sea_orm_migration::sea_orm::ConnectionTrait;
    let Ok(admin_url) = std::env::var("TEST_DATABASE_URL") else {
        println!("TEST_DATABASE_URL is not set: skipping the PostgreSQL run");
        return;
    };
    let name = format!("tf_migrations_{}", std::process::id());
    let admin = Database::connect(&admin_url)
        .await
        .expect("admin connection");
    let _ = admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name}"))
        .await;
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create the database");
    let (base, _) = admin_url
        .rsplit_once('/')
        .expect("a URL ending in /<database>");
    let db = Database::connect(format!("{base}/{name}"))
        .await
        .expect("connect");
    Migrator::up(&db, None).await.expect("up");
    assert!(session_columns(&db).await);
    // The due-date list indexes serve the due-date ranges; one step down, the two
    // older indexes are back.
    assert_eq!(old_due_indexes(&db).await, 0);
    Migrator::down(&db, Some(1))
        .await
        .expect("down old due indexes");
    assert_eq!(old_due_indexes(&db).await, 2);
    // The four due-date list indexes carry the due date; one step down, no longer.
    assert_eq!(covering_due_indexes(&db).await, (4, 4));
    Migrator::down(&db, Some(1))
        .await
        .expect("down covering due indexes");
    assert_eq!(covering_due_indexes(&db).await, (4, 0));
    // The `updated_at` sort's indexes live on `task_recency`, which the triggers keep in
    // step with `tasks`; one step down puts them back on `tasks`.
    assert_eq!(recency(&db).await, (true, false));
    Migrator::down(&db, Some(1))
        .await
        .expect("down task recency");
    assert_eq!(recency(&db).await, (false, true));
    Migrator::up(&db, None)
        .await
        .expect("up task recency again");
    assert_eq!(recency(&db).await, (true, false));
    Migrator::down(&db, None).await.expect("down, every step");
    assert!(tables(&db).await.is_empty());
    Migrator::up(&db, None).await.expect("up again");
    assert!(session_columns(&db).await);
    assert_eq!(covering_due_indexes(&db).await, (4, 4));
    assert_eq!(old_due_indexes(&db).await, 0);
    db.close().await.expect("close");
    admin
        .execute_unprepared(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .await
        .expect("drop the database");
}
