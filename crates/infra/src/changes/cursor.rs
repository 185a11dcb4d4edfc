//! Where a reader stands in the change log, and the opaque cursors that carry it.

use chrono::{DateTime, Utc};
use taskforge_domain::DomainError;
use taskforge_domain::task::FeedCursor;
use uuid::Uuid;

/// A change's place in the log: its transaction (0 on SQLite), then its sequence
/// number. Every change a reader is given sits below the reader's watermark, so no
/// change can later appear before one already given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub(crate) struct Position {
    pub(crate) txid: i64,
    pub(crate) seq: i64,
}

/// What a feed cursor says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cursor {
    /// The changes after this position.
    Log(Position),
    /// The first pass over every task, in (created, id) order: the tasks after `after`
    /// (none yet: `None`), then the changes after `start`.
    Snapshot {
        start: Position,
        after: Option<(DateTime<Utc>, Uuid)>,
    },
}

fn invalid(field: &str) -> DomainError {
    DomainError::invalid(field, "is not a cursor of this change log")
}

impl Cursor {
    pub(crate) fn encode(self) -> FeedCursor {
        FeedCursor(match self {
            Cursor::Log(p) => format!("l{}.{}", p.txid, p.seq),
            Cursor::Snapshot { start, after: None } => format!("s{}.{}", start.txid, start.seq),
            Cursor::Snapshot {
                start,
                after: Some((created, id)),
            } => format!(
                "s{}.{}.{}.{}",
                start.txid,
                start.seq,
                created.timestamp_micros(),
                id.simple()
            ),
        })
    }

    /// Reads a cursor; a string this log did not make is a validation error on `field`.
    pub(crate) fn decode(cursor: &FeedCursor, field: &str) -> Result<Self, DomainError> {
        let raw = cursor.0.as_str();
        let (kind, rest) = raw.split_at_checked(1).ok_or_else(|| invalid(field))?;
        let parts: Vec<&str> = rest.split('.').collect();
        let number = |s: &str| {
            s.parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| invalid(field))
        };
        let position = |txid: &str, seq: &str| -> Result<Position, DomainError> {
            Ok(Position {
                txid: number(txid)?,
                seq: number(seq)?,
            })
        };
        let cursor = match (kind, parts.as_slice()) {
            ("l", [txid, seq]) => Cursor::Log(position(txid, seq)?),
            ("s", [txid, seq]) => Cursor::Snapshot {
                start: position(txid, seq)?,
                after: None,
            },
            ("s", [txid, seq, micros, id]) => Cursor::Snapshot {
                start: position(txid, seq)?,
                after: Some((
                    DateTime::from_timestamp_micros(number(micros)?)
                        .ok_or_else(|| invalid(field))?,
                    Uuid::try_parse(id).map_err(|_| invalid(field))?,
                )),
            },
            _ => return Err(invalid(field)),
        };
        // One spelling per cursor: anything that does not come back the same is not ours.
        if cursor.encode().0 == raw {
            Ok(cursor)
        } else {
            Err(invalid(field))
        }
    }

    /// Where the changes this cursor has yet to read begin.
    pub(crate) fn start(self) -> Position {
        match self {
            Cursor::Log(p) | Cursor::Snapshot { start: p, .. } => p,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cursor_reads_back_as_itself() {
        let start = Position { txid: 812, seq: 90 };
        let created = DateTime::from_timestamp_micros(1_795_000_000_123_456).unwrap();
        for cursor in [
            Cursor::Log(start),
            Cursor::Log(Position::default()),
            Cursor::Snapshot { start, after: None },
            Cursor::Snapshot {
                start,
                after: Some((created, Uuid::now_v7())),
            },
        ] {
            assert_eq!(Cursor::decode(&cursor.encode(), "since").unwrap(), cursor);
        }
    }

    #[test]
    fn strings_it_did_not_make_are_refused_on_the_named_field() {
        for raw in [
            "",
            "l",
            "l1",
            "l1.2.3",
            "x1.2",
            "l-1.2",
            "l01.2",
            "l1.2 ",
            "s1.2.3",
            "s1.2.x.y",
            "l9223372036854775808.1",
        ] {
            let err = Cursor::decode(&FeedCursor(raw.into()), "since").unwrap_err();
            assert!(
                matches!(&err, DomainError::Validation(errors) if errors[0].field == "since"),
                "{raw}: {err:?}"
            );
        }
    }

    #[test]
    fn positions_order_by_transaction_then_sequence() {
        let p = |txid, seq| Position { txid, seq };
        assert!(p(1, 9) < p(2, 1));
        assert!(p(2, 1) < p(2, 2));
    }
}
