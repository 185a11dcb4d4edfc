//! What a fast-path write appends beside its task row, in the same statement: its
//! change in the log and, for a write under an idempotency key, the key's outcome.
//! Both come as data-modifying CTEs that a batch statement puts before its own write.

use sea_orm::{DbErr, Iterable};
use taskforge_domain::DomainError;
use taskforge_domain::task::WriteLog;
use uuid::Uuid;

use super::rows::{self, Arrays};
use crate::changes::rows::{KEY_DONE, KEY_RUNNING, outcome_json, to_change_row};
use crate::db::SqlxQuery;
use crate::entities::task_change;

/// What one write appends, as rows.
#[derive(Debug, Clone)]
pub(crate) struct LogRows {
    change: task_change::Model,
    /// The key's owner, the key, and the outcome as stored.
    completion: Option<(Uuid, String, String)>,
}

impl LogRows {
    /// The rows of `log`.
    pub(crate) fn of(log: &WriteLog) -> Result<Self, DomainError> {
        Ok(Self {
            change: to_change_row(&log.change)?,
            completion: log
                .completion
                .as_ref()
                .map(|c| {
                    outcome_json(&c.outcome)
                        .map(|json| (c.user_id, c.key.as_str().to_owned(), json))
                })
                .transpose()?,
        })
    }
}

/// The change columns a write sets: all but the position, which is the database's.
fn change_columns() -> Vec<task_change::Column> {
    task_change::Column::iter()
        .filter(|c| !matches!(c, task_change::Column::Seq | task_change::Column::Txid))
        .collect()
}

/// How many parameters [`LogArrays`] binds into the form with `k`.
#[cfg(test)]
pub(crate) fn parameter_count() -> usize {
    change_columns().len() + 4
}

/// `c` (the changes) and, with `keys`, `k` (the completed keys) as CTEs, their
/// parameters numbered from `first`; `only_of` names a CTE returning the `id`s of the
/// tasks written, when not every row of the statement is (a conditional update or
/// delete).
pub(crate) fn ctes(first: usize, only_of: Option<&str>, keys: bool) -> String {
    let columns = change_columns();
    let names = rows::names::<task_change::Entity>(&columns);
    let (change_filter, key_filter) = match only_of {
        Some(cte) => (
            format!(" WHERE c.task_id IN (SELECT id FROM {cte})"),
            format!(" AND u.task_id IN (SELECT id FROM {cte})"),
        ),
        None => (String::new(), String::new()),
    };
    let changes = format!(
        "c AS (\
           INSERT INTO task_changes ({names}) \
           SELECT * FROM unnest({arrays}) AS c({names}){change_filter}\
         )",
        arrays = rows::typed_parameters::<task_change::Entity>(&columns, first),
    );
    if !keys {
        return changes;
    }
    let k = first + columns.len();
    format!(
        "{changes}, k AS (\
           UPDATE idempotency_keys SET state = '{KEY_DONE}', outcome = u.outcome \
           FROM unnest(${k1}::uuid[], ${k2}::text[], ${k3}::text[], ${k4}::uuid[]) \
             AS u(user_id, key, outcome, task_id) \
           WHERE idempotency_keys.user_id = u.user_id AND idempotency_keys.key = u.key \
             AND idempotency_keys.state = '{KEY_RUNNING}'{key_filter}\
         )",
        k1 = k,
        k2 = k + 1,
        k3 = k + 2,
        k4 = k + 3,
    )
}

/// A write statement in its two forms: with the `k` CTE, for a batch in which some
/// write completes an idempotency key, and without it. Most writes carry no key, and
/// the `UPDATE` of `k` costs even with no rows: PostgreSQL opens and locks
/// `idempotency_keys` and its indexes at each execution (`bench/pgbench.sh`, a
/// one-row update: about 18 µs of PostgreSQL's CPU in 290).
pub(crate) struct Forms {
    with_keys: String,
    without_keys: String,
}

impl Forms {
    /// The statement `build` writes for each form (its argument: whether with `k`).
    pub(crate) fn new(build: impl Fn(bool) -> String) -> Self {
        Self {
            with_keys: build(true),
            without_keys: build(false),
        }
    }

    /// The form that `log` binds.
    pub(crate) fn for_log(&self, log: &LogArrays) -> &str {
        if log.completes_keys() {
            &self.with_keys
        } else {
            &self.without_keys
        }
    }

    /// Both forms, with `k` first.
    #[cfg(test)]
    pub(crate) fn both(&self) -> [&str; 2] {
        [&self.with_keys, &self.without_keys]
    }
}

/// The parameters of [`ctes`] for some writes.
#[derive(Debug, Clone)]
pub(crate) struct LogArrays {
    changes: Arrays,
    users: Vec<Uuid>,
    keys: Vec<String>,
    outcomes: Vec<String>,
    tasks: Vec<Uuid>,
}

impl LogArrays {
    pub(crate) fn of(logs: &[&LogRows]) -> Result<Self, DbErr> {
        let changes: Vec<&task_change::Model> = logs.iter().map(|log| &log.change).collect();
        let mut arrays = Self {
            changes: Arrays::of_columns::<task_change::Entity>(&changes, &change_columns())?,
            users: Vec::new(),
            keys: Vec::new(),
            outcomes: Vec::new(),
            tasks: Vec::new(),
        };
        for log in logs {
            if let Some((user, key, outcome)) = &log.completion {
                arrays.users.push(*user);
                arrays.keys.push(key.clone());
                arrays.outcomes.push(outcome.clone());
                arrays.tasks.push(log.change.task_id);
            }
        }
        Ok(arrays)
    }

    /// Whether some write completes an idempotency key: then the statement needs `k`.
    fn completes_keys(&self) -> bool {
        !self.users.is_empty()
    }

    /// Binds the parameters, in [`ctes`]' order, as the next ones of `query`: those of
    /// `k` only when the statement has it ([`Forms::for_log`]).
    pub(crate) fn bind<'q>(&self, query: SqlxQuery<'q>) -> SqlxQuery<'q> {
        let query = self.changes.bind(query);
        if !self.completes_keys() {
            return query;
        }
        query
            .bind(self.users.clone())
            .bind(self.keys.clone())
            .bind(self.outcomes.clone())
            .bind(self.tasks.clone())
    }
}

#[cfg(test)]
impl LogRows {
    /// The log of creating a task with this id.
    pub(crate) fn sample(task_id: Uuid) -> Self {
        use taskforge_domain::task::TaskChange;
        let task = taskforge_domain::testing::TaskBuilder::new(Uuid::now_v7())
            .id(task_id)
            .build();
        Self::of(&WriteLog {
            change: TaskChange::created(&task, task.owner_id),
            completion: None,
        })
        .expect("the log of a valid task")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ctes_number_their_parameters_from_the_first_and_bind_as_many() {
        let keyed = &ctes(14, Some("updated"), true);
        let plain = &ctes(14, Some("updated"), false);
        let with_k = 14 + parameter_count() - 1;
        let without_k = with_k - 4;
        for (sql, last) in [(keyed, with_k), (plain, without_k)] {
            assert!(sql.contains("$14::uuid[]"), "{sql}");
            assert!(sql.contains(&format!("${last}::")), "{sql}");
            assert!(!sql.contains(&format!("${}", last + 1)), "{sql}");
            assert!(!sql.contains("unknown"), "{sql}");
            assert!(!sql.contains(" seq") && !sql.contains("txid"), "{sql}");
        }
        assert!(keyed.contains("UPDATE idempotency_keys"), "{keyed}");
        assert!(!plain.contains("idempotency_keys"), "{plain}");
    }

    #[test]
    fn a_log_binds_the_keys_only_when_a_write_completes_one() {
        let plain = LogRows::sample(Uuid::now_v7());
        let mut keyed = plain.clone();
        keyed.completion = Some((Uuid::now_v7(), "key-1".into(), "{}".into()));
        let forms = Forms::new(|keys| ctes(1, None, keys));
        let [with_k, without_k] = forms.both();
        let only_plain = LogArrays::of(&[&plain, &plain]).expect("arrays");
        assert_eq!(forms.for_log(&only_plain), without_k);
        let mixed = LogArrays::of(&[&plain, &keyed]).expect("arrays");
        assert_eq!(forms.for_log(&mixed), with_k);
        assert_eq!(mixed.keys, ["key-1"]);
    }

    #[test]
    fn every_change_column_but_the_position_is_written() {
        let names = rows::names::<task_change::Entity>(&change_columns());
        for column in [
            "task_id",
            "owner_id",
            "previous_owner_id",
            "op",
            "changes",
            "task",
        ] {
            assert!(names.split(", ").any(|n| n == column), "{column}: {names}");
        }
    }
}
