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

/// Transactions a reader has seen although they are not below its position: on
/// PostgreSQL, those that had committed when the reader's snapshot was taken (every id
/// below the snapshot's `xmax` but the ones still `running` then). A reader starting
/// from a snapshot skips their changes: it saw their effects already.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Seen {
    pub(crate) xmax: i64,
    pub(crate) running: Vec<i64>,
}

impl Seen {
    /// Whether the changes of transaction `txid` were seen.
    pub(crate) fn covers(&self, txid: i64) -> bool {
        txid < self.xmax && !self.running.contains(&txid)
    }

    /// The SQL condition (on a `txid` column) that keeps the changes not seen. The
    /// values are integers this crate parsed, never text from a client.
    pub(crate) fn unseen_sql(&self, column: &str) -> String {
        let running = self
            .running
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        match running.as_str() {
            "" => format!("{column} >= {}", self.xmax),
            list => format!("({column} >= {} OR {column} IN ({list}))", self.xmax),
        }
    }
}

/// A reader's place: after `position`, skipping the transactions `seen` covers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Mark {
    pub(crate) position: Position,
    pub(crate) seen: Option<Seen>,
}

impl Mark {
    /// A mark; `seen` is dropped once the position has passed everything it covers.
    pub(crate) fn new(position: Position, seen: Option<Seen>) -> Self {
        Self {
            position,
            seen: seen.filter(|seen| seen.xmax > position.txid),
        }
    }

    /// Whether a change at `at` is still to be read from here.
    pub(crate) fn wants(&self, at: Position) -> bool {
        at > self.position && !self.seen.as_ref().is_some_and(|seen| seen.covers(at.txid))
    }

    /// The mark after reading up to `at`.
    pub(crate) fn advanced_to(&self, at: Position) -> Self {
        Self::new(at.max(self.position), self.seen.clone())
    }
}

/// What a feed cursor says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cursor {
    /// The changes after this mark.
    Log(Mark),
    /// The first pass over every task, in (created, id) order: the tasks after `after`
    /// (none yet: `None`), then the changes after `start`.
    Snapshot {
        start: Mark,
        after: Option<(DateTime<Utc>, Uuid)>,
    },
}

fn invalid(field: &str) -> DomainError {
    DomainError::invalid(field, "is not a cursor of this change log")
}

/// `<txid>.<seq>[:<xmax>:<running,…>]`
fn encode_mark(mark: &Mark) -> String {
    let Position { txid, seq } = mark.position;
    match &mark.seen {
        None => format!("{txid}.{seq}"),
        Some(seen) => format!(
            "{txid}.{seq}:{}:{}",
            seen.xmax,
            seen.running
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(",")
        ),
    }
}

fn decode_mark(raw: &str, field: &str) -> Result<Mark, DomainError> {
    let number = |s: &str| {
        s.parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| invalid(field))
    };
    let parts: Vec<&str> = raw.split(':').collect();
    let (txid, seq) = parts[0].split_once('.').ok_or_else(|| invalid(field))?;
    let position = Position {
        txid: number(txid)?,
        seq: number(seq)?,
    };
    let seen = match parts[1..] {
        [] => None,
        [xmax, running] => Some(Seen {
            xmax: number(xmax)?,
            running: match running {
                "" => Vec::new(),
                list => list.split(',').map(number).collect::<Result<_, _>>()?,
            },
        }),
        _ => return Err(invalid(field)),
    };
    Ok(Mark::new(position, seen))
}

impl Cursor {
    pub(crate) fn encode(&self) -> FeedCursor {
        FeedCursor(match self {
            Cursor::Log(mark) => format!("l{}", encode_mark(mark)),
            Cursor::Snapshot { start, after: None } => format!("s{}", encode_mark(start)),
            Cursor::Snapshot {
                start,
                after: Some((created, id)),
            } => format!(
                "s{}/{}.{}",
                encode_mark(start),
                created.timestamp_micros(),
                id.simple()
            ),
        })
    }

    /// Reads a cursor; a string this log did not make is a validation error on `field`.
    pub(crate) fn decode(cursor: &FeedCursor, field: &str) -> Result<Self, DomainError> {
        let raw = cursor.0.as_str();
        let (kind, rest) = raw.split_at_checked(1).ok_or_else(|| invalid(field))?;
        let cursor = match kind {
            "l" => Cursor::Log(decode_mark(rest, field)?),
            "s" => match rest.split_once('/') {
                None => Cursor::Snapshot {
                    start: decode_mark(rest, field)?,
                    after: None,
                },
                Some((mark, after)) => {
                    let (micros, id) = after.split_once('.').ok_or_else(|| invalid(field))?;
                    let micros = micros.parse::<i64>().map_err(|_| invalid(field))?;
                    Cursor::Snapshot {
                        start: decode_mark(mark, field)?,
                        after: Some((
                            DateTime::from_timestamp_micros(micros)
                                .ok_or_else(|| invalid(field))?,
                            Uuid::try_parse(id).map_err(|_| invalid(field))?,
                        )),
                    }
                }
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
    pub(crate) fn start(&self) -> &Mark {
        match self {
            Cursor::Log(mark) | Cursor::Snapshot { start: mark, .. } => mark,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(txid: i64, seq: i64) -> Position {
        Position { txid, seq }
    }

    #[test]
    fn every_cursor_reads_back_as_itself() {
        let created = DateTime::from_timestamp_micros(1_795_000_000_123_456).unwrap();
        let seen = Seen {
            xmax: 830,
            running: vec![815, 822],
        };
        let marks = [
            Mark::new(at(812, 90), None),
            Mark::default(),
            Mark::new(at(812, 0), Some(seen.clone())),
            Mark::new(
                at(812, 0),
                Some(Seen {
                    xmax: 813,
                    running: Vec::new(),
                }),
            ),
        ];
        for mark in marks {
            for cursor in [
                Cursor::Log(mark.clone()),
                Cursor::Snapshot {
                    start: mark.clone(),
                    after: None,
                },
                Cursor::Snapshot {
                    start: mark.clone(),
                    after: Some((created, Uuid::now_v7())),
                },
            ] {
                assert_eq!(Cursor::decode(&cursor.encode(), "since").unwrap(), cursor);
            }
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
            "l1.2:",
            "l1.2:5",
            "l1.2:5:a",
            "l1.2:5:1,,2",
            "s1.2/3",
            "s1.2/x.y",
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
        assert!(at(1, 9) < at(2, 1));
        assert!(at(2, 1) < at(2, 2));
    }

    #[test]
    fn a_mark_skips_what_its_snapshot_saw_until_it_has_passed_it() {
        let mark = Mark::new(
            at(10, 0),
            Some(Seen {
                xmax: 14,
                running: vec![11, 13],
            }),
        );
        let wanted: Vec<i64> = (9..16).filter(|txid| mark.wants(at(*txid, 1))).collect();
        assert_eq!(wanted, [11, 13, 14, 15]);
        assert_eq!(
            mark.seen.as_ref().unwrap().unseen_sql("txid"),
            "(txid >= 14 OR txid IN (11, 13))"
        );
        assert!(mark.advanced_to(at(13, 4)).seen.is_some());
        assert_eq!(mark.advanced_to(at(14, 1)).seen, None);
        assert_eq!(mark.advanced_to(at(5, 1)).position, at(10, 0));
        // A snapshot with nothing running saw everything below its position already.
        assert_eq!(
            Mark::new(
                at(10, 0),
                Some(Seen {
                    xmax: 10,
                    running: Vec::new()
                })
            )
            .seen,
            None
        );
    }
}
