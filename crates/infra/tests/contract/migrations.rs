//! The migrations, up and down, on both SQL databases.

use super::*;

async fn migrations_go_down_and_up_again(db: TestDb) {
    let schema = SchemaManager::new(db.sql());
    for table in ["users", "tasks", "sessions"] {
        assert!(schema.has_table(table).await.unwrap(), "{table} after up");
    }

    // PostgreSQL reads due-date ranges from the list indexes; the two older indexes
    // come back with the last migration's `down` only.
    let old_due_indexes = ["idx_tasks_owner_id_due_date", "idx_tasks_due_date"];
    let postgres = db.sql().get_database_backend() == sea_orm::DbBackend::Postgres;
    for index in old_due_indexes {
        let present = schema.has_index("tasks", index).await.unwrap();
        assert_eq!(present, !postgres, "{index} after up");
    }
    if postgres {
        Migrator::down(db.sql(), Some(1))
            .await
            .expect("the last down");
        for index in old_due_indexes {
            assert!(schema.has_index("tasks", index).await.unwrap(), "{index}");
        }
        Migrator::up(db.sql(), None).await.expect("the last up");
        for index in old_due_indexes {
            assert!(!schema.has_index("tasks", index).await.unwrap(), "{index}");
        }
    }

    Migrator::down(db.sql(), None).await.expect("down");
    for table in ["users", "tasks", "sessions"] {
        assert!(
            !schema.has_table(table).await.unwrap(),
            "{table} after down"
        );
    }

    Migrator::up(db.sql(), None).await.expect("up again");
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
    if db.sql().get_database_backend() == sea_orm::DbBackend::Postgres {
        let row = db
            .sql()
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

sql_contract!(migrations_go_down_and_up_again,);
