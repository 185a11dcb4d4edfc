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

/// How many rows of the SQLite search index hold `needle` (a phrase of 3+ characters).
async fn indexed(db: &TestDb, needle: &str) -> i64 {
    let row = db
        .sql()
        .query_one_raw(sea_orm::Statement::from_sql_and_values(
            sea_orm::DbBackend::Sqlite,
            "SELECT COUNT(*) AS n FROM task_search WHERE task_search MATCH ?",
            [format!("\"{needle}\"").into()],
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "n").unwrap()
}

/// One number that `sql` selects as `n`.
async fn scalar(db: &TestDb, sql: &str) -> i64 {
    let row = db
        .sql()
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Sqlite,
            sql,
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "n").unwrap()
}

/// The titles of `owner`'s tasks matching `q`, through the repository.
async fn found(db: &TestDb, owner: Uuid, q: &str) -> Vec<String> {
    let filter = TaskFilter {
        owner_id: Some(owner),
        q: Some(q.to_owned()),
        ..TaskFilter::default()
    };
    let page = db
        .tasks
        .list(&filter, TaskSort::default(), all())
        .await
        .unwrap();
    page.items
        .into_iter()
        .map(|t| t.title.as_str().to_owned())
        .collect()
}

#[tokio::test]
async fn bundled_sqlite_has_fts5_with_the_trigram_tokenizer() {
    let db = TestDb::sqlite("contract").await;
    let sql = db.sql();
    sql.execute_unprepared(
        "CREATE VIRTUAL TABLE probe USING fts5(t, tokenize = 'trigram case_sensitive 1')",
    )
    .await
    .expect("FTS5 and the trigram tokenizer");
    sql.execute_unprepared("INSERT INTO probe (t) VALUES ('École'), ('école')")
        .await
        .unwrap();
    // Case-sensitive substrings: only the lower-case row holds "éco".
    assert_eq!(
        scalar(
            &db,
            "SELECT COUNT(*) AS n FROM probe WHERE probe MATCH '\"éco\"'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn sqlite_search_index_follows_every_write() {
    let db = TestDb::sqlite("contract").await;
    let owner = insert_user(&db, "idx@example.com", Role::User).await;
    for i in 0..5 {
        insert_task(&db, &new_task(owner.id, &format!("filler {i}"))).await;
    }
    let mut task = new_task(owner.id, "Zanzibar TRIP");
    task.description = description("Pack the ÉCHARPE");
    insert_task(&db, &task).await;
    assert_eq!(indexed(&db, "zanzibar trip").await, 1);
    assert_eq!(indexed(&db, "écharpe").await, 1);
    // The index holds the lower-cased copies only, exactly.
    assert_eq!(indexed(&db, "Zanzibar").await, 0);

    // A change of status alone leaves the index as it was; a new title moves the task.
    let before = task.clone();
    task.set_status(TaskStatus::Done, now());
    task.version += 1;
    db.tasks
        .update(&task, before.version, &log_updated(&before, &task))
        .await
        .unwrap();
    assert_eq!(indexed(&db, "zanzibar").await, 1);
    bump(&db, &mut task, "Lisbon trip").await;
    assert_eq!(indexed(&db, "zanzibar").await, 0);
    assert_eq!(indexed(&db, "lisbon").await, 1);
    assert_eq!(indexed(&db, "écharpe").await, 1);

    db.tasks
        .delete(task.id, Some(task.version), &log_deleted(&task))
        .await
        .unwrap();
    assert_eq!(indexed(&db, "lisbon").await, 0);
    assert_eq!(indexed(&db, "écharpe").await, 0);
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) AS n FROM task_search_keys").await,
        5
    );
    assert_eq!(indexed(&db, "filler").await, 5);
}

#[tokio::test]
async fn sqlite_search_reads_the_index_for_needles_of_three_characters_or_more() {
    let db = TestDb::sqlite("contract").await;
    let owner = insert_user(&db, "reads@example.com", Role::User).await;
    for i in 0..5 {
        insert_task(&db, &new_task(owner.id, &format!("filler {i}"))).await;
    }
    insert_task(&db, &new_task(owner.id, "Quokka photos")).await;
    assert_eq!(found(&db, owner.id, "QUOKKA").await, ["Quokka photos"]);
    // Take the task out of the index behind the triggers' back: a needle the index
    // serves no longer finds it, and one shorter than a trigram (a scan) still does.
    db.sql()
        .execute_unprepared(
            "DELETE FROM task_search_keys WHERE task_id = \
             (SELECT id FROM tasks WHERE title = 'Quokka photos')",
        )
        .await
        .unwrap();
    assert!(found(&db, owner.id, "quokka").await.is_empty());
    assert!(found(&db, owner.id, "kka").await.is_empty());
    assert_eq!(found(&db, owner.id, "kk").await, ["Quokka photos"]);
}

#[tokio::test]
async fn sqlite_search_index_is_filled_from_existing_rows_and_goes_down() {
    let db = TestDb::sqlite("contract").await;
    let owner = insert_user(&db, "fill@example.com", Role::User).await;
    insert_task(&db, &new_task(owner.id, "Indexed by its trigger")).await;
    // Down to before the search index's migration, with the ones after it (each of them
    // PostgreSQL's alone, nothing on SQLite).
    while !Migrator::get_pending_migrations(db.sql())
        .await
        .expect("pending migrations")
        .iter()
        .any(|m| m.name() == "m20261206_000008_sqlite_task_search")
    {
        Migrator::down(db.sql(), Some(1)).await.expect("down");
    }
    let schema = SchemaManager::new(db.sql());
    for table in ["task_search", "task_search_keys"] {
        assert!(
            !schema.has_table(table).await.unwrap(),
            "{table} after down"
        );
    }
    insert_task(&db, &new_task(owner.id, "Written with no index")).await;
    Migrator::up(db.sql(), None).await.expect("up");
    assert_eq!(indexed(&db, "indexed by").await, 1);
    assert_eq!(indexed(&db, "with no index").await, 1);
    for _ in 0..5 {
        insert_task(&db, &new_task(owner.id, "filler")).await;
    }
    assert_eq!(
        found(&db, owner.id, "NO INDEX").await,
        ["Written with no index"]
    );
}
