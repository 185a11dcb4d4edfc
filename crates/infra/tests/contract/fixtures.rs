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
    db.tasks
        .insert(task, &log_created(task))
        .await
        .expect("insert task");
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

/// A plain offset page (the history's).
pub(crate) fn offset_page(limit: u64, offset: u64) -> PageRequest {
    PageRequest::new(Some(limit), Some(offset)).expect("valid page")
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

// The change log
// ---------------------------------------------------------------------------------------

/// What a write stores beside its task: `change`, and no idempotency key.
pub(crate) fn plain_log(change: TaskChange) -> WriteLog {
    WriteLog {
        change,
        completion: None,
    }
}

/// The log of its owner creating `task`.
pub(crate) fn log_created(task: &Task) -> WriteLog {
    plain_log(TaskChange::created(task, task.owner_id))
}

/// The log of the owner of `before` changing it into `after`.
pub(crate) fn log_updated(before: &Task, after: &Task) -> WriteLog {
    plain_log(TaskChange::updated(before, after, before.owner_id))
}

/// The log of its owner deleting `task`, now.
pub(crate) fn log_deleted(task: &Task) -> WriteLog {
    plain_log(TaskChange::deleted(task, task.owner_id, now()))
}

/// `task` changed by its owner: the next version, with another title, updated now;
/// stored, its change returned.
pub(crate) async fn bump(db: &TestDb, task: &mut Task, title: &str) -> TaskChange {
    let before = task.clone();
    task.title = Title::parse(title).expect("valid title");
    task.updated_at = now();
    task.version += 1;
    let log = log_updated(&before, task);
    db.tasks
        .update(task, before.version, &log)
        .await
        .expect("update task");
    log.change
}

/// Waits until every transaction that started before this call has ended. The change
/// log's readers on PostgreSQL stay below the oldest transaction still running on the
/// whole server, so a change they must see is one committed before this returns. No
/// wait on the other backends, which show every commit at once.
pub(crate) async fn settled(db: &TestDb) {
    let Storage::Sql(conn) = &db.storage else {
        return;
    };
    if conn.get_database_backend() != sea_orm::DbBackend::Postgres {
        return;
    }
    let xid = |sql: &'static str| async move {
        let row = conn
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                sql,
            ))
            .await
            .expect("read the snapshot")
            .expect("one row");
        row.try_get::<i64>("", "x").expect("a transaction id")
    };
    // Every transaction id below `xmax` was handed out before now.
    let started = xid("SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS x").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while xid("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS x").await < started {
        assert!(
            std::time::Instant::now() < deadline,
            "a transaction of the PostgreSQL server stayed open for a minute"
        );
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
}

/// Every change after `after` that `viewer` sees.
pub(crate) async fn events(
    db: &TestDb,
    viewer: Option<Uuid>,
    after: &FeedCursor,
) -> Vec<ChangeEvent> {
    db.changes
        .events_after(viewer, after, 10_000)
        .await
        .expect("events after a cursor")
}

/// The changes of some events.
pub(crate) fn changes_of(events: &[ChangeEvent]) -> Vec<TaskChange> {
    events.iter().map(|event| event.change.clone()).collect()
}

/// Every logged change of a task, oldest first.
pub(crate) async fn history_of(db: &TestDb, task_id: Uuid) -> Vec<TaskChange> {
    let page = db
        .changes
        .history(task_id, offset_page(100, 0))
        .await
        .expect("history");
    assert_eq!(page.total, page.items.len() as u64);
    changes_of(&page.items)
}

/// Where the log ends now, every earlier write included.
pub(crate) async fn end_now(db: &TestDb) -> FeedCursor {
    settled(db).await;
    db.changes.end().await.expect("end of the log")
}

#[track_caller]
pub(crate) fn assert_gone<T: Debug>(result: Result<T, DomainError>) {
    assert!(
        matches!(result, Err(DomainError::Gone(_))),
        "expected Gone, got {result:?}"
    );
}

#[track_caller]
pub(crate) fn assert_invalid<T: Debug>(result: Result<T, DomainError>) {
    assert!(
        matches!(&result, Err(DomainError::Validation(errors)) if !errors.is_empty()),
        "expected Validation, got {result:?}"
    );
}

/// What tells the changes of the concurrency tests apart.
pub(crate) type ChangeKey = (Uuid, i64, ChangeOp);

pub(crate) fn change_key(change: &TaskChange) -> ChangeKey {
    (change.task_id, change.version, change.op)
}

/// `writers` writers at once, each on a task of its own owned by `owners[w % len]`:
/// creates it, changes it `writes - 2` times, deletes it. What each owner's tasks
/// logged.
pub(crate) async fn write_concurrently(
    db: &TestDb,
    owners: &[Uuid],
    writers: usize,
    writes: usize,
) -> std::collections::HashMap<Uuid, HashSet<ChangeKey>> {
    let mut running = JoinSet::new();
    for w in 0..writers {
        let tasks = db.tasks.clone();
        let owner = owners[w % owners.len()];
        running.spawn(async move {
            let mut written = Vec::new();
            let mut task = new_task(owner, &format!("writer {w}"));
            let log = log_created(&task);
            tasks.insert(&task, &log).await.expect("insert");
            written.push(change_key(&log.change));
            for i in 1..writes - 1 {
                let before = task.clone();
                task.title = Title::parse(&format!("writer {w}, write {i}")).expect("title");
                task.version += 1;
                task.updated_at = now();
                let log = log_updated(&before, &task);
                tasks
                    .update(&task, before.version, &log)
                    .await
                    .expect("update");
                written.push(change_key(&log.change));
            }
            let log = log_deleted(&task);
            tasks
                .delete(task.id, Some(task.version), &log)
                .await
                .expect("delete");
            written.push(change_key(&log.change));
            (owner, written)
        });
    }
    let mut by_owner: std::collections::HashMap<Uuid, HashSet<ChangeKey>> =
        std::collections::HashMap::new();
    for (owner, written) in running.join_all().await {
        assert_eq!(written.len(), writes);
        by_owner.entry(owner).or_default().extend(written);
    }
    by_owner
}

/// Every change of `written` once and nothing else, the changes of each task in the
/// order of its versions, from its creation to its deletion.
#[track_caller]
pub(crate) fn assert_once_each_in_order(
    seen: &[ChangeEvent],
    written: &HashSet<ChangeKey>,
    who: &str,
) {
    let keys: Vec<ChangeKey> = seen.iter().map(|event| change_key(&event.change)).collect();
    let distinct: HashSet<ChangeKey> = keys.iter().copied().collect();
    assert_eq!(distinct.len(), keys.len(), "{who}: a change came twice");
    let missing: Vec<&ChangeKey> = written.difference(&distinct).collect();
    let extra: Vec<&ChangeKey> = distinct.difference(written).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{who}: missing {missing:?}, unexpected {extra:?}"
    );
    let mut last: std::collections::HashMap<Uuid, (i64, ChangeOp)> =
        std::collections::HashMap::new();
    for (task, version, op) in keys {
        match last.insert(task, (version, op)) {
            Some((before, before_op)) => {
                assert_ne!(
                    before_op,
                    ChangeOp::Deleted,
                    "{who}: task {task} changed after its deletion"
                );
                assert!(
                    version > before || (version == before && op == ChangeOp::Deleted),
                    "{who}: task {task} went from {before} ({before_op:?}) to {version} ({op:?})"
                );
            }
            None => assert_eq!(
                op,
                ChangeOp::Created,
                "{who}: task {task} began with {op:?}"
            ),
        }
    }
}
