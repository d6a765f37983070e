//! The query engine against a full filter-and-stable-sort reference.

use std::cmp::Ordering;

use super::*;
use crate::data::Dataset;
use crate::odata::QueryOptions;

/// What a query must return: every visible row, stably sorted.
fn reference<'t>(table: &'t Table, company: Company<'_>, plan: &Plan) -> Vec<&'t Row> {
    let mut rows: Vec<&Row> = table.iter().filter(|r| visible(company, plan, r)).collect();
    rows.sort_by(|a, b| {
        for &(i, desc) in &plan.order {
            let o = a.values[i].compare(&b.values[i]).unwrap_or(Ordering::Equal);
            let o = if desc { o.reverse() } else { o };
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    });
    rows
}

#[test]
fn pages_match_a_full_stable_sort() {
    let d = Dataset::seeded(2);
    let set = d.get("CustomersV3").unwrap();
    let table = set.rows();
    let usmf = Some((0, "usmf"));
    for query in [
        "",
        "$orderby=CustomerGroupId",
        "$orderby=CustomerGroupId desc,CreditLimit",
        "$orderby=CreditLimit desc&$filter=CreditLimit gt 1000",
        "$filter=CustomerGroupId eq '10'",
    ] {
        let plan = QueryOptions::parse(Some(query)).unwrap().plan(set).unwrap();
        for company in [usmf, None] {
            let all = reference(&table, company, &plan);
            assert_eq!(count(&table, company, &plan), all.len(), "{query}");
            for (skip, top, max) in [
                (0, None, 10_000),
                (0, Some(3), 10_000),
                (7, Some(5), 2),
                (40, None, 7),
                (1_000, Some(1), 5),
                (0, Some(0), 5),
            ] {
                let got = page(&table, company, &plan, skip, top, max);
                let p = got.page;
                assert_eq!(got.total, all.len());
                let want: Vec<u64> = all[p.start..p.end()].iter().map(|r| r.rec_id).collect();
                let have: Vec<u64> = got.rows.iter().map(|r| r.rec_id).collect();
                assert_eq!(have, want, "{query} skip={skip} top={top:?} max={max}");
            }
        }
    }
}

#[test]
fn page_bounds_and_next_page() {
    assert_eq!(
        Page::new(100, 0, None, 10_000),
        Page {
            start: 0,
            len: 100,
            next: None
        }
    );
    assert_eq!(Page::new(100, 10, Some(50), 20).next, Some((30, Some(30))));
    assert_eq!(Page::new(100, 90, None, 5).next, Some((95, None)));
    assert_eq!(Page::new(100, 500, Some(5), 5).len, 0);
    assert_eq!(
        Page::new(100, 0, Some(7), 0).len,
        1,
        "a page has room for a row"
    );
    assert_eq!(
        next_link("http://h", "Set", &["$filter=a".to_owned()], 30, Some(3)),
        "http://h/data/Set?$filter=a&$top=3&$skip=30"
    );
}
