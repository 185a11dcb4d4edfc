//! Task rows as one array per column, for statements that write many rows at once
//! through `unnest(…)` on PostgreSQL. sqlx binds the arrays itself: SeaORM's binder
//! has no arrays with NULLs in them.

use chrono::{DateTime, Utc};
use sea_orm::sqlx::Postgres;
use sea_orm::sqlx::postgres::PgArguments;
use sea_orm::sqlx::query::Query;
use uuid::Uuid;

use crate::entities::task;

/// The columns of some task rows, in the table's order.
pub(crate) struct TaskColumns<'a> {
    ids: Vec<Uuid>,
    owners: Vec<Uuid>,
    titles: Vec<&'a str>,
    descriptions: Vec<Option<&'a str>>,
    title_keys: Vec<&'a str>,
    description_keys: Vec<Option<&'a str>>,
    statuses: Vec<&'a str>,
    priorities: Vec<i16>,
    due_dates: Vec<Option<DateTime<Utc>>>,
    completed: Vec<Option<DateTime<Utc>>>,
    created: Vec<DateTime<Utc>>,
    updated: Vec<DateTime<Utc>>,
    versions: Vec<i64>,
}

impl<'a> TaskColumns<'a> {
    /// The columns of `rows`, in their order.
    pub(crate) fn of(rows: impl ExactSizeIterator<Item = &'a task::Model>) -> Self {
        let n = rows.len();
        let mut columns = Self {
            ids: Vec::with_capacity(n),
            owners: Vec::with_capacity(n),
            titles: Vec::with_capacity(n),
            descriptions: Vec::with_capacity(n),
            title_keys: Vec::with_capacity(n),
            description_keys: Vec::with_capacity(n),
            statuses: Vec::with_capacity(n),
            priorities: Vec::with_capacity(n),
            due_dates: Vec::with_capacity(n),
            completed: Vec::with_capacity(n),
            created: Vec::with_capacity(n),
            updated: Vec::with_capacity(n),
            versions: Vec::with_capacity(n),
        };
        for row in rows {
            columns.ids.push(row.id);
            columns.owners.push(row.owner_id);
            columns.titles.push(row.title.as_str());
            columns.descriptions.push(row.description.as_deref());
            columns.title_keys.push(row.title_search.as_str());
            columns
                .description_keys
                .push(row.description_search.as_deref());
            columns.statuses.push(row.status.as_str());
            columns.priorities.push(row.priority);
            columns.due_dates.push(row.due_date);
            columns.completed.push(row.completed_at);
            columns.created.push(row.created_at);
            columns.updated.push(row.updated_at);
            columns.versions.push(row.version);
        }
        columns
    }

    /// Binds the 13 arrays as the next parameters of `query`: id, owner_id,
    /// title, description, title_search, description_search, status, priority,
    /// due_date, completed_at, created_at, updated_at, version.
    pub(crate) fn bind(
        self,
        query: Query<'a, Postgres, PgArguments>,
    ) -> Query<'a, Postgres, PgArguments> {
        query
            .bind(self.ids)
            .bind(self.owners)
            .bind(self.titles)
            .bind(self.descriptions)
            .bind(self.title_keys)
            .bind(self.description_keys)
            .bind(self.statuses)
            .bind(self.priorities)
            .bind(self.due_dates)
            .bind(self.completed)
            .bind(self.created)
            .bind(self.updated)
            .bind(self.versions)
    }
}
