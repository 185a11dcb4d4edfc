//! Literal substring search with SQL `LIKE`, the same on PostgreSQL and SQLite.

use sea_orm::sea_query::LikeExpr;

/// The escape character of every pattern built here.
const ESCAPE: char = '\\';

/// A `LIKE` expression matching values that contain `needle` literally: `%`, `_` and
/// the escape character itself lose their special meaning. The caller lower-cases the
/// needle and matches it against a lower-cased column, so the search is
/// case-insensitive without relying on either database's notion of case.
pub(crate) fn contains(needle: &str) -> LikeExpr {
    let mut pattern = String::with_capacity(needle.len() + 2);
    pattern.push('%');
    for c in needle.chars() {
        if matches!(c, '%' | '_' | ESCAPE) {
            pattern.push(ESCAPE);
        }
        pattern.push(c);
    }
    pattern.push('%');
    LikeExpr::new(pattern).escape(ESCAPE)
}
