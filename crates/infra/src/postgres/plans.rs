//! The plans of the fast path's statements that name their rows by key, as its
//! connections keep them: one generic plan per connection ([`super::PLANNER_SETTINGS`]),
//! made by the first execution and kept while the tables grow. A plan made over empty
//! tables is the worst case, so each statement is planned over empty tables here and
//! must still read every table by key: no sequential scan, no index walked whole.
//! (Seen before this test: the update batch's `EXISTS` became a hash of every task's
//! id, each batch reading all 70 000 tasks once the benchmark had created them.)
//!
//! Search pages are the exception: planned for their values (`super::literal`), and a
//! second test checks that each of them is.
//!
//! Needs `TEST_DATABASE_URL` (a database to create a scratch one through); without it
//! the tests say so and pass.

use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;
use sea_orm::{ConnectionTrait, DatabaseConnection, SqlxPostgresConnector, sqlx};
use serde_json::Value;
use taskforge_migration::{Migrator, MigratorTrait};
use uuid::Uuid;

use super::PLANNER_SETTINGS;

/// The statements, by name; each write in both its forms (with the completed keys'
/// CTE, then without).
fn keyed_statements() -> Vec<(&'static str, &'static str)> {
    let mut statements = vec![("lookups", super::lookups::LOOKUPS_SQL.as_str())];
    for (name, forms) in [
        ("inserts", &*super::inserts::INSERT_SQL),
        ("updates", &*super::updates::UPDATE_SQL),
        ("delete", &*super::tasks::DELETE_SQL),
    ] {
        statements.extend(forms.both().map(|sql| (name, sql)));
    }
    statements
}

/// The highest `$n` of `sql`.
fn parameter_count(sql: &str) -> usize {
    sql.split('$')
        .skip(1)
        .filter_map(|rest| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .max()
        .unwrap_or(0)
}

/// Every scan of a table in `plan` (EXPLAIN's JSON node) that does not find its rows
/// by key: a sequential scan, or an index scan without an index condition.
fn unkeyed_scans(plan: &Value, found: &mut Vec<String>) {
    let node_type = plan["Node Type"].as_str().unwrap_or_default();
    let keyed = plan.get("Index Cond").is_some();
    let what = plan["Index Name"]
        .as_str()
        .or(plan["Relation Name"].as_str())
        .unwrap_or_default();
    match node_type {
        "Seq Scan" => found.push(format!("Seq Scan on {what}")),
        "Index Scan" | "Index Only Scan" | "Bitmap Index Scan" if !keyed => {
            found.push(format!("{node_type} on {what} without a condition"));
        }
        _ => {}
    }
    for child in plan["Plans"].as_array().into_iter().flatten() {
        unkeyed_scans(child, found);
    }
}

/// A migrated database of its own for one test, made through `TEST_DATABASE_URL`.
struct Scratch {
    admin: DatabaseConnection,
    /// One connection: statements are prepared and explained on the same one.
    db: DatabaseConnection,
    name: String,
}

impl Scratch {
    /// `None` (with a note) when `TEST_DATABASE_URL` is unset.
    async fn new(test: &str) -> Option<Self> {
        let Ok(admin_url) = std::env::var("TEST_DATABASE_URL") else {
            println!("TEST_DATABASE_URL is not set: skipping {test}");
            return None;
        };
        let admin_options: sqlx::postgres::PgConnectOptions =
            admin_url.parse().expect("TEST_DATABASE_URL parses");
        let admin = SqlxPostgresConnector::from_sqlx_postgres_pool(
            sqlx::postgres::PgPoolOptions::new()
                .max_connections(1)
                .connect_with(admin_options.clone())
                .await
                .expect("connect to TEST_DATABASE_URL"),
        );
        let name = format!("tf_plans_{}", Uuid::now_v7().simple());
        admin
            .execute_unprepared(&format!(r#"CREATE DATABASE "{name}""#))
            .await
            .expect("create the scratch database");
        let db = SqlxPostgresConnector::from_sqlx_postgres_pool(
            sqlx::postgres::PgPoolOptions::new()
                .max_connections(1)
                .connect_with(admin_options.database(&name))
                .await
                .expect("connect to the scratch database"),
        );
        Migrator::up(&db, None).await.expect("migrations apply");
        Some(Self { admin, db, name })
    }

    /// Five users with 10 000 tasks each (every status, priority and due date, a
    /// quarter undated), vacuumed and analyzed.
    async fn populate(&self) {
        for sql in [
            "INSERT INTO users (id, email, role, is_active, password_hash, created_at, updated_at) \
             SELECT gen_random_uuid(), 'user' || g || '@example.com', 'user', true, '-', now(), now() \
             FROM generate_series(0, 4) g",
            "INSERT INTO tasks (id, owner_id, title, title_search, status, priority, due_date, \
             created_at, updated_at, version) \
             SELECT gen_random_uuid(), owners.ids[1 + g % 5], 'task ' || g, 'task ' || g, \
             (ARRAY['todo', 'in_progress', 'done'])[1 + g % 3], 1 + g / 3 % 3, \
             CASE WHEN g % 4 > 0 THEN now() + g * interval '1 minute' END, \
             now() - g * interval '1 second', now() - g * interval '1 second', 1 \
             FROM generate_series(1, 50000) g, (SELECT array_agg(id) AS ids FROM users) owners",
            "VACUUM ANALYZE users",
            "VACUUM ANALYZE tasks",
            "VACUUM ANALYZE task_recency",
        ] {
            self.db
                .execute_unprepared(sql)
                .await
                .unwrap_or_else(|err| panic!("{sql}: {err}"));
        }
    }

    /// The id of a user with tasks.
    async fn an_owner(&self) -> Uuid {
        let row = self
            .db
            .query_one_raw(sea_orm::Statement::from_string(
                self.db.get_database_backend(),
                "SELECT owner_id FROM tasks LIMIT 1",
            ))
            .await
            .expect("read an owner")
            .expect("a task");
        row.try_get("", "owner_id").expect("an owner id")
    }

    /// Sets the fast path's planner settings on the scratch connection.
    async fn plan_as_the_fast_path(&self) {
        for (setting, value) in PLANNER_SETTINGS {
            self.db
                .execute_unprepared(&format!("SET {setting} = '{value}'"))
                .await
                .expect("planner setting applies");
        }
    }

    /// The plan (EXPLAIN's JSON node) of `sql` prepared as `name` and executed with
    /// every parameter NULL: the generic plan, under the fast path's settings.
    async fn generic_plan(&self, name: &str, sql: &str) -> Value {
        let db = &self.db;
        db.execute_unprepared(&format!("PREPARE {name} AS {sql}"))
            .await
            .unwrap_or_else(|err| panic!("{sql} prepares: {err}"));
        let nulls = vec!["NULL"; parameter_count(sql)].join(", ");
        let explained = db
            .query_one_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                format!("EXPLAIN (FORMAT JSON) EXECUTE {name}({nulls})"),
            ))
            .await
            .unwrap_or_else(|err| panic!("{sql} explains: {err}"))
            .expect("a plan");
        let plan: Value = explained.try_get("", "QUERY PLAN").expect("JSON plan");
        plan[0]["Plan"].clone()
    }

    /// The generic plan (as [`Self::generic_plan`], prepared as `name`) of the page of
    /// `filter` in `sort` order in `window`, counting its matches.
    async fn page_plan(
        &self,
        name: &str,
        filter: &taskforge_domain::task::TaskFilter,
        sort: taskforge_domain::task::TaskSort,
        window: &taskforge_domain::page::Window<taskforge_domain::task::TaskPosition>,
    ) -> Value {
        use crate::task_repository::pages::{Counting, PageQuery};
        let query = PageQuery::new(&self.db, filter, sort, window, Counting::Count)
            .await
            .expect("a page query");
        self.generic_plan(name, &query.rows.sql).await
    }

    /// Drops the database.
    async fn remove(self) {
        let _ = self.db.close().await;
        self.admin
            .execute_unprepared(&format!(r#"DROP DATABASE "{}" WITH (FORCE)"#, self.name))
            .await
            .expect("drop the scratch database");
    }
}

/// Runs `test` on a scratch database (skipped, with a note, when `TEST_DATABASE_URL`
/// is unset) and fails on any finding it returns. The database is dropped whether or
/// not the test panics (the panic is caught, then resumed).
async fn check(name: &str, test: impl AsyncFnOnce(&Scratch) -> Vec<String>) {
    let Some(scratch) = Scratch::new(name).await else {
        return;
    };
    let outcome = AssertUnwindSafe(test(&scratch)).catch_unwind().await;
    scratch.remove().await;
    let findings = outcome.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    assert!(findings.is_empty(), "{findings:#?}");
}

/// Every sort of the task list, both directions.
fn every_sort() -> Vec<taskforge_domain::task::TaskSort> {
    use taskforge_domain::task::{TaskSort, TaskSortKey};
    [
        TaskSortKey::CreatedAt,
        TaskSortKey::UpdatedAt,
        TaskSortKey::DueDate,
        TaskSortKey::Priority,
        TaskSortKey::Title,
    ]
    .into_iter()
    .flat_map(|key| [false, true].map(|descending| TaskSort { key, descending }))
    .collect()
}

#[tokio::test]
async fn statements_by_key_read_by_key_when_planned_over_empty_tables() {
    check("the fast path's plan test", async |scratch| {
        scratch.plan_as_the_fast_path().await;
        let mut unkeyed = Vec::new();
        for (i, (statement, sql)) in keyed_statements().into_iter().enumerate() {
            let plan = scratch.generic_plan(&format!("s{i}"), sql).await;
            let mut found = Vec::new();
            unkeyed_scans(&plan, &mut found);
            println!("{statement}: {} unkeyed scans", found.len());
            unkeyed.extend(found.into_iter().map(|scan| format!("{statement}: {scan}")));
        }
        unkeyed
    })
    .await;
}

/// A page that was given a kept count checks the change log for the filter's scope by
/// index, from the count's snapshot on: planned over empty tables, no scan of
/// `task_changes` walks it whole, for the owner's list and for the admin's.
#[tokio::test]
async fn a_kept_count_is_checked_against_the_log_by_index() {
    use taskforge_domain::page::{PageRequest, Window};
    use taskforge_domain::task::{TaskFilter, TaskStatus};

    use crate::task_repository::pages::{Counting, KnownCount, PageQuery};

    check("the kept count plan test", async |scratch| {
        scratch.plan_as_the_fast_path().await;
        let known = KnownCount {
            matching: 7,
            snapshot: "1000:1010:1002".into(),
        };
        let mut unkeyed = Vec::new();
        let owner = TaskFilter {
            owner_id: Some(Uuid::now_v7()),
            ..TaskFilter::default()
        };
        let done = TaskFilter {
            status: Some(TaskStatus::Done),
            ..TaskFilter::default()
        };
        let mut n = 0;
        for filter in &[owner, done] {
            let page = PageRequest::new(Some(20), None).expect("a page");
            let window = Window::at(page, 10_000);
            for sort in every_sort() {
                n += 1;
                let query =
                    PageQuery::new(&scratch.db, filter, sort, &window, Counting::Known(&known))
                        .await
                        .expect("a page query");
                assert!(
                    query.rows.sql.contains("task_changes"),
                    "{}",
                    query.rows.sql
                );
                let plan = scratch
                    .generic_plan(&format!("k{n}"), &query.rows.sql)
                    .await;
                let mut found = Vec::new();
                unkeyed_scans(&plan, &mut found);
                unkeyed.extend(
                    found
                        .into_iter()
                        .filter(|scan| scan.contains("task_changes"))
                        .map(|scan| format!("{filter:?} {sort:?}: {scan}")),
                );
            }
        }
        unkeyed
    })
    .await;
}

/// Every search page (`q`), in every sort and direction, with every filter and a
/// cursor, is sent with its values in its text ([`super::literal`]), and that text runs.
#[tokio::test]
async fn search_pages_are_written_with_their_values_and_run() {
    use taskforge_domain::page::{PageRequest, Window};
    use taskforge_domain::task::{Priority, TaskFilter, TaskPosition, TaskStatus};
    use taskforge_domain::testing::TaskBuilder;

    use crate::task_repository::pages::{Counting, KnownCount, PageQuery};

    check("the search page test", async |scratch| {
        let db = &scratch.db;
        let owner = Uuid::now_v7();
        let at = chrono::Utc::now();
        let filter = TaskFilter {
            owner_id: Some(owner),
            status: Some(TaskStatus::Todo),
            completed: Some(false),
            priority: Some(Priority::High),
            q: Some("it's 100% \\ $1".into()),
            due_before: Some(at),
            due_after: Some(at - chrono::Duration::days(30)),
        };
        let dated = TaskBuilder::new(owner)
            .title("a 'title' \\")
            .due(at)
            .build();
        let undated = TaskBuilder::new(owner).build();
        let known = KnownCount {
            matching: 7,
            snapshot: "1000:1010:1002,1005".into(),
        };
        let mut unwritten = Vec::new();
        for (sort, counting) in every_sort()
            .into_iter()
            .flat_map(|sort| [Counting::Keep, Counting::Known(&known)].map(|c| (sort, c)))
        {
            for after in [None, Some(&dated), Some(&undated)] {
                let page = PageRequest::new(Some(20), None).expect("a page");
                let mut window = Window::at(page, 10_000);
                if let Some(task) = after {
                    window = window.after(TaskPosition::of(task, sort.key));
                }
                let query = PageQuery::new(db, &filter, sort, &window, counting)
                    .await
                    .expect("a page query");
                let Some(sql) = super::literal::inlined(&query.rows) else {
                    unwritten.push(format!("{sort:?}: {}", query.rows.sql));
                    continue;
                };
                db.query_all_raw(sea_orm::Statement::from_string(
                    db.get_database_backend(),
                    sql.clone(),
                ))
                .await
                .unwrap_or_else(|err| panic!("{sql}: {err}"));
            }
        }
        unwritten
    })
    .await;
}

/// Every scan in `plan` that reads table rows for what it walks: anything but an
/// index-only scan, or a scan of a primary key (which reads the rows it finds by key).
/// Not in the count (an init plan): which index it reads depends on the statistics
/// (and over empty tables, any owner index will do).
fn table_reads(plan: &Value, found: &mut Vec<String>) {
    if plan["Parent Relationship"] == "InitPlan" {
        return;
    }
    let node_type = plan["Node Type"].as_str().unwrap_or_default();
    let index = plan["Index Name"].as_str().unwrap_or_default();
    let reads_rows = match node_type {
        "Index Only Scan" => false,
        "Index Scan" => !index.ends_with("_pkey"),
        _ => node_type.contains("Scan") && !node_type.starts_with("Subquery"),
    };
    if reads_rows {
        let what = plan["Relation Name"].as_str().unwrap_or(index);
        found.push(format!("{node_type} on {what} ({index})"));
    }
    for child in plan["Plans"].as_array().into_iter().flatten() {
        table_reads(child, found);
    }
}

/// A page deep by offset, in every sort and direction, in the owner's list and the
/// admin's, reads the rows it skips from an index alone (their ids) and the table only
/// for its own rows, by key: so says its generic plan, made over a populated table
/// with its statistics taken. (A generic plan made over empty tables sorts the
/// owner's rows; PostgreSQL makes it again once `ANALYZE` has seen the table grow.)
/// The due-date sorts since `m20261206_000010_covering_due_indexes`.
#[tokio::test]
async fn offset_pages_skip_rows_by_index_alone() {
    use taskforge_domain::page::{PageRequest, Window};
    use taskforge_domain::task::TaskFilter;

    check("the offset page test", async |scratch| {
        scratch.populate().await;
        scratch.plan_as_the_fast_path().await;
        let own = TaskFilter {
            owner_id: Some(scratch.an_owner().await),
            ..TaskFilter::default()
        };
        let mut reads = Vec::new();
        let mut i = 0;
        // With the count cap above the offset the page carries its count; at the
        // offset it sends none (its rows prove the count).
        for (sort, cap) in every_sort()
            .into_iter()
            .flat_map(|s| [(s, 20_000), (s, 10_000)])
        {
            for filter in [&TaskFilter::default(), &own] {
                let page = PageRequest::new(Some(20), Some(10_000)).expect("a page");
                let window = Window::at(page, cap);
                i += 1;
                let plan = scratch
                    .page_plan(&format!("p{i}"), filter, sort, &window)
                    .await;
                let mut found = Vec::new();
                table_reads(&plan, &mut found);
                let who = if filter.owner_id.is_some() {
                    "owner"
                } else {
                    "admin"
                };
                println!("{sort:?}, {who}, cap {cap}: {found:?}");
                reads.extend(
                    found
                        .into_iter()
                        .map(|r| format!("{sort:?}, {who}, cap {cap}: {r}")),
                );
            }
        }
        reads
    })
    .await;
}

/// Every index scan in `plan` whose index condition tests the due-date list index's
/// expression: `index (condition)`.
fn due_ranges(plan: &Value, found: &mut Vec<String>) {
    let index = plan["Index Name"].as_str().unwrap_or_default();
    let condition = plan["Index Cond"].as_str().unwrap_or_default();
    if index.contains("_due_") && condition.contains("COALESCE(due_date") {
        found.push(format!("{index} ({condition})"));
    }
    for child in plan["Plans"].as_array().into_iter().flatten() {
        due_ranges(child, found);
    }
}

/// A list filtered by due date, in the owner's list and the admin's, counts its matches
/// from a range of the due-date list index, in its generic plan over a populated table
/// (`m20261207_000011_drop_old_due_indexes` dropped the plain due-date indexes that
/// served it; without the range, the count walks a whole index).
#[tokio::test]
async fn due_date_filters_count_a_range_of_the_due_date_list_index() {
    use taskforge_domain::page::{PageRequest, Window};
    use taskforge_domain::task::{TaskFilter, TaskSort};

    check("the due-date filter test", async |scratch| {
        scratch.populate().await;
        scratch.plan_as_the_fast_path().await;
        let owner = scratch.an_owner().await;
        let at = chrono::Utc::now();
        let mut missing = Vec::new();
        let mut i = 0;
        for owner_id in [Some(owner), None] {
            for (before, after) in [(Some(at), None), (None, Some(at))] {
                let filter = TaskFilter {
                    owner_id,
                    due_before: before,
                    due_after: after,
                    ..TaskFilter::default()
                };
                let page = PageRequest::new(Some(20), None).expect("a page");
                let window = Window::at(page, 10_000);
                i += 1;
                let plan = scratch
                    .page_plan(&format!("d{i}"), &filter, TaskSort::default(), &window)
                    .await;
                let mut found = Vec::new();
                due_ranges(&plan, &mut found);
                println!("{filter:?}: {found:?}");
                if found.is_empty() {
                    missing.push(format!("{filter:?}: {plan}"));
                }
            }
        }
        missing
    })
    .await;
}

#[test]
fn the_parameter_count_is_the_highest_placeholder() {
    assert_eq!(parameter_count("SELECT $1, $12::int8[], $3"), 12);
    assert_eq!(parameter_count("SELECT 1"), 0);
}
