//! The one place where database errors become domain errors.
//!
//! - A unique or foreign-key violation is a business outcome: a
//!   [`DomainError::Conflict`] naming what is taken (by the violated index's name), or a
//!   [`DomainError::NotFound`] (the referenced user is gone).
//! - A failure that says nothing about the request — the database unreachable,
//!   restarting or out of connections, a deadline passed, a row held too long by
//!   another transaction, a connection lost mid-statement — is
//!   [`DomainError::Unavailable`]: the client gets 503 with `Retry-After`, and a write
//!   whose outcome is unknown is never repeated here.
//! - Anything else is [`DomainError::Unexpected`], carrying the error for the logs.

use sea_orm::sqlx;
use sea_orm::{ConnAcquireErr, DbErr, RuntimeErr, SqlErr};
use taskforge_domain::DomainError;

/// The unique indexes of `users`, by their names on PostgreSQL and their columns on
/// SQLite (which names the column, not the index, in its message).
const UNIQUE_CONFLICTS: [(&str, &str, &str); 2] = [
    ("uq_users_email", "users.email", "email already registered"),
    (
        "uq_users_username_key",
        "users.username_key",
        "username already taken",
    ),
];

/// Translates a SeaORM error (see the module's rules).
pub(crate) fn db_error(err: DbErr) -> DomainError {
    match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => {
            return DomainError::Conflict(unique_conflict(&err).to_owned());
        }
        Some(SqlErr::ForeignKeyConstraintViolation(_)) => {
            return DomainError::NotFound("user not found".to_owned());
        }
        _ => {}
    }
    match unavailable(&err) {
        Some(why) => {
            // The cause is for the operator; the client hears only that it may retry.
            tracing::warn!(error = %err, "database unavailable: {why}");
            DomainError::Unavailable(why.to_owned())
        }
        None => DomainError::unexpected(err),
    }
}

/// What a unique violation is about, by the index (PostgreSQL) or the column (SQLite)
/// the database names.
fn unique_conflict(err: &DbErr) -> &'static str {
    let Some(sqlx::Error::Database(db)) = sqlx_error(err) else {
        return "already exists";
    };
    let constraint = db.constraint();
    let message = db.message();
    UNIQUE_CONFLICTS
        .iter()
        .find(|(index, column, _)| {
            constraint == Some(*index)
                || message
                    .strip_prefix("UNIQUE constraint failed: ")
                    .is_some_and(|columns| columns.split(", ").any(|c| c == *column))
        })
        .map_or("already exists", |(_, _, what)| what)
}

/// Why a failure is temporary and says nothing about the request, if it is.
pub(crate) fn unavailable(err: &DbErr) -> Option<&'static str> {
    if let DbErr::ConnectionAcquire(acquire) = err {
        return Some(match acquire {
            ConnAcquireErr::Timeout => "no database connection became free in time",
            ConnAcquireErr::ConnectionClosed => "the database connection pool is closed",
        });
    }
    if let Some(code) = sqlstate(err) {
        return match code.as_str() {
            "57014" => Some("the database did not answer in time"),
            "55P03" => Some("a row is held by another transaction"),
            "40001" | "40P01" => Some("a concurrent transaction got in the way"),
            // SQLite: SQLITE_BUSY and SQLITE_LOCKED (and their extended codes), past the
            // busy timeout: another process holds the database file.
            code if sqlite_primary(code).is_some_and(|c| c == 5 || c == 6) => {
                Some("the database is locked by another process")
            }
            // SQLITE_INTERRUPT: held past the statement deadline (`sqlite_hold`).
            code if sqlite_primary(code) == Some(9) => Some("the database did not answer in time"),
            // 08: connection exception; 53: insufficient resources (too many
            // connections, out of memory or disk); 57P: the server is shutting down,
            // restarting or not accepting connections yet.
            code if code.starts_with("08") || code.starts_with("53") || code.starts_with("57P") => {
                Some("the database is unavailable")
            }
            _ => None,
        };
    }
    match sqlx_error(err)? {
        sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => {
            Some("the database did not answer in time")
        }
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => Some("the connection to the database was lost"),
        _ => None,
    }
}

/// The primary result code of a SQLite extended result code (`"517"` → 5). SQLite's
/// codes are at most four digits; PostgreSQL's SQLSTATEs always five characters.
fn sqlite_primary(code: &str) -> Option<u32> {
    if code.len() >= 5 {
        return None;
    }
    code.parse::<u32>().ok().map(|c| c & 0xff)
}

/// A stored row that the domain's value objects reject: the database holds data this
/// version of the code never writes. That is a storage failure, not a client error.
pub(crate) fn corrupt_row(table: &str, id: uuid::Uuid, err: DomainError) -> DomainError {
    DomainError::unexpected(format!("corrupt {table} row {id}: {err:?}"))
}

/// The sqlx error inside a SeaORM error, if the driver produced it.
fn sqlx_error(err: &DbErr) -> Option<&sqlx::Error> {
    match err {
        DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e))
        | DbErr::Conn(RuntimeErr::SqlxError(e)) => Some(e),
        _ => None,
    }
}

/// The SQLSTATE (PostgreSQL) or result code (SQLite) of an error the database
/// reported, if it reported one.
fn sqlstate(err: &DbErr) -> Option<String> {
    match sqlx_error(err)? {
        sqlx::Error::Database(db) => db.code().map(|code| code.into_owned()),
        _ => None,
    }
}

/// Whether the database itself refused a statement for what it holds or says — a
/// constraint, a value it cannot take, a row lock it would not wait for — so that the
/// statement wrote nothing and each of its rows may be tried alone.
pub(crate) fn refused_by_database(err: &DbErr) -> bool {
    // 22: data exception, 23: integrity constraint violation, 55P03: lock not available.
    sqlstate(err)
        .is_some_and(|code| code.starts_with("22") || code.starts_with("23") || code == "55P03")
}

/// Whether a statement gave up on a row lock (`NOWAIT`, or `lock_timeout`).
pub(crate) fn lock_not_available(err: &DbErr) -> bool {
    sqlstate(err).as_deref() == Some("55P03")
}

/// Whether the server ended the session before running the statement (it was shutting
/// down, restarting, or the backend was terminated): the statement was not applied
/// and may be sent again on another connection.
pub(crate) fn session_ended_unapplied(err: &DbErr) -> bool {
    sqlstate(err).is_some_and(|code| matches!(code.as_str(), "57P01" | "57P02" | "57P03"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_extended_codes_map_to_their_primary_code() {
        assert_eq!(sqlite_primary("5"), Some(5));
        assert_eq!(sqlite_primary("517"), Some(5)); // SQLITE_BUSY_SNAPSHOT
        assert_eq!(sqlite_primary("262"), Some(6)); // SQLITE_LOCKED_SHAREDCACHE
        assert_eq!(sqlite_primary("57P01"), None);
        assert_eq!(
            sqlite_primary("23557"),
            None,
            "a SQLSTATE is never SQLite's"
        );
    }

    #[test]
    fn an_exhausted_pool_is_unavailable_and_other_errors_are_unexpected() {
        let timeout = DbErr::ConnectionAcquire(ConnAcquireErr::Timeout);
        assert!(matches!(db_error(timeout), DomainError::Unavailable(_)));
        let custom = DbErr::Custom("a bug".into());
        assert!(matches!(db_error(custom), DomainError::Unexpected(_)));
    }
}
