//! Changes and idempotent outcomes as rows, and back.

use taskforge_domain::DomainError;
use taskforge_domain::idempotency::IdempotentOutcome;
use taskforge_domain::task::{ChangeEvent, ChangeOp, FieldChange, TaskChange};

use super::cursor::{Cursor, Mark, Position};
use crate::entities::{task, task_change};
use crate::error::corrupt_row;
use crate::task_repository::{to_row, to_task};

/// The row of `change`; `seq` and `txid` are the database's to set.
pub(crate) fn to_change_row(change: &TaskChange) -> Result<task_change::Model, DomainError> {
    Ok(task_change::Model {
        seq: 0,
        txid: 0,
        task_id: change.task_id,
        owner_id: change.owner_id,
        previous_owner_id: change.previous_owner_id,
        op: change.op.as_str().to_owned(),
        version: change.version,
        at: change.at,
        actor_id: change.actor_id,
        changes: if rebuilt_when_read(change) {
            NO_FIELDS.to_owned()
        } else {
            serde_json::to_string(&change.changes).map_err(DomainError::unexpected)?
        },
        task: change
            .after
            .as_ref()
            .map(|task| serde_json::to_string(&to_row(task)))
            .transpose()
            .map_err(DomainError::unexpected)?,
    })
}

/// The stored field list of a change that lists none (a deletion; a creation, see
/// [`rebuilt_when_read`]).
pub(crate) const NO_FIELDS: &str = "[]";

/// Whether `change` is a creation whose fields are its task's, each from null, as
/// [`TaskChange::created`] lists them. Its row then stores the task alone, and
/// [`to_event`] lists the fields again from it: they would be two thirds of the row,
/// and so of what every create writes to the log and the write-ahead log.
fn rebuilt_when_read(change: &TaskChange) -> bool {
    change.op == ChangeOp::Created
        && change.after.as_ref().is_some_and(|task| {
            TaskChange::created(task, change.actor_id).changes == change.changes
        })
}

/// The position of a logged change.
pub(crate) fn position(row: &task_change::Model) -> Position {
    Position {
        txid: row.txid,
        seq: row.seq,
    }
}

/// The event of a logged change; a row that does not read back is a storage failure.
pub(crate) fn to_event(row: task_change::Model) -> Result<ChangeEvent, DomainError> {
    let corrupt =
        |err: String| corrupt_row("task_changes", row.task_id, DomainError::unexpected(err));
    let op = ChangeOp::parse(&row.op).ok_or_else(|| corrupt(format!("unknown op {}", row.op)))?;
    let mut changes: Vec<FieldChange> =
        serde_json::from_str(&row.changes).map_err(|err| corrupt(err.to_string()))?;
    let after = match &row.task {
        Some(json) => {
            let stored: task::Model =
                serde_json::from_str(json).map_err(|err| corrupt(err.to_string()))?;
            Some(to_task(stored)?)
        }
        None => None,
    };
    if let (ChangeOp::Created, true, Some(task)) = (op, changes.is_empty(), &after) {
        changes = TaskChange::created(task, row.actor_id).changes;
    }
    Ok(ChangeEvent {
        seq: row.seq,
        cursor: Cursor::Log(Mark::new(position(&row), None)).encode(),
        change: TaskChange {
            task_id: row.task_id,
            owner_id: row.owner_id,
            previous_owner_id: row.previous_owner_id,
            op,
            version: row.version,
            at: row.at,
            actor_id: row.actor_id,
            changes,
            after,
        },
    })
}

/// The state of a claimed key whose request still runs (see the migration).
pub(crate) const KEY_RUNNING: &str = "running";
/// The state of a key whose write is done; its outcome is stored.
pub(crate) const KEY_DONE: &str = "done";

/// How an idempotent write's outcome is stored.
#[derive(serde::Serialize, serde::Deserialize)]
enum StoredOutcome {
    Task(Box<task::Model>),
    Deleted,
}

/// The stored form of an outcome.
pub(crate) fn outcome_json(outcome: &IdempotentOutcome) -> Result<String, DomainError> {
    let stored = match outcome {
        IdempotentOutcome::Task(task) => StoredOutcome::Task(Box::new(to_row(task))),
        IdempotentOutcome::Deleted => StoredOutcome::Deleted,
    };
    serde_json::to_string(&stored).map_err(DomainError::unexpected)
}

/// The outcome a stored form holds.
pub(crate) fn outcome_from_json(json: &str) -> Result<IdempotentOutcome, DomainError> {
    match serde_json::from_str(json).map_err(DomainError::unexpected)? {
        StoredOutcome::Task(row) => Ok(IdempotentOutcome::Task(Box::new(to_task(*row)?))),
        StoredOutcome::Deleted => Ok(IdempotentOutcome::Deleted),
    }
}

#[cfg(test)]
mod tests {
    use taskforge_domain::testing::TaskBuilder;
    use uuid::Uuid;

    use super::*;

    #[test]
    fn a_change_reads_back_as_it_was_written() {
        let before = TaskBuilder::new(Uuid::now_v7())
            .title("Before")
            .description("Was here")
            .build();
        let mut after = before.clone();
        after.title = taskforge_domain::task::Title::parse("Après ✓").unwrap();
        after.description = None;
        after.version += 1;
        for change in [
            TaskChange::created(&before, Uuid::now_v7()),
            TaskChange::updated(&before, &after, Uuid::now_v7()),
            TaskChange::deleted(&after, Uuid::now_v7(), after.updated_at),
        ] {
            let mut row = to_change_row(&change).unwrap();
            // Only a deletion and a creation (whose fields its task holds) store none.
            assert_eq!(
                row.changes == NO_FIELDS,
                change.op != ChangeOp::Updated,
                "{change:?}"
            );
            row.seq = 7;
            row.txid = 3;
            let event = to_event(row).unwrap();
            assert_eq!(event.change, change);
            assert_eq!(event.seq, 7);
        }
    }

    #[test]
    fn a_creation_listing_other_fields_than_its_task_is_stored_as_it_is() {
        let task = TaskBuilder::new(Uuid::now_v7()).build();
        let mut change = TaskChange::created(&task, Uuid::now_v7());
        change.changes.truncate(2);
        let row = to_change_row(&change).unwrap();
        assert_ne!(row.changes, NO_FIELDS);
        assert_eq!(to_event(row).unwrap().change, change);
    }

    #[test]
    fn outcomes_read_back_as_they_were_written() {
        let task = TaskBuilder::new(Uuid::now_v7()).build();
        for outcome in [
            IdempotentOutcome::Task(Box::new(task)),
            IdempotentOutcome::Deleted,
        ] {
            let json = outcome_json(&outcome).unwrap();
            assert_eq!(outcome_from_json(&json).unwrap(), outcome);
        }
    }
}
