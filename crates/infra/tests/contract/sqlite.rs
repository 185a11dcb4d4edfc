//! What only the SQLite connection must do.

use super::*;

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
    let db = TestDb::sqlite("contract").await;
    let mode = db
        .sql()
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Sqlite,
            "PRAGMA journal_mode",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(mode.try_get::<String>("", "journal_mode").unwrap(), "wal");
    let fk = db
        .sql()
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Sqlite,
            "PRAGMA foreign_keys",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(fk.try_get::<i32>("", "foreign_keys").unwrap(), 1);
}
