//! `LiveChanges` at the edges of its reader's life, in a test process of its own.
//!
//! A watcher's reader wakes when this process commits a change (an in-process signal),
//! when PostgreSQL notifies the `task_changes` channel, and once a second. In the
//! contract suite other tests' writes ring the in-process signal all the time, so
//! there a reader wakes at any moment. Here the tests run one at a time, and while a
//! watcher runs nothing writes through a repository: the changes are written by plain
//! SQL, as another instance of the server would, so only what a test means to wake the
//! reader does.
//!
//! Skipped with a note when `TEST_DATABASE_URL` is unset; each test that ran appends
//! `live-notify` to the file named by `TASKFORGE_PG_MARKER`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, DbBackend, Statement};
use taskforge_domain::task::{
    ChangeOp, FeedCursor, Priority, Task, TaskChange, TaskChangeLog, TaskChangeWatch,
    TaskRepository, TaskStatus, Title, WriteLog,
};
use taskforge_domain::user::{Email, FullName, PasswordHash, Role, User, UserRepository};
use taskforge_infra::live::LiveChanges;
use taskforge_infra::{SeaTaskChangeLog, SeaTaskRepository, SeaUserRepository, db};
use taskforge_migration::{Migrator, MigratorTrait};
use uuid::Uuid;

mod common;

/// Drops the test database when the test ends, also when it panics.
struct DropDatabase {
    admin_url: String,
    name: String,
}

impl Drop for DropDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime for cleanup");
            runtime.block_on(async move {
                let admin = db::connect(&admin_url, 1).await.expect("admin connection");
                let _ = admin
                    .execute_unprepared(&format!(
                        r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#
                    ))
                    .await;
                let _ = admin.close().await;
            });
        })
        .join();
    }
}

/// `admin_url` with its database name replaced by `name`.
fn database_url(admin_url: &str, name: &str) -> String {
    let authority_start = admin_url.find("://").map_or(0, |i| i + 3);
    let (path_start, query) = match admin_url[authority_start..].find('/') {
        Some(slash) => {
            let path_start = authority_start + slash;
            let query = admin_url[path_start..]
                .find('?')
                .map_or("", |q| &admin_url[path_start + q..]);
            (path_start, query)
        }
        None => (admin_url.len(), ""),
    };
    format!("{}/{name}{query}", &admin_url[..path_start])
}

async fn count(conn: &impl ConnectionTrait, sql: &str) -> i64 {
    conn.query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await
        .expect("query")
        .expect("one row")
        .try_get("", "n")
        .expect("a count")
}

/// One test at a time: none may wake another's reader.
static ALONE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A migrated database of its own with a user and their task (written before any
/// watcher runs); its URL, a connection to it, the task, and its removal.
struct Setup {
    url: String,
    conn: sea_orm::DatabaseConnection,
    task: Task,
    _drop: DropDatabase,
}

async fn setup(test: &str) -> Option<Setup> {
    let Ok(admin_url) = std::env::var("TEST_DATABASE_URL") else {
        println!("TEST_DATABASE_URL is not set: skipping {test}");
        return None;
    };
    common::record_run("live-notify");
    let name = format!("tf_test_{}", Uuid::now_v7().simple());
    let admin = db::connect(&admin_url, 1).await.expect("connect");
    admin
        .execute_unprepared(&format!(r#"CREATE DATABASE "{name}""#))
        .await
        .expect("create the test database");
    let _ = admin.close().await;
    let _drop = DropDatabase {
        admin_url: admin_url.clone(),
        name: name.clone(),
    };
    let url = database_url(&admin_url, &name);
    let conn = db::connect(&url, 2)
        .await
        .expect("connect to the test database");
    Migrator::up(&conn, None).await.expect("migrations apply");

    // A user and a task, before any watcher runs.
    let (user, task) = user_and_task();
    SeaUserRepository::new(conn.clone())
        .insert(&user, &PasswordHash::new("$2b$04$x".to_owned()))
        .await
        .unwrap();
    let log = WriteLog {
        change: TaskChange::created(&task, user.id),
        completion: None,
    };
    SeaTaskRepository::new(conn.clone())
        .insert(&task, &log)
        .await
        .unwrap();
    Some(Setup {
        url,
        conn,
        task,
        _drop,
    })
}

/// A user, and a task of theirs.
fn user_and_task() -> (User, Task) {
    let now = taskforge_domain::clock::to_micros(chrono::Utc::now());
    let user = User {
        id: Uuid::now_v7(),
        email: Email::parse("live@example.com").unwrap(),
        username: None,
        full_name: FullName::parse("Watched").unwrap(),
        role: Role::User,
        is_active: true,
        created_at: now,
        updated_at: now,
    };
    let task = Task {
        id: Uuid::now_v7(),
        owner_id: user.id,
        title: Title::parse("watched").unwrap(),
        description: None,
        status: TaskStatus::Todo,
        priority: Priority::Medium,
        due_date: None,
        completed_at: None,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    (user, task)
}

/// Logs the creation of `task` again, as a change to `version`, by plain SQL; whether
/// the change was at once readable (below the oldest transaction still running on the
/// server, which the log's readers wait for).
async fn write_elsewhere(conn: &sea_orm::DatabaseConnection, task: &Task, version: i64) -> bool {
    let txid: i64 = conn
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO task_changes \
             (task_id, owner_id, previous_owner_id, op, version, at, actor_id, changes, task) \
             SELECT task_id, owner_id, NULL, 'updated', $1, at, actor_id, '[]', task \
             FROM task_changes WHERE task_id = $2 AND op = 'created' RETURNING txid",
            [version.into(), task.id.into()],
        ))
        .await
        .expect("a change written elsewhere")
        .expect("one change")
        .try_get("", "txid")
        .expect("its transaction");
    // What the other instance's announcer sends once its write has committed.
    conn.execute_unprepared("NOTIFY task_changes")
        .await
        .expect("the other instance's announcement");
    let xmin = count(
        conn,
        "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS n",
    )
    .await;
    xmin > txid
}

/// Waits until every transaction of the server that started before has ended, so that
/// a reader of the log sees every change committed so far.
async fn settled(conn: &sea_orm::DatabaseConnection) {
    let xid = |sql: &'static str| async move {
        conn.query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
            .await
            .expect("read the snapshot")
            .expect("one row")
            .try_get::<i64>("", "x")
            .expect("a transaction id")
    };
    let started = xid("SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS x").await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while xid("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS x").await < started {
        assert!(
            Instant::now() < deadline,
            "a transaction stayed open for a minute"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_committed_by_another_instance_wakes_the_watcher_long_before_its_poll() {
    let _alone = ALONE.lock().await;
    let Some(Setup {
        url,
        conn,
        task,
        _drop,
    }) = setup("the NOTIFY test").await
    else {
        return;
    };

    // The watcher of another instance: a pool of its own, listening.
    let other: db::Database = db::connect(&url, 2).await.unwrap().into();
    let live = LiveChanges::start(other.clone(), Some(&url));
    let deadline = Instant::now() + Duration::from_secs(10);
    while count(
        &conn,
        "SELECT count(*) AS n FROM pg_stat_activity \
         WHERE datname = current_database() AND query ILIKE 'LISTEN%task_changes%'",
    )
    .await
        == 0
    {
        assert!(Instant::now() < deadline, "no listener of task_changes");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    settled(&conn).await;
    let mut cursor: FeedCursor = SeaTaskChangeLog::new(other).end().await.unwrap();

    // Each change is the task's creation logged again with the next version, by plain
    // SQL: no in-process signal. Right after each one came, the watcher's reader has
    // just read, so its next poll is a second away. A change that another transaction
    // of the server kept unreadable for a while is not counted: the reader reads it at
    // a later wake-up, whatever woke the first.
    let mut latencies = Vec::new();
    for version in 2..=21_i64 {
        let readable = write_elsewhere(&conn, &task, version).await;
        let committed = Instant::now();
        let mut came = Vec::new();
        while came.is_empty() {
            let (events, next) =
                tokio::time::timeout(Duration::from_secs(60), live.next(None, &cursor, 10))
                    .await
                    .expect("the change comes at all")
                    .unwrap();
            came = events;
            cursor = next;
        }
        let latency = committed.elapsed();
        assert_eq!(
            came.iter()
                .map(|e| (e.change.task_id, e.change.version, e.change.op))
                .collect::<Vec<_>>(),
            [(task.id, version, ChangeOp::Updated)]
        );
        // The first is only for the watcher to have read once.
        if version > 2 && readable {
            latencies.push(latency);
        }
        if latencies.len() == 5 {
            break;
        }
    }
    latencies.sort();
    println!("NOTIFY latencies: {latencies:?}");
    if latencies.len() < 3 {
        println!("the server's other transactions kept the changes unreadable: not measured");
        return;
    }
    let median = latencies[latencies.len() / 2];
    assert!(
        median < Duration::from_millis(800),
        "the median change came after {median:?}, as late as the poll: {latencies:?}"
    );
}

/// The statement that logs the creation of the one task again, as a change to `version`.
fn change_to_version(version: i64) -> String {
    format!(
        "INSERT INTO task_changes \
         (task_id, owner_id, previous_owner_id, op, version, at, actor_id, changes, task) \
         SELECT task_id, owner_id, NULL, 'updated', {version}, at, actor_id, '[]', task \
         FROM task_changes WHERE op = 'created'"
    )
}

/// Runs `sql` on SQLite.
async fn sqlite(conn: &sea_orm::DatabaseConnection, sql: &str) {
    conn.execute_unprepared(sql).await.expect(sql);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_waits_before_the_reader_found_the_end_of_the_log_gets_what_came_meanwhile() {
    let _alone = ALONE.lock().await;
    let path = std::env::temp_dir().join(format!("taskforge-live-{}.db", Uuid::now_v7()));
    let _remove = RemoveFile(path.clone());
    let conn = db::connect(&format!("sqlite://{}", path.display()), 1)
        .await
        .expect("SQLite");
    Migrator::up(&conn, None).await.expect("migrations apply");
    let pool: db::Database = conn.clone().into();
    let (user, task) = user_and_task();
    SeaUserRepository::new(pool.clone())
        .insert(&user, &PasswordHash::new("$2b$04$x".to_owned()))
        .await
        .unwrap();
    SeaTaskRepository::new(pool.clone())
        .insert(
            &task,
            &WriteLog {
                change: TaskChange::created(&task, user.id),
                completion: None,
            },
        )
        .await
        .unwrap();
    let cursor = SeaTaskChangeLog::new(pool.clone()).end().await.unwrap();

    // The reader's first look for the end of the log fails (the database is briefly
    // unusable as the server starts: here a table is away); it looks again half a
    // second later, nothing else waking it here.
    let failures = reader_failures();
    let before = failures.load(Ordering::SeqCst);
    sqlite(&conn, "ALTER TABLE task_change_horizon RENAME TO away").await;
    let live = LiveChanges::start(pool.clone(), None);
    let deadline = Instant::now() + Duration::from_secs(10);
    while failures.load(Ordering::SeqCst) == before {
        assert!(
            Instant::now() < deadline,
            "the reader never looked at the log"
        );
        // A stream that asks now fails too (and its reads hand the pool's one
        // connection on to the reader).
        let early = tokio::time::timeout(Duration::from_millis(20), live.next(None, &cursor, 10));
        assert!(
            !matches!(early.await, Ok(Ok(_))),
            "read the log while it was away"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sqlite(&conn, "ALTER TABLE away RENAME TO task_change_horizon").await;

    // Meanwhile a stream asks: nothing after its cursor yet, so it waits.
    let waiting = tokio::spawn({
        let (live, cursor) = (live.clone(), cursor.clone());
        async move { live.next(None, &cursor, 10).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    if waiting.is_finished() {
        panic!("returned with nothing committed: {:?}", waiting.await);
    }
    // Then a change is committed (by another process: no in-process signal), before
    // the reader looks again.
    sqlite(&conn, &change_to_version(2)).await;

    let mut waiting = waiting;
    let answer = tokio::time::timeout(Duration::from_secs(3), &mut waiting).await;
    let Ok(answer) = answer else {
        // The reader is there, and wakes the stream at the next change.
        sqlite(&conn, &change_to_version(3)).await;
        let late = tokio::time::timeout(Duration::from_secs(10), waiting).await;
        let late = late.map(|answer| {
            let (events, _) = answer.unwrap().unwrap();
            events.iter().map(|e| e.change.version).collect::<Vec<_>>()
        });
        panic!(
            "the stream got nothing of the change committed after its cursor: the reader \
             found the end of the log after that change, and wakes streams only for changes \
             after that end. Another change came, and it got the versions {late:?}"
        );
    };
    let (events, _) = answer.unwrap().unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        (events[0].change.task_id, events[0].change.version),
        (task.id, 2)
    );
}

/// How many times a watcher's reader of this process said that reading the log failed
/// (a warning of `taskforge_infra::live`).
fn reader_failures() -> Arc<AtomicUsize> {
    static FAILURES: OnceLock<Arc<AtomicUsize>> = OnceLock::new();
    FAILURES
        .get_or_init(|| {
            let failures = Arc::new(AtomicUsize::new(0));
            tracing::subscriber::set_global_default(CountReaderWarnings(failures.clone()))
                .expect("the only subscriber of this process");
            failures
        })
        .clone()
}

/// Counts the warnings of `taskforge_infra::live`; records nothing else.
struct CountReaderWarnings(Arc<AtomicUsize>);

impl tracing::Subscriber for CountReaderWarnings {
    fn enabled(&self, metadata: &tracing::Metadata<'_>) -> bool {
        metadata.is_event()
            && *metadata.level() == tracing::Level::WARN
            && metadata.target().starts_with("taskforge_infra::live")
    }

    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }

    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}

    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}

    fn event(&self, _: &tracing::Event<'_>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }

    fn enter(&self, _: &tracing::span::Id) {}

    fn exit(&self, _: &tracing::span::Id) {}
}

/// Removes a SQLite file and its journals when the test ends.
struct RemoveFile(std::path::PathBuf);

impl Drop for RemoveFile {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut file = self.0.clone().into_os_string();
            file.push(suffix);
            let _ = std::fs::remove_file(file);
        }
    }
}
