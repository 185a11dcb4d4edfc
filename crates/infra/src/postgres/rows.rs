//! Task rows in batched statements, derived from the one definition of the row, the
//! SeaORM entity: the rows travel as one JSON array that PostgreSQL turns back into
//! rows of the table's own type (`jsonb_populate_recordset(NULL::tasks, $1)`), and the
//! column lists of the statements come from `task::Column::iter()`. A column added to
//! the entity (and its migration) is carried by every statement without another edit.

use std::sync::LazyLock;

use sea_orm::{DbErr, IdenStatic, Iterable, Value};

use crate::entities::task;

/// The task table's columns in the entity's order, comma-separated, each as
/// `prefix.column` (or bare with an empty prefix).
pub(crate) fn columns(prefix: &str) -> String {
    task::Column::iter()
        .map(|column| match prefix {
            "" => column.as_str().to_owned(),
            _ => format!("{prefix}.{}", column.as_str()),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every column but the id, for `UPDATE … SET (…) = (…)`.
pub(crate) fn updatable_columns(prefix: &str) -> String {
    task::Column::iter()
        .filter(|column| !matches!(column, task::Column::Id))
        .map(|column| match prefix {
            "" => column.as_str().to_owned(),
            _ => format!("{prefix}.{}", column.as_str()),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `tasks.<column> AS <alias_prefix><column>, …`: the task row beside other tables'
/// columns in one result row.
pub(crate) fn aliased_columns(alias_prefix: &str) -> String {
    task::Column::iter()
        .map(|column| format!("tasks.{0} AS {alias_prefix}{0}", column.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The rows as one JSON array bound as a single parameter (cast to `jsonb` in SQL).
///
/// # Errors
/// A [`DbErr`] if a row cannot be written as JSON (it always can: every field is a
/// string, a number, a UUID or a timestamp).
pub(crate) fn json_rows<'a>(rows: impl Iterator<Item = &'a task::Model>) -> Result<Value, DbErr> {
    let rows: Vec<&task::Model> = rows.collect();
    serde_json::to_string(&rows)
        .map(Value::from)
        .map_err(|err| DbErr::Custom(format!("cannot write task rows as JSON: {err}")))
}

/// `INSERT INTO tasks (…) SELECT … FROM jsonb_populate_recordset(NULL::tasks, $1)`.
pub(crate) static INSERT_ROWS_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO tasks ({columns}) SELECT {columns} \
         FROM jsonb_populate_recordset(NULL::tasks, $1::jsonb)",
        columns = columns("")
    )
});

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use sea_orm::Iterable;
    use uuid::Uuid;

    use super::*;

    fn row() -> task::Model {
        let at = Utc.timestamp_opt(1_795_000_000, 123_456_000).unwrap();
        task::Model {
            id: Uuid::now_v7(),
            owner_id: Uuid::now_v7(),
            title: "Title".into(),
            description: Some("Text".into()),
            title_search: "title".into(),
            description_search: Some("text".into()),
            status: "done".into(),
            priority: 3,
            due_date: Some(at),
            completed_at: Some(at),
            created_at: at,
            updated_at: at,
            version: 7,
        }
    }

    #[test]
    fn a_row_as_json_has_exactly_the_entitys_columns() {
        let json = serde_json::to_value(row()).unwrap();
        let keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let columns: Vec<&str> = task::Column::iter().map(|c| c.as_str()).collect();
        assert_eq!(
            keys, columns,
            "the JSON keys are what jsonb_populate_recordset matches"
        );
    }

    #[test]
    fn statements_list_every_column_of_the_entity_once() {
        let all = columns("");
        for column in task::Column::iter() {
            assert_eq!(
                all.split(", ").filter(|c| *c == column.as_str()).count(),
                1,
                "{}",
                column.as_str()
            );
        }
        assert!(!updatable_columns("v").split(", ").any(|c| c == "v.id"));
        assert_eq!(
            updatable_columns("").split(", ").count() + 1,
            task::Column::iter().count()
        );
        assert!(INSERT_ROWS_SQL.contains(&all));
    }

    #[test]
    fn json_rows_are_one_array_with_timestamps_to_the_microsecond() {
        let value = json_rows([row(), row()].iter()).unwrap();
        let Value::String(Some(text)) = value else {
            panic!("a string parameter")
        };
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed.as_array().unwrap().len(), 2);
        assert_eq!(parsed[0]["created_at"], "2026-11-18T11:06:40.123456Z");
    }
}
