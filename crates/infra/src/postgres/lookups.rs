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

use sea_orm::{ConnectionTrait, DbBackend, DbErr, Iterable, QueryResult, Statement, Value};
use uuid::Uuid;

use super::batch::Batcher;
use super::rows;
use crate::db::Database;
use crate::entities::{model_at, task, user};

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

/// The users of live sessions (`$1`) and the tasks (`$2`) asked for, one result shape:
/// each branch finds its rows by primary key (`= ANY`), whatever the tables' sizes, and
/// pads the other entity's columns with typed NULLs.
pub(super) static LOOKUPS_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT sessions.id AS k_id, true AS k_is_session, {users}, {no_task} \
         FROM sessions JOIN users ON users.id = sessions.user_id \
         WHERE sessions.id = ANY($1::uuid[]) AND sessions.revoked_at IS NULL \
         UNION ALL \
         SELECT tasks.id, false, {no_user}, {tasks} \
         FROM tasks WHERE tasks.id = ANY($2::uuid[])",
        users = rows::entity_columns::<user::Entity>(Some("users"), "u_"),
        no_task = rows::entity_columns::<task::Entity>(None, "t_"),
        no_user = rows::entity_columns::<user::Entity>(None, "u_"),
        tasks = rows::entity_columns::<task::Entity>(Some("tasks"), "t_"),
    )
});

async fn load(db: &Database, keys: Vec<Lookup>) -> Result<HashMap<Lookup, Found>, DbErr> {
    let (mut sessions, mut tasks) = (Vec::new(), Vec::new());
    for key in keys {
        match key {
            Lookup::SessionUser(id) => sessions.push(id),
            Lookup::Task(id) => tasks.push(id),
        }
    }
    let statement = Statement::from_sql_and_values(
        DbBackend::Postgres,
        LOOKUPS_SQL.as_str(),
        [Value::from(sessions), Value::from(tasks)],
    );
    db.query_all_raw(statement)
        .await?
        .iter()
        .map(found)
        .collect()
}

/// A row of [`LOOKUPS_SQL`], read by position: the key, whether it is a session's,
/// then the user's columns and the task's.
fn found(row: &QueryResult) -> Result<(Lookup, Found), DbErr> {
    const USER: usize = 2;
    let id: Uuid = row.try_get_by_index(0)?;
    if row.try_get_by_index::<bool>(1)? {
        let user = model_at::<user::Entity>(row, USER)?;
        Ok((Lookup::SessionUser(id), Found::User(Box::new(user))))
    } else {
        let task = model_at::<task::Entity>(row, USER + user::Column::iter().count())?;
        Ok((Lookup::Task(id), Found::Task(Box::new(task))))
    }
}
