//! A statement with its values written into its text, so that PostgreSQL plans it for
//! those values.
//!
//! The fast path's connections keep one generic plan per statement
//! ([`super::PLANNER_SETTINGS`]), made without the values. That suits every statement
//! whose best plan is the same for all values; a search page is not one. Whether the
//! trigram index or the owner's index finds its rows sooner depends on how often the
//! needle occurs and how many tasks the owner has, and only the values say that. A
//! generic plan of `q` pages combined both indexes for every search (seen in
//! bench/scale.sh, 1 000 000 tasks: the 20-task user's search for a frequent word read
//! its whole trigram posting list, 319 req/s; the 200 000-task user's search for a rare
//! word read every entry of its own tasks, 322 req/s).
//!
//! Only values of the types below are written; a statement holding any other keeps its
//! parameters (and the generic plan). Strings are written as `E'…'` literals with the
//! backslash and the quote escaped, which is all such a literal treats specially; a
//! string holding a NUL character (which no PostgreSQL text can hold) is not written.

use sea_orm::{Statement, Value};

/// `statement`'s SQL with each `$n` replaced by its value as a literal; `None` when a
/// value has no literal form here or the placeholders do not match the values.
pub(super) fn inlined(statement: &Statement) -> Option<String> {
    let values = statement.values.as_ref().map_or(&[][..], |v| &v.0[..]);
    let literals = values.iter().map(literal).collect::<Option<Vec<_>>>()?;
    let sql = &statement.sql;
    let mut out =
        String::with_capacity(sql.len() + literals.iter().map(String::len).sum::<usize>());
    let mut chars = sql.char_indices().peekable();
    let mut quoted = false;
    while let Some((_, c)) = chars.next() {
        match c {
            // Placeholders are never inside a literal of the statement's own text.
            '\'' => {
                quoted = !quoted;
                out.push(c);
            }
            '$' if !quoted => {
                let mut digits = String::new();
                while let Some((_, d)) = chars.next_if(|(_, d)| d.is_ascii_digit()) {
                    digits.push(d);
                }
                let index: usize = digits.parse().ok()?;
                out.push_str(literals.get(index.checked_sub(1)?)?);
            }
            _ => out.push(c),
        }
    }
    Some(out)
}

/// `value` as a PostgreSQL literal of its type.
fn literal(value: &Value) -> Option<String> {
    Some(match value {
        Value::Bool(Some(b)) => b.to_string(),
        Value::SmallInt(Some(n)) => format!("{n}::int2"),
        Value::Int(Some(n)) => format!("{n}::int4"),
        Value::BigInt(Some(n)) => format!("{n}::int8"),
        Value::BigUnsigned(Some(n)) => format!("{n}::int8"),
        Value::String(Some(s)) => string(s)?,
        Value::Uuid(Some(id)) => format!("'{id}'::uuid"),
        Value::ChronoDateTimeUtc(Some(at)) => format!(
            "'{}'::timestamptz",
            at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
        ),
        _ => return None,
    })
}

/// `s` as an escape string literal (`E'…'`).
fn string(s: &str) -> Option<String> {
    if s.contains('\0') {
        return None;
    }
    let mut literal = String::with_capacity(s.len() + 3);
    literal.push_str("E'");
    for c in s.chars() {
        match c {
            '\\' => literal.push_str("\\\\"),
            '\'' => literal.push_str("\\'"),
            _ => literal.push(c),
        }
    }
    literal.push('\'');
    Some(literal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use sea_orm::{DbBackend, Values};
    use uuid::Uuid;

    fn statement(sql: &str, values: Vec<Value>) -> Statement {
        Statement {
            sql: sql.to_owned(),
            values: Some(Values(values)),
            db_backend: DbBackend::Postgres,
        }
    }

    #[test]
    fn each_placeholder_becomes_its_value_and_text_in_quotes_stays() {
        let id = Uuid::nil();
        let at = chrono::Utc
            .timestamp_opt(1_795_000_000, 123_456_000)
            .single()
            .expect("valid instant");
        let sql = inlined(&statement(
            "SELECT '$1', $1, $2, $3, $4, $5, $6, $7, $8, $9, $10 LIKE $2 ESCAPE E'\\\\'",
            vec![
                Value::Uuid(Some(id)),
                Value::String(Some("it's $1 a \\ back'slash".into())),
                Value::SmallInt(Some(-3)),
                Value::Int(Some(4)),
                Value::BigInt(Some(5)),
                Value::BigUnsigned(Some(21)),
                Value::Bool(Some(true)),
                Value::ChronoDateTimeUtc(Some(at)),
                Value::String(Some(String::new())),
                Value::String(Some("ΣΟΦΙΑ\nnotes".into())),
            ],
        ))
        .expect("every value has a literal");
        assert_eq!(
            sql,
            "SELECT '$1', '00000000-0000-0000-0000-000000000000'::uuid, \
             E'it\\'s $1 a \\\\ back\\'slash', -3::int2, 4::int4, 5::int8, 21::int8, true, \
             '2026-11-18T11:06:40.123456Z'::timestamptz, E'', E'ΣΟΦΙΑ\nnotes' \
             LIKE E'it\\'s $1 a \\\\ back\\'slash' ESCAPE E'\\\\'"
        );
    }

    #[test]
    fn values_without_a_literal_here_keep_the_parameters() {
        let nul = statement("SELECT $1", vec![Value::String(Some("a\0b".into()))]);
        assert_eq!(inlined(&nul), None);
        let null = statement("SELECT $1", vec![Value::Uuid(None)]);
        assert_eq!(inlined(&null), None);
        let float = statement("SELECT $1", vec![Value::Double(Some(1.5))]);
        assert_eq!(inlined(&float), None);
        let missing = statement("SELECT $1, $2", vec![Value::Int(Some(1))]);
        assert_eq!(inlined(&missing), None);
    }

    /// What PostgreSQL reads from each literal is the value written (when
    /// `TEST_DATABASE_URL` is set).
    #[tokio::test]
    async fn postgresql_reads_each_literal_as_its_value() {
        use sea_orm::sqlx::{self, Row};
        let Ok(url) = std::env::var("TEST_DATABASE_URL") else {
            println!("TEST_DATABASE_URL is not set: skipping the literal round trip");
            return;
        };
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect(&url)
            .await
            .expect("connect to TEST_DATABASE_URL");
        for text in [
            "plain",
            "it's",
            "''",
            r"back\slash \' \\ \n \x41 \u0041",
            "$1 $2 $$ $tag$",
            "E'",
            "line\nbreak\ttab\r\u{1a}\u{7f}",
            "ΣΟΦΙΑ école 🦀",
            "",
        ] {
            let sql = inlined(&statement(
                "SELECT $1::text AS text",
                vec![Value::String(Some(text.to_owned()))],
            ))
            .expect("a literal");
            let row = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .fetch_one(&pool)
                .await
                .unwrap_or_else(|err| panic!("{sql}: {err}"));
            assert_eq!(row.get::<String, _>("text"), text, "{sql}");
        }
        let at = chrono::Utc
            .timestamp_opt(1_795_000_000, 123_456_000)
            .single()
            .expect("valid instant");
        let id = Uuid::now_v7();
        let sql = inlined(&statement(
            "SELECT $1 AS at, $2 AS id, $3 AS small, $4 AS big",
            vec![
                Value::ChronoDateTimeUtc(Some(at)),
                Value::Uuid(Some(id)),
                Value::SmallInt(Some(-3)),
                Value::BigUnsigned(Some(u64::try_from(i64::MAX).expect("fits"))),
            ],
        ))
        .expect("literals");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
            .fetch_one(&pool)
            .await
            .unwrap_or_else(|err| panic!("{sql}: {err}"));
        assert_eq!(row.get::<chrono::DateTime<chrono::Utc>, _>("at"), at);
        assert_eq!(row.get::<Uuid, _>("id"), id);
        assert_eq!(row.get::<i16, _>("small"), -3);
        assert_eq!(row.get::<i64, _>("big"), i64::MAX);
    }
}
