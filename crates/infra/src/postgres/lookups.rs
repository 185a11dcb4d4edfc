//! The session checks and task reads of concurrent requests, answered together.
//!
//! Every authenticated request reads its session's user; a request about one task then
//! reads the task. On a server under load many such statements differ only in their
//! ids, so one [`Batcher`] per pool takes both kinds of key and answers every key
//! queued on that pool with a single statement over an array of ids: PostgreSQL starts
//! one executor and answers one round trip for the lot. Session checks of new requests
//! and task reads of earlier ones ride in the same statement, so a read costs no more
//! statements than when the two were one join. Each key still gets exactly the row its
//! own statement would have read (see [`super::batch`] for why no answer is older than
//! its request).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use sea_orm::{
    ConnectionTrait, DbBackend, DbErr, FromQueryResult, IdenStatic, Iterable, QueryResult,
    Statement, Value,
};
use uuid::Uuid;

use super::batch::Batcher;
use super::rows;
use crate::db::Database;
use crate::entities::{task, user};

/// One thing a request looks up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Lookup {
    /// The user of a live (unrevoked) session, by session id.
    SessionUser(Uuid),
    /// A task by id, whoever owns it.
    Task(Uuid),
}

/// What a lookup found.
#[derive(Debug, Clone)]
pub(crate) enum Found {
    /// The session's user.
    User(Box<user::Model>),
    /// The task.
    Task(Box<task::Model>),
}

/// The lookups of one pool.
pub(crate) type Lookups = Batcher<Lookup, Found>;

/// The lookup batcher of `db`.
pub(crate) fn batcher(db: &Database) -> Arc<Lookups> {
    super::batcher(
        "lookups",
        super::CONCURRENT_BATCHES,
        db,
        |db, keys| async move { load(&db, keys).await },
    )
}

/// `users.<column> AS u_<column>, ...`: the user row, prefixed so that a task's
/// columns can sit beside it.
fn user_columns() -> String {
    user::Column::iter()
        .map(|column| format!("users.{0} AS u_{0}", column.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Each key is an id and whether it names a session (else a task); a row comes back
/// for every key that found something.
static LOOKUPS_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT k.id AS k_id, k.is_session AS k_is_session, {users}, {tasks} \
         FROM unnest($1::uuid[], $2::bool[]) AS k(id, is_session) \
         LEFT JOIN sessions ON k.is_session AND sessions.id = k.id \
           AND sessions.revoked_at IS NULL \
         LEFT JOIN users ON users.id = sessions.user_id \
         LEFT JOIN tasks ON NOT k.is_session AND tasks.id = k.id \
         WHERE users.id IS NOT NULL OR tasks.id IS NOT NULL",
        users = user_columns(),
        tasks = rows::aliased_columns("t_"),
    )
});

async fn load(db: &Database, keys: Vec<Lookup>) -> Result<HashMap<Lookup, Found>, DbErr> {
    let (ids, sessions): (Vec<Uuid>, Vec<bool>) = keys
        .iter()
        .map(|key| match key {
            Lookup::SessionUser(id) => (*id, true),
            Lookup::Task(id) => (*id, false),
        })
        .unzip();
    let statement = Statement::from_sql_and_values(
        DbBackend::Postgres,
        LOOKUPS_SQL.as_str(),
        [Value::from(ids), Value::from(sessions)],
    );
    db.query_all_raw(statement)
        .await?
        .iter()
        .map(found)
        .collect()
}

fn found(row: &QueryResult) -> Result<(Lookup, Found), DbErr> {
    let id: Uuid = row.try_get("", "k_id")?;
    if row.try_get::<bool>("", "k_is_session")? {
        let user = user::Model::from_query_result(row, "u_")?;
        Ok((Lookup::SessionUser(id), Found::User(Box::new(user))))
    } else {
        let task = task::Model::from_query_result(row, "t_")?;
        Ok((Lookup::Task(id), Found::Task(Box::new(task))))
    }
}
