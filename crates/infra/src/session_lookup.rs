//! The session checks of concurrent requests, batched on PostgreSQL.
//!
//! Every request with an access token reads its session's user (and, for a request
//! about one task, the task) in one statement. On a server under load many such
//! statements differ only in their ids, so a [`Batcher`] answers all the requests
//! queued on one HTTP worker with a single statement over arrays of ids
//! (`unnest($1::uuid[], ...)`): PostgreSQL starts one executor and answers one round
//! trip for the lot. Each key still gets exactly the row its own statement would have
//! read (see [`crate::db::batch`] for why no answer is older than its request).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use sea_orm::{
    ConnectionTrait, DbBackend, DbErr, FromQueryResult, IdenStatic, Iterable, QueryResult,
    Statement, Value,
};
use uuid::Uuid;

use crate::db::Database;
use crate::db::batch::{self, Batcher};
use crate::entities::{task, user};

/// Batches of one kind that may run at once on one worker. Each holds a connection
/// for one round trip; more would only make the batches smaller.
const CONCURRENT_BATCHES: usize = 2;

/// The user of each live session, by session id.
pub(crate) type SessionUsers = Batcher<Uuid, user::Model>;

/// The user of each live session and a task by its id (whoever owns it), by
/// (session id, task id).
pub(crate) type SessionTasks = Batcher<(Uuid, Uuid), (user::Model, Option<task::Model>)>;

/// A batcher of session users on `db`, when `db` batches (PostgreSQL request pools).
pub(crate) fn session_users(db: &Database) -> Option<Arc<SessionUsers>> {
    batch::on_database(db, CONCURRENT_BATCHES, |db, sessions| async move {
        load_session_users(&db, sessions).await
    })
}

/// A batcher of session users with tasks on `db`, when `db` batches.
pub(crate) fn session_tasks(db: &Database) -> Option<Arc<SessionTasks>> {
    batch::on_database(db, CONCURRENT_BATCHES, |db, keys| async move {
        load_session_tasks(&db, keys).await
    })
}

/// `users.<column> AS u_<column>, ...`: the user row, prefixed so that a task's
/// columns can sit beside it.
fn user_columns() -> String {
    user::Column::iter()
        .map(|column| format!("users.{0} AS u_{0}", column.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn task_columns() -> String {
    task::Column::iter()
        .map(|column| format!("tasks.{0} AS t_{0}", column.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Live sessions and their users; the statement's text is built once.
static SESSION_USERS_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT k.sid AS k_sid, {users} \
         FROM unnest($1::uuid[]) AS k(sid) \
         JOIN sessions ON sessions.id = k.sid AND sessions.revoked_at IS NULL \
         JOIN users ON users.id = sessions.user_id",
        users = user_columns()
    )
});

/// Live sessions, their users, and the tasks asked for beside them.
static SESSION_TASKS_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT k.sid AS k_sid, k.tid AS k_tid, {users}, {tasks} \
         FROM unnest($1::uuid[], $2::uuid[]) AS k(sid, tid) \
         JOIN sessions ON sessions.id = k.sid AND sessions.revoked_at IS NULL \
         JOIN users ON users.id = sessions.user_id \
         LEFT JOIN tasks ON tasks.id = k.tid",
        users = user_columns(),
        tasks = task_columns()
    )
});

async fn load_session_users(
    db: &Database,
    sessions: Vec<Uuid>,
) -> Result<HashMap<Uuid, user::Model>, DbErr> {
    let statement = Statement::from_sql_and_values(
        DbBackend::Postgres,
        SESSION_USERS_SQL.as_str(),
        [Value::from(sessions)],
    );
    db.query_all_raw(statement)
        .await?
        .iter()
        .map(|row| {
            Ok((
                row.try_get("", "k_sid")?,
                user::Model::from_query_result(row, "u_")?,
            ))
        })
        .collect()
}

async fn load_session_tasks(
    db: &Database,
    keys: Vec<(Uuid, Uuid)>,
) -> Result<HashMap<(Uuid, Uuid), (user::Model, Option<task::Model>)>, DbErr> {
    let (sessions, tasks): (Vec<Uuid>, Vec<Uuid>) = keys.into_iter().unzip();
    let statement = Statement::from_sql_and_values(
        DbBackend::Postgres,
        SESSION_TASKS_SQL.as_str(),
        [Value::from(sessions), Value::from(tasks)],
    );
    db.query_all_raw(statement)
        .await?
        .iter()
        .map(|row| {
            let key = (row.try_get("", "k_sid")?, row.try_get("", "k_tid")?);
            Ok((
                key,
                (
                    user::Model::from_query_result(row, "u_")?,
                    optional_task(row)?,
                ),
            ))
        })
        .collect()
}

/// The task columns of a row, `None` when the left join found no task.
fn optional_task(row: &QueryResult) -> Result<Option<task::Model>, DbErr> {
    match row.try_get::<Option<Uuid>>("", "t_id")? {
        Some(_) => task::Model::from_query_result(row, "t_").map(Some),
        None => Ok(None),
    }
}
