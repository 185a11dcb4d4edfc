//! Builders and assertions the contract tests share.

use super::*;

/// A fixed instant plus `secs`, with a microsecond part so precision is exercised.
pub(crate) fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_795_000_000 + secs, 123_456_000)
        .single()
        .expect("valid instant")
}

pub(crate) fn now() -> DateTime<Utc> {
    to_micros(Utc::now())
}

pub(crate) fn new_user(email: &str, username: Option<&str>, role: Role) -> User {
    let t = now();
    User {
        id: Uuid::now_v7(),
        email: Email::parse(email).expect("valid email"),
        username: username.map(|u| Username::parse(u).expect("valid username")),
        full_name: FullName::parse("Test Person").expect("valid name"),
        role,
        is_active: true,
        created_at: t,
        updated_at: t,
    }
}

pub(crate) fn hash_of(label: &str) -> PasswordHash {
    // The repositories store hashes opaquely; any string does.
    PasswordHash::new(format!("$2b$04$hash-of-{label}"))
}

pub(crate) async fn insert_user(db: &TestDb, email: &str, role: Role) -> User {
    let user = new_user(email, None, role);
    db.users
        .insert(&user, &hash_of(email))
        .await
        .expect("insert user");
    user
}

pub(crate) fn new_task(owner_id: Uuid, title: &str) -> Task {
    let t = now();
    Task {
        id: Uuid::now_v7(),
        owner_id,
        title: Title::parse(title).expect("valid title"),
        description: None,
        status: TaskStatus::Todo,
        priority: Priority::Medium,
        due_date: None,
        completed_at: None,
        created_at: t,
        updated_at: t,
        version: 1,
    }
}

pub(crate) fn description(text: &str) -> Option<Description> {
    Some(Description::parse(text).expect("valid description"))
}

pub(crate) async fn insert_task(db: &TestDb, task: &Task) {
    db.tasks.insert(task).await.expect("insert task");
}

pub(crate) fn new_session(user_id: Uuid, expires_at: DateTime<Utc>) -> Session {
    Session {
        id: Uuid::now_v7(),
        user_id,
        refresh_jti: Uuid::now_v7(),
        created_at: now(),
        expires_at,
        revoked_at: None,
    }
}

pub(crate) async fn insert_session(db: &TestDb, user_id: Uuid) -> Session {
    let session = new_session(user_id, now() + TimeDelta::days(7));
    db.sessions.insert(&session).await.expect("insert session");
    session
}

pub(crate) async fn stored_session(db: &TestDb, id: Uuid) -> Option<Session> {
    // The port has no plain session lookup, so read the row (or the store) directly.
    let conn = match &db.storage {
        Storage::Memory(store) => return store.session(id),
        Storage::Sql(conn) => conn,
    };
    let rows = conn
        .query_all_raw(sea_orm::Statement::from_sql_and_values(
            conn.get_database_backend(),
            match conn.get_database_backend() {
                sea_orm::DbBackend::Postgres => {
                    "SELECT id, user_id, refresh_jti, created_at, expires_at, revoked_at FROM sessions WHERE id = $1"
                }
                _ => {
                    "SELECT id, user_id, refresh_jti, created_at, expires_at, revoked_at FROM sessions WHERE id = ?"
                }
            },
            [id.into()],
        ))
        .await
        .expect("read session");
    rows.first().map(|row| Session {
        id: row.try_get("", "id").expect("id"),
        user_id: row.try_get("", "user_id").expect("user_id"),
        refresh_jti: row.try_get("", "refresh_jti").expect("refresh_jti"),
        created_at: row.try_get("", "created_at").expect("created_at"),
        expires_at: row.try_get("", "expires_at").expect("expires_at"),
        revoked_at: row.try_get("", "revoked_at").expect("revoked_at"),
    })
}

/// A window of `limit` rows from `offset`, counted up to the default cap.
pub(crate) fn page<K>(limit: u64, offset: u64) -> Window<K> {
    Window::at(
        PageRequest::new(Some(limit), Some(offset)).expect("valid page"),
        DEFAULT_MAX_EXACT_COUNT,
    )
}

pub(crate) fn all<K>() -> Window<K> {
    page(100, 0)
}

#[track_caller]
pub(crate) fn assert_conflict<T: Debug>(result: Result<T, DomainError>, message: &str) {
    match result {
        Err(DomainError::Conflict(m)) => assert_eq!(m, message),
        other => panic!("expected Conflict({message:?}), got {other:?}"),
    }
}

#[track_caller]
pub(crate) fn assert_not_found<T: Debug>(result: Result<T, DomainError>) {
    assert!(
        matches!(result, Err(DomainError::NotFound(_))),
        "expected NotFound, got {result:?}"
    );
}

#[track_caller]
pub(crate) fn assert_precondition_failed<T: Debug>(result: Result<T, DomainError>) {
    assert!(
        matches!(result, Err(DomainError::PreconditionFailed(_))),
        "expected PreconditionFailed, got {result:?}"
    );
}

pub(crate) fn ids<T>(items: &[T], id: impl Fn(&T) -> Uuid) -> Vec<Uuid> {
    items.iter().map(id).collect()
}
