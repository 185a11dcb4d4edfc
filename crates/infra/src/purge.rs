//! Deleting what has expired, a bounded batch per statement.
//!
//! The background job purges dead sessions, used or expired password resets, lapsed
//! login throttles, expired idempotency keys and old changes. In one statement, a
//! backlog of any size (after an outage of the job, or a flood of logins) would be one
//! long delete: it would run into the statement deadline on every try, so the purge
//! would never finish and the table would grow for good, and on SQLite it would hold
//! the one connection from every request for that deadline each time. In batches, each
//! statement deletes at most a batch of rows ([`batch`]) and every request waits at
//! most for one.

use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    Condition, ConnectionTrait, DbBackend, DbErr, EntityTrait, Iterable, PrimaryKeyToColumn,
    QueryFilter,
};

/// The most rows one purge statement deletes (or, for the change log, looks at) on
/// `backend`. On SQLite every request waits while a batch holds the one connection, so
/// batches are small (a few milliseconds each). On PostgreSQL nothing waits for a
/// batch but the purge itself, and a batch that scans the table (a condition no index
/// serves) passes the rows earlier batches deleted until vacuum removes them, so there
/// batches are larger: a backlog of n rows costs n / batch such scans.
pub(crate) fn batch(backend: DbBackend) -> u64 {
    match backend {
        DbBackend::Postgres => 10_000,
        _ => 1_000,
    }
}

/// Deletes every row of `E` that `condition` selects, at most a [`batch`] in each
/// statement (its own transaction), until a statement finds fewer: how many in all.
///
/// Each statement deletes the rows of a batch that still meet `condition` when it
/// deletes them: a row that a concurrent write changed after the batch was chosen (a
/// key claimed again, a throttle that counted a new failure) stays.
pub(crate) async fn in_batches<E, C>(db: &C, condition: Condition) -> Result<u64, DbErr>
where
    E: EntityTrait,
    C: ConnectionTrait,
{
    let size = batch(db.get_database_backend());
    let key = || E::PrimaryKey::iter().map(PrimaryKeyToColumn::into_column);
    let mut purged = 0;
    loop {
        let chosen = Query::select()
            .columns(key())
            .from(E::default())
            .cond_where(condition.clone())
            .limit(size)
            .to_owned();
        let deleted = E::delete_many()
            .filter(Expr::tuple(key().map(Expr::col)).in_subquery(chosen))
            .filter(condition.clone())
            .exec(db)
            .await?
            .rows_affected;
        purged += deleted;
        if deleted < size {
            return Ok(purged);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use sea_orm::{ColumnTrait, DbBackend, PaginatorTrait, Schema};

    use super::*;
    use crate::db::{Database, Deadlines, connect_with};
    use crate::entities::idempotency_key;

    /// A temporary SQLite file holding the idempotency keys' table with `expired` keys
    /// that expired in 2001 and `live` ones that expire in 2099 (for two users, so
    /// that both columns of the key differ), removed when dropped.
    struct Keys(PathBuf);

    impl Keys {
        async fn new(expired: u64, live: u64) -> Self {
            let keys = Self(
                std::env::temp_dir().join(format!("taskforge-purge-{}.db", uuid::Uuid::new_v4())),
            );
            let db = keys.open(Deadlines::for_migrations().statement).await;
            let table =
                Schema::new(DbBackend::Sqlite).create_table_from_entity(idempotency_key::Entity);
            db.execute(&table).await.expect("the table");
            db.execute_unprepared(&format!(
                "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < {}) \
                 INSERT INTO idempotency_keys \
                 SELECT CASE x % 2 WHEN 0 THEN '00000000-0000-7000-8000-000000000001' \
                                   ELSE '00000000-0000-7000-8000-000000000002' END, \
                        'key-' || x, 'f', 'done', NULL, '2001-01-01T00:00:00+00:00', \
                        CASE WHEN x <= {expired} THEN '2001-01-02T00:00:00+00:00' \
                             ELSE '2099-01-01T00:00:00+00:00' END \
                 FROM n",
                expired + live
            ))
            .await
            .expect("the keys");
            db.close().await.expect("closed");
            keys
        }

        /// The file, on a connection whose statements are interrupted after `deadline`.
        async fn open(&self, deadline: Duration) -> Database {
            let deadlines = Deadlines {
                statement: deadline,
                ..Deadlines::default()
            };
            let url = format!("sqlite://{}?mode=rwc", self.0.display());
            let pool = connect_with(&url, 1, &deadlines)
                .await
                .expect("a SQLite file");
            Database::new(pool, deadlines)
        }
    }

    impl Drop for Keys {
        fn drop(&mut self) {
            for suffix in ["", "-wal", "-shm", "-journal"] {
                let mut path = self.0.clone().into_os_string();
                path.push(suffix);
                let _ = std::fs::remove_file(path);
            }
        }
    }

    fn expired() -> Condition {
        let now = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").expect("an instant");
        Condition::all().add(idempotency_key::Column::ExpiresAt.lte(now))
    }

    async fn left(db: &Database) -> (u64, u64) {
        let all = idempotency_key::Entity::find()
            .count(db)
            .await
            .expect("count");
        let expired = idempotency_key::Entity::find()
            .filter(expired())
            .count(db)
            .await
            .expect("count");
        (all, expired)
    }

    #[tokio::test]
    async fn every_matching_row_goes_across_batches_and_no_other() {
        let batch = batch(DbBackend::Sqlite);
        let keys = Keys::new(2 * batch + 7, 11).await;
        let db = keys.open(Duration::from_secs(5)).await;
        let purged = in_batches::<idempotency_key::Entity, _>(&db, expired())
            .await
            .expect("purged");
        assert_eq!(purged, 2 * batch + 7);
        assert_eq!(left(&db).await, (11, 0));
        // Nothing left to purge: a second run deletes nothing.
        let again = in_batches::<idempotency_key::Entity, _>(&db, expired())
            .await
            .expect("purged");
        assert_eq!(again, 0);
    }

    /// A backlog too large for one statement within the deadline: deleted in one
    /// statement it is interrupted (nothing deleted), in batches it goes.
    #[tokio::test]
    async fn a_backlog_longer_than_the_statement_deadline_is_purged() {
        let backlog = 300_000;
        let keys = Keys::new(backlog, 3).await;
        let db = keys.open(Duration::from_millis(250)).await;
        let whole = idempotency_key::Entity::delete_many()
            .filter(expired())
            .exec(&db)
            .await;
        let interrupted = whole.expect_err("one statement over the backlog is interrupted");
        assert!(
            matches!(
                crate::error::db_error(interrupted),
                taskforge_domain::DomainError::Unavailable(_)
            ),
            "interrupted at the deadline"
        );
        assert_eq!(left(&db).await, (backlog + 3, backlog), "rolled back");
        let started = std::time::Instant::now();
        let purged = in_batches::<idempotency_key::Entity, _>(&db, expired())
            .await
            .expect("purged in batches");
        println!("{purged} keys purged in batches in {:?}", started.elapsed());
        assert_eq!(purged, backlog);
        assert_eq!(left(&db).await, (3, 0));
    }
}
