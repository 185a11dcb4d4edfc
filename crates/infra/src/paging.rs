//! The SQL of keyset pages and capped counts, shared by every list.

use sea_orm::sea_query::{Expr, ExprTrait, Query, SelectStatement};
use sea_orm::{Condition, EntityTrait};
use taskforge_domain::page::Window;

/// The rows that follow the position `(value, id)` in the order `sort, id_column`
/// (both in the same direction): one row-value comparison, which both databases turn
/// into the start of a range on an index of `(…, sort, id)`, so a page costs the same
/// at any depth.
pub(crate) fn after(sort: Expr, id_column: Expr, value: Expr, id: Expr, descending: bool) -> Expr {
    let row = Expr::tuple([sort, id_column]);
    let position = Expr::tuple([value, id]);
    if descending {
        row.lt(position)
    } else {
        row.gt(position)
    }
}

/// `(SELECT COUNT(*) FROM (SELECT 1 FROM entity WHERE condition LIMIT cap + 1))`: the
/// matching rows counted up to one past `cap`, so a count never reads more than
/// `cap + 1` index entries however many rows match; `cap + 1` means "more than
/// `cap`".
pub(crate) fn capped_count<E: EntityTrait>(
    entity: E,
    condition: Condition,
    cap: u64,
) -> SelectStatement {
    let matching = Query::select()
        .expr(Expr::val(1))
        .from(entity)
        .cond_where(condition)
        .limit(cap.saturating_add(1))
        .to_owned();
    Query::select()
        .expr(Expr::cust("COUNT(*)"))
        .from_subquery(matching, "capped")
        .to_owned()
}

/// The count that any row on a page of `window` proves, when the page skips at least
/// the cap's worth of rows: that row is one past the cap, so more than the cap match.
/// Such a page need not count (10 000 deep, with the cap at 10 000, it would walk
/// 10 001 entries for its count besides the 10 000 it skips); one that finds no row is
/// past the end and counts alone.
pub(crate) fn past_the_cap<K>(window: &Window<K>) -> Option<u64> {
    (window.offset >= window.count_cap).then(|| window.count_cap.saturating_add(1))
}
