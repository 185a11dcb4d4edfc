//! How a page finds the tasks matching `q` on SQLite: through the FTS5 trigram index
//! of `m20261206_000008_sqlite_task_search` when that is the cheaper way, or by
//! walking the sort's index and testing each row with the `LIKE` (the plan every
//! other database and every short needle keep).
//!
//! Either way the exact `LIKE` of the page's filter (`pages`) stays in the statement as
//! the final filter: the index only narrows the rows the `LIKE` looks at, so the search
//! means the same on every path. A quoted needle of three or more characters matches
//! the rows whose lower-cased text holds it as a substring (the index sees the very
//! strings the `LIKE` sees), so no matching row is left out; shorter needles have no
//! trigram to look up.
//!
//! Which way is cheaper depends on the needle. Through the index a page reads every
//! candidate (a row lookup each) and sorts them; the walk reads rows in the sort's
//! order until the page and the capped count are full, which costs about the user's
//! rows divided by how often the needle occurs. A rare needle (few candidates) is
//! cheap through the index and costs a walk of every row of the user; a frequent one
//! is the other way round, and a user with few tasks has a short walk whatever the
//! needle. So before the page the adapter counts, for a user's list, the user's tasks
//! up to [`MAX_CANDIDATES`] + 1 (entries of the owner's index), then the candidates up
//! to that bound (a read of the search index alone); the index serves the page only
//! when it has fewer candidates than the bound.

use sea_orm::sea_query::{Expr, ExprTrait, Query, SimpleExpr};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement, Value};
use taskforge_domain::task::TaskFilter;

use crate::entities::task;

/// The most candidates a page reads through the index: about as many row lookups as a
/// walk spends on a needle found in one row of a few hundred, and a bound on what one
/// page costs through the index (a few milliseconds).
const MAX_CANDIDATES: u64 = 5_000;

/// The trigram tokenizer's grain: a needle shorter than this has no trigram to look up.
const TRIGRAM: usize = 3;

/// The condition that restricts a page of `filter` to the index's candidates, when
/// the index is the cheaper way to find its rows; `None` to walk (any database but
/// SQLite, no `q`, a needle shorter than a trigram, or too many candidates).
pub(crate) async fn candidates<C: ConnectionTrait>(
    db: &C,
    filter: &TaskFilter,
) -> Result<Option<SimpleExpr>, DbErr> {
    if db.get_database_backend() != DbBackend::Sqlite {
        return Ok(None);
    }
    let Some(q) = &filter.q else {
        return Ok(None);
    };
    let needle = q.to_lowercase();
    if needle.chars().count() < TRIGRAM {
        return Ok(None);
    }
    // The walk reads at most the user's tasks; the index is the cheaper way only with
    // fewer candidates than that, and at most `MAX_CANDIDATES`. The user's tasks are
    // counted first (entries of the owner's index, no row), so that a user with few
    // tasks reads no more candidates than they have tasks; both counts are one
    // statement, since every statement on SQLite's one connection waits its turn.
    let (bound, mut values) = match filter.owner_id {
        Some(owner_id) => (
            "SELECT COUNT(*) FROM (SELECT 1 FROM tasks WHERE owner_id = ? LIMIT ?)",
            vec![Value::from(owner_id), Value::from(MAX_CANDIDATES + 1)],
        ),
        None => ("SELECT ?", vec![Value::from(MAX_CANDIDATES + 1)]),
    };
    let phrase = phrase(&needle);
    values.push(Value::from(phrase.clone()));
    let probe = Statement::from_sql_and_values(
        DbBackend::Sqlite,
        format!(
            "WITH bound (n) AS MATERIALIZED ({bound}) \
             SELECT n, (SELECT COUNT(*) FROM (SELECT 1 FROM task_search \
             WHERE task_search MATCH ? LIMIT (SELECT n FROM bound))) FROM bound"
        ),
        values,
    );
    let Some(row) = db.query_one_raw(probe).await? else {
        return Ok(None);
    };
    let bound = row.try_get_by_index::<i64>(0)?;
    let found = row.try_get_by_index::<i64>(1)?;
    if found >= bound {
        return Ok(None);
    }
    let keys = Query::select()
        .expr(Expr::cust("rowid"))
        .from("task_search")
        .and_where(Expr::cust_with_values("task_search MATCH ?", [phrase]))
        .to_owned();
    let ids = Query::select()
        .expr(Expr::cust("task_id"))
        .from("task_search_keys")
        .and_where(Expr::cust("key").in_subquery(keys))
        .to_owned();
    Ok(Some(Expr::col(task::Column::Id).in_subquery(ids)))
}

/// `needle` as an FTS5 phrase: in double quotes, which make every character but the
/// double quote literal, and a double quote is written twice.
fn phrase(needle: &str) -> String {
    format!("\"{}\"", needle.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_phrase_quotes_the_needle_and_doubles_its_quotes() {
        assert_eq!(phrase("a\"b c"), "\"a\"\"b c\"");
        assert_eq!(phrase("50%_\\"), "\"50%_\\\"");
    }
}
