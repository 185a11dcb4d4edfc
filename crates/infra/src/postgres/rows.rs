//! Task rows in batched statements, derived from the one definition of the row, the
//! SeaORM entity. A batch sends its rows column by column, one typed array per column
//! (`unnest($1::uuid[], $2::text[], …)`): binary arrays PostgreSQL reads without
//! parsing text. Which columns, in which order, of which SQL type, and each row's
//! value in each of them all come from the entity (`task::Column::iter()`,
//! `ModelTrait::get`, `ModelTrait::get_value_type`); nothing here names a column. A
//! column added to the entity (and its migration) is carried by every statement
//! without another edit, and one of a type not handled here fails the tests below.
//!
//! sqlx binds the arrays itself: SeaORM's binder has no arrays with NULLs in them.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::ArrayType;
use sea_orm::{DbErr, EntityTrait, IdenStatic, Iterable, ModelTrait, Value};
use uuid::Uuid;

use crate::db::SqlxQuery;
use crate::entities::task;

/// One column of some rows, as the typed array PostgreSQL unnests.
#[derive(Debug, Clone, PartialEq)]
enum ColumnArray {
    Uuid(Vec<Option<Uuid>>),
    Text(Vec<Option<String>>),
    SmallInt(Vec<Option<i16>>),
    BigInt(Vec<Option<i64>>),
    Timestamp(Vec<Option<DateTime<Utc>>>),
}

impl ColumnArray {
    /// An empty array for values of `ty`.
    fn of_type(ty: &ArrayType, rows: usize) -> Result<Self, DbErr> {
        Ok(match ty {
            ArrayType::Uuid => Self::Uuid(Vec::with_capacity(rows)),
            ArrayType::String => Self::Text(Vec::with_capacity(rows)),
            ArrayType::SmallInt => Self::SmallInt(Vec::with_capacity(rows)),
            ArrayType::BigInt => Self::BigInt(Vec::with_capacity(rows)),
            ArrayType::ChronoDateTimeUtc => Self::Timestamp(Vec::with_capacity(rows)),
            other => return Err(unsupported(other)),
        })
    }

    /// Appends one row's value.
    fn push(&mut self, value: Value) -> Result<(), DbErr> {
        match (self, value) {
            (Self::Uuid(values), Value::Uuid(v)) => values.push(v),
            (Self::Text(values), Value::String(v)) => values.push(v),
            (Self::SmallInt(values), Value::SmallInt(v)) => values.push(v),
            (Self::BigInt(values), Value::BigInt(v)) => values.push(v),
            (Self::Timestamp(values), Value::ChronoDateTimeUtc(v)) => values.push(v),
            (_, value) => {
                return Err(DbErr::Custom(format!(
                    "a task value of an unexpected type: {value:?}"
                )));
            }
        }
        Ok(())
    }

    fn bind<'q>(self, query: SqlxQuery<'q>) -> SqlxQuery<'q> {
        match self {
            Self::Uuid(values) => query.bind(values),
            Self::Text(values) => query.bind(values),
            Self::SmallInt(values) => query.bind(values),
            Self::BigInt(values) => query.bind(values),
            Self::Timestamp(values) => query.bind(values),
        }
    }
}

fn unsupported(ty: &ArrayType) -> DbErr {
    DbErr::Custom(format!(
        "no batched statement handles task columns of type {ty:?}"
    ))
}

/// The PostgreSQL type of values of `ty`.
fn sql_type(ty: &ArrayType) -> Result<&'static str, DbErr> {
    Ok(match ty {
        ArrayType::Uuid => "uuid",
        ArrayType::String => "text",
        ArrayType::SmallInt => "int2",
        ArrayType::BigInt => "int8",
        ArrayType::Bool => "bool",
        ArrayType::ChronoDateTimeUtc => "timestamptz",
        other => return Err(unsupported(other)),
    })
}

/// `<table>.<column> AS <alias><column>, …` for every column of entity `E`, or, with
/// `table = None`, typed NULLs in their place (`NULL::uuid AS <alias>id, …`): one
/// entity's row beside another's in a `UNION ALL`.
pub(crate) fn entity_columns<E>(table: Option<&str>, alias: &str) -> String
where
    E: EntityTrait,
    E::Model: ModelTrait<Entity = E>,
{
    E::Column::iter()
        .map(|column| {
            let name = column.as_str();
            match table {
                Some(table) => format!("{table}.{name} AS {alias}{name}"),
                None => {
                    let ty = sql_type(&E::Model::get_value_type(column)).unwrap_or("unknown");
                    format!("NULL::{ty} AS {alias}{name}")
                }
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The columns of some rows, one typed array per column, in the order given.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Arrays(Vec<ColumnArray>);

/// The columns of some task rows: every column of the entity, in its order.
pub(crate) type TaskArrays = Arrays;

impl Arrays {
    /// The `columns` of `rows` of entity `E`.
    ///
    /// # Errors
    /// A [`DbErr`] for a column type this module does not handle (a test catches it).
    pub(crate) fn of_columns<E>(rows: &[&E::Model], columns: &[E::Column]) -> Result<Self, DbErr>
    where
        E: EntityTrait,
        E::Model: ModelTrait<Entity = E>,
    {
        columns
            .iter()
            .map(|column| {
                let mut array =
                    ColumnArray::of_type(&E::Model::get_value_type(*column), rows.len())?;
                for row in rows {
                    array.push(row.get(*column))?;
                }
                Ok(array)
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// Every column of some task rows.
    ///
    /// # Errors
    /// As [`Arrays::of_columns`].
    pub(crate) fn of(rows: &[&task::Model]) -> Result<Self, DbErr> {
        Self::of_columns::<task::Entity>(rows, &task::Column::iter().collect::<Vec<_>>())
    }

    /// Binds the arrays, in their order, as the next parameters of `query`.
    pub(crate) fn bind<'q>(&self, query: SqlxQuery<'q>) -> SqlxQuery<'q> {
        self.0
            .iter()
            .cloned()
            .fold(query, |query, column| column.bind(query))
    }
}

/// `$<first>::uuid[], $<first + 1>::text[], …`: one typed array parameter per column
/// of `columns`. Only a column type no statement handles fails; the tests prove none
/// does.
pub(crate) fn typed_parameters<E>(columns: &[E::Column], first: usize) -> String
where
    E: EntityTrait,
    E::Model: ModelTrait<Entity = E>,
{
    columns
        .iter()
        .enumerate()
        .map(|(i, column)| {
            let ty = sql_type(&E::Model::get_value_type(*column)).unwrap_or("unknown");
            format!("${}::{ty}[]", first + i)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The names of `columns`, comma-separated.
pub(crate) fn names<E: EntityTrait>(columns: &[E::Column]) -> String {
    columns
        .iter()
        .map(|column| column.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The task table's columns in the entity's order, comma-separated, each as
/// `prefix.column` (or bare with an empty prefix); `except_id` leaves the key out.
pub(crate) fn columns(prefix: &str, except_id: bool) -> String {
    task::Column::iter()
        .filter(|column| !(except_id && matches!(column, task::Column::Id)))
        .map(|column| match prefix {
            "" => column.as_str().to_owned(),
            _ => format!("{prefix}.{}", column.as_str()),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `$1::uuid[], $2::text[], …`: one typed array parameter per column of the task
/// entity.
pub(crate) fn array_parameters() -> String {
    typed_parameters::<task::Entity>(&task::Column::iter().collect::<Vec<_>>(), 1)
}

/// How many columns the task row has: the first parameter after the arrays is this
/// plus one.
pub(crate) fn column_count() -> usize {
    task::Column::iter().count()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn row(description: Option<&str>) -> task::Model {
        let at = Utc.timestamp_opt(1_795_000_000, 123_456_000).unwrap();
        task::Model {
            id: Uuid::now_v7(),
            owner_id: Uuid::now_v7(),
            title: "Title".into(),
            description: description.map(str::to_owned),
            title_search: "title".into(),
            description_search: description.map(str::to_lowercase),
            status: "done".into(),
            priority: 3,
            due_date: description.map(|_| at),
            completed_at: None,
            created_at: at,
            updated_at: at,
            version: 7,
        }
    }

    #[test]
    fn every_column_of_the_entities_has_a_sql_type() {
        for column in task::Column::iter() {
            let ty = task::Model::get_value_type(column);
            assert!(sql_type(&ty).is_ok(), "{}: {ty:?}", column.as_str());
        }
        for column in crate::entities::user::Column::iter() {
            let ty = crate::entities::user::Model::get_value_type(column);
            assert!(sql_type(&ty).is_ok(), "{}: {ty:?}", column.as_str());
        }
        assert!(!array_parameters().contains("unknown"));
        assert_eq!(array_parameters().matches("::").count(), column_count());
        let nulls = entity_columns::<crate::entities::user::Entity>(None, "u_");
        assert!(!nulls.contains("unknown"), "{nulls}");
        assert!(nulls.contains("NULL::bool AS u_is_active"), "{nulls}");
    }

    #[test]
    fn rows_become_one_array_per_column_in_the_entitys_order_nulls_included() {
        let (a, b) = (row(Some("Text")), row(None));
        let Arrays(arrays) = TaskArrays::of(&[&a, &b]).unwrap();
        assert_eq!(arrays.len(), column_count());
        assert_eq!(arrays[0], ColumnArray::Uuid(vec![Some(a.id), Some(b.id)]));
        let description = task::Column::iter()
            .position(|c| matches!(c, task::Column::Description))
            .unwrap();
        assert_eq!(
            arrays[description],
            ColumnArray::Text(vec![Some("Text".into()), None])
        );
    }

    #[test]
    fn statements_list_every_column_of_the_entity_once() {
        let all = columns("", false);
        for column in task::Column::iter() {
            assert_eq!(
                all.split(", ").filter(|c| *c == column.as_str()).count(),
                1,
                "{}",
                column.as_str()
            );
        }
        assert!(!columns("v", true).split(", ").any(|c| c == "v.id"));
        assert_eq!(columns("", true).split(", ").count() + 1, column_count());
    }
}
