//! The one place where database errors become domain errors.

use sea_orm::{DbErr, SqlErr};
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
