//! SeaORM entities: the tables as the adapters see them. Private to this crate — the
//! repositories map them to and from domain types, so nothing outside `infra` ever
//! depends on a column layout.

pub(crate) mod idempotency_key;
pub(crate) mod login_throttle;
pub(crate) mod password_reset;
pub(crate) mod session;
pub(crate) mod task;
pub(crate) mod task_change;
pub(crate) mod task_recency;
pub(crate) mod user;

use sea_orm::sea_query::ArrayType;
use sea_orm::{
    ActiveModelTrait, DbErr, EntityTrait, Iterable, ModelTrait, QueryResult, TryIntoModel, Value,
};

/// The row of entity `E` in the columns of `row` from `first` on, in the entity's
/// column order (`E::Column::iter()`, the order of `E::find()` and of the fast path's
/// column lists): read by position. By name, every column costs a name built and
/// hashed before its value is read, a tenth of the server's CPU on a task read.
///
/// # Errors
/// The [`DbErr`] of a value that is not of its column's type.
pub(crate) fn model_at<E>(row: &QueryResult, first: usize) -> Result<E::Model, DbErr>
where
    E: EntityTrait,
    E::Model: ModelTrait<Entity = E>,
    E::ActiveModel: ActiveModelTrait<Entity = E> + TryIntoModel<E::Model>,
{
    let mut model = <E::ActiveModel as ActiveModelTrait>::default();
    for (offset, column) in E::Column::iter().enumerate() {
        let at = first + offset;
        let value = match E::Model::get_value_type(column) {
            ArrayType::Uuid => Value::Uuid(row.try_get_by_index(at)?),
            ArrayType::String => Value::String(row.try_get_by_index(at)?),
            ArrayType::SmallInt => Value::SmallInt(row.try_get_by_index(at)?),
            ArrayType::BigInt => Value::BigInt(row.try_get_by_index(at)?),
            ArrayType::Bool => Value::Bool(row.try_get_by_index(at)?),
            ArrayType::ChronoDateTimeUtc => Value::ChronoDateTimeUtc(row.try_get_by_index(at)?),
            other => {
                return Err(DbErr::Custom(format!(
                    "no reading of columns of type {other:?} by position"
                )));
            }
        };
        model.try_set(column, value)?;
    }
    model.try_into_model()
}
