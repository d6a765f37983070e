//! Running a bound query over one table: which rows match, in what order,
//! and which page of them a response carries.
//!
//! Plain functions over a [`Table`] the caller has locked, so the HTTP
//! adapter only extracts, calls and encodes. The caller runs them off the
//! async workers (`spawn_blocking`): a filter or sort over a million rows
//! takes a while, and must not stall unrelated requests.

use std::cmp::Ordering;

use super::query::Plan;
use crate::data::{Row, Table, Value};

/// Rows outside the request's company are invisible unless the query is
/// `cross-company=true`: the `dataAreaId` field and the lower-cased company.
pub type Company<'a> = Option<(usize, &'a str)>;

fn visible(company: Company<'_>, plan: &Plan, row: &Row) -> bool {
    let in_company = match company {
        Some((i, c)) => {
            matches!(row.values.get(i), Some(Value::Str(v)) if v.eq_ignore_ascii_case(c))
        }
        None => true,
    };
    in_company && plan.predicate.as_ref().is_none_or(|p| p.eval(&row.values))
}

/// How many rows the query selects (`$count`, `@odata.count`); no sort.
pub fn count(table: &Table, company: Company<'_>, plan: &Plan) -> usize {
    table.iter().filter(|r| visible(company, plan, r)).count()
}

/// `$orderby` order; ties keep RecId order, as a stable sort would, so
/// pages do not shuffle between calls.
pub fn compare(order: &[(usize, bool)], a: &Row, b: &Row) -> Ordering {
    for &(i, desc) in order {
        let ord = match (a.values.get(i), b.values.get(i)) {
            (Some(x), Some(y)) => x.compare(y).unwrap_or(Ordering::Equal),
            _ => Ordering::Equal,
        };
        let ord = if desc { ord.reverse() } else { ord };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    a.rec_id.cmp(&b.rec_id)
}

/// One page of a query's result, and the size of the whole result.
#[derive(Debug)]
pub struct Selection<'t> {
    /// The page's rows, in order.
    pub rows: Vec<&'t Row>,
    /// Rows the whole query selects (`@odata.count`).
    pub total: usize,
    /// Where the page sits in the result.
    pub page: Page,
}

/// Filters and orders the rows of `table`, and cuts the page `$skip` and
/// `$top` ask for, at most `max` rows long.
pub fn page<'t>(
    table: &'t Table,
    company: Company<'_>,
    plan: &Plan,
    skip: usize,
    top: Option<usize>,
    max: usize,
) -> Selection<'t> {
    let mut rows: Vec<&Row> = table.iter().filter(|r| visible(company, plan, r)).collect();
    let total = rows.len();
    let page = Page::new(total, skip, top, max);
    order_prefix(&mut rows, &plan.order, page.end());
    rows.truncate(page.end());
    rows.drain(..page.start);
    Selection { rows, total, page }
}

/// Puts the first `n` rows in `order`: a page near the start of a large
/// result costs a selection, not a full sort. The rest stay unordered.
fn order_prefix(rows: &mut [&Row], order: &[(usize, bool)], n: usize) {
    if order.is_empty() || n == 0 {
        return;
    }
    let by = |a: &&Row, b: &&Row| compare(order, a, b);
    if n < rows.len() {
        rows.select_nth_unstable_by(n - 1, by);
    }
    if let Some(prefix) = rows.get_mut(..n.min(rows.len())) {
        prefix.sort_unstable_by(by);
    }
}

/// One page of a result: where it starts, how long it is, and the `$skip`
/// and `$top` of the page after it, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Index of the page's first row in the whole result.
    pub start: usize,
    /// Rows on this page.
    pub len: usize,
    /// `($skip, $top)` of the next page, when the client wants more rows.
    pub next: Option<(usize, Option<usize>)>,
}

impl Page {
    /// The page `$skip`/`$top` ask for of `total` rows, at most `max` long
    /// (D365FO's server-driven paging).
    pub fn new(total: usize, skip: usize, top: Option<usize>, max: usize) -> Self {
        let start = skip.min(total);
        let available = total - start;
        let wanted = top.map_or(available, |t| t.min(available));
        let len = wanted.min(max.max(1));
        let next = (wanted > len).then(|| (start + len, top.map(|t| t - len)));
        Self { start, len, next }
    }

    /// Rows the query must put in order to render this page.
    pub fn end(&self) -> usize {
        self.start + self.len
    }
}

/// The link to the next page: the request's own options, verbatim, with
/// `$top` and `$skip` advanced.
pub fn next_link(
    base: &str,
    set: &str,
    passthrough: &[String],
    skip: usize,
    top: Option<usize>,
) -> String {
    let mut params = passthrough.to_vec();
    if let Some(top) = top {
        params.push(format!("$top={top}"));
    }
    params.push(format!("$skip={skip}"));
    format!("{base}/data/{set}?{}", params.join("&"))
}

#[cfg(test)]
#[path = "execute_tests.rs"]
mod tests;
