//! A changeset's rollback puts rows, ETags and the header→lines child index
//! back exactly as they were, in RecId order.

use serde_json::{Map, Value as Json, json};

use super::write::Mode;
use super::*;

/// Each order's company and number, with its line ids in index order.
fn lines_by_order(d: &Dataset) -> Vec<((Value, Value), Vec<Value>)> {
    let headers = d.get("SalesOrderHeadersV2").unwrap();
    let lines = d.get("SalesOrderLines").unwrap();
    let (headers, lines) = (headers.rows(), lines.rows());
    headers
        .iter()
        .map(|h| {
            let found = lines
                .matching(&[0, 2], &[&h.values[0], &h.values[1]])
                .iter()
                .map(|r| r.values[1].clone())
                .collect();
            ((h.values[0].clone(), h.values[1].clone()), found)
        })
        .collect()
}

/// The key and row of the first line of an order with several lines.
fn a_line_with_siblings(d: &Dataset) -> (Vec<Value>, Row) {
    let lines = d.get("SalesOrderLines").unwrap().rows();
    let first = lines.iter().next().unwrap();
    let siblings = lines.matching(&[0, 2], &[&first.values[0], &first.values[2]]);
    assert!(siblings.len() >= 2, "the first order has several lines");
    let row = siblings[0].clone();
    (vec![row.values[0].clone(), row.values[1].clone()], row)
}

fn object(v: Json) -> Map<String, Json> {
    v.as_object().cloned().unwrap_or_default()
}

fn fails<'a>(tx: &mut Tx<'a>, d: &'a Dataset) {
    let lines = d.get("SalesOrderLines").unwrap();
    let bad = object(
        json!({"InventoryLotId": "NEW-1", "SalesOrderNumber": "NOPE", "ItemNumber": "NOPE"}),
    );
    assert!(tx.apply(lines, Op::Create(&bad), "usmf").is_err());
}

#[test]
fn rolling_back_an_update_restores_the_row_and_the_child_index() {
    let d = Dataset::seeded(4);
    let before = lines_by_order(&d);
    let (key, old) = a_line_with_siblings(&d);
    let other_order = before
        .iter()
        .find(|((c, o), _)| *c == old.values[0] && *o != old.values[2])
        .map(|((_, o), _)| o.clone())
        .unwrap();
    let Value::Str(other_order) = other_order else {
        panic!("order numbers are strings")
    };
    let lines = d.get("SalesOrderLines").unwrap();
    let mut tx = Tx::changeset(&d);
    // First an update that keeps the order, then one that moves the line.
    for body in [
        json!({"LineDescription": "changed"}),
        json!({"SalesOrderNumber": other_order}),
    ] {
        let body = object(body);
        let op = Op::Update {
            key: key.clone(),
            body: &body,
            mode: Mode::Merge,
            if_match: None,
        };
        assert!(matches!(
            tx.apply(lines, op, "usmf"),
            Ok(Outcome::Updated(_))
        ));
    }
    fails(&mut tx, &d);
    tx.rollback();
    assert_eq!(lines.lookup(&key), Some(old.clone()), "values and version");
    assert_eq!(lines.lookup(&key).map(|r| r.etag()), Some(old.etag()));
    assert_eq!(lines_by_order(&d), before, "every order's lines, in order");
}

#[test]
fn rolling_back_a_delete_restores_the_row_and_the_child_index() {
    let d = Dataset::seeded(4);
    let before = lines_by_order(&d);
    let (key, old) = a_line_with_siblings(&d);
    let lines = d.get("SalesOrderLines").unwrap();
    let count = lines.rows().len();
    let mut tx = Tx::changeset(&d);
    let op = Op::Delete {
        key: key.clone(),
        if_match: None,
    };
    assert!(matches!(tx.apply(lines, op, "usmf"), Ok(Outcome::Deleted)));
    fails(&mut tx, &d);
    tx.rollback();
    assert_eq!(lines.rows().len(), count);
    assert_eq!(lines.lookup(&key), Some(old));
    assert_eq!(lines_by_order(&d), before, "every order's lines, in order");
    let ids: Vec<u64> = lines.rows().iter().map(|r| r.rec_id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "RecId order holds");
}
