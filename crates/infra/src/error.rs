//! The one place where database errors become domain errors.

use sea_orm::{DbErr, RuntimeErr, SqlErr};
use taskforge_domain::DomainError;

/// Translates a SeaORM error: a unique violation is a [`DomainError::Conflict`] naming
/// what is taken, a foreign-key violation a [`DomainError::NotFound`] (the referenced
/// user is gone), anything else [`DomainError::Unexpected`] carrying the error for the logs.
pub(crate) fn db_error(err: DbErr) -> DomainError {
    match err.sql_err() {
        // The message names the violated index on PostgreSQL (`uq_users_username_key`)
        // and the column on SQLite (`users.username_key`); both contain the column name.
        Some(SqlErr::UniqueConstraintViolation(message)) => {
            let what = if message.contains("username") {
                "username already taken"
            } else if message.contains("email") {
                "email already registered"
            } else {
                "already exists"
            };
            DomainError::Conflict(what.to_owned())
        }
        Some(SqlErr::ForeignKeyConstraintViolation(_)) => {
            DomainError::NotFound("user not found".to_owned())
        }
        _ => DomainError::unexpected(err),
    }
}

/// A stored row that the domain's value objects reject: the database holds data this
/// version of the code never writes. That is a storage failure, not a client error.
pub(crate) fn corrupt_row(table: &str, id: uuid::Uuid, err: DomainError) -> DomainError {
    DomainError::unexpected(format!("corrupt {table} row {id}: {err:?}"))
}

/// The sqlx error inside a SeaORM error, if the driver produced it.
fn sqlx_error(err: &DbErr) -> Option<&sea_orm::sqlx::Error> {
    match err {
        DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e))
        | DbErr::Conn(RuntimeErr::SqlxError(e)) => Some(e),
        _ => None,
    }
}

/// The SQLSTATE of an error the database reported, if it reported one.
fn sqlstate(err: &DbErr) -> Option<String> {
    match sqlx_error(err)? {
        sea_orm::sqlx::Error::Database(db) => db.code().map(|code| code.into_owned()),
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
