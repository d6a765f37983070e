//! Query options over metadata records: `$filter` (through the same parser
//! as `/data`, evaluated over JSON records), `$select`, `$orderby`, `$top`,
//! `$skip` and `$count`.
//!
//! `d365fo-client` searches with filters such as
//! `contains(tolower(Name), 'cust') and EntityCategory eq
//! Microsoft.Dynamics.Metadata.EntityCategory'Master' and IsReadOnly eq false`
//! and selects a handful of fields; those are what this module must get
//! right. String comparison ignores case, as elsewhere in the simulator.

use std::cmp::Ordering;

use serde_json::{Map, Value as Json};

use crate::SimError;
use crate::odata::QueryOptions;
use crate::odata::ast::{CmpOp, Expr, Literal};
use crate::odata::parse_filter;

/// A value while evaluating a filter.
#[derive(Debug, Clone, PartialEq)]
enum V {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
}

/// Applies `opts` to `records` of entity type `type_name`; returns the page
/// and, with `$count=true`, the count before `$top`/`$skip`.
pub fn apply(
    opts: &QueryOptions,
    type_name: &str,
    records: Vec<Json>,
) -> Result<(Vec<Json>, Option<usize>), SimError> {
    let known: Vec<String> = records
        .first()
        .and_then(Json::as_object)
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    let check = |name: &str| {
        if known.is_empty() || known.iter().any(|k| k == name) {
            Ok(())
        } else {
            Err(SimError::InvalidQuery(format!(
                "Could not find a property named '{name}' on type '{type_name}'."
            )))
        }
    };
    let mut rows = records;
    if let Some(text) = opts.filter.as_deref().filter(|t| !t.trim().is_empty()) {
        let expr = parse_filter(text).map_err(SimError::InvalidQuery)?;
        fields(&expr).into_iter().try_for_each(check)?;
        let mut kept = Vec::with_capacity(rows.len());
        for row in rows {
            match eval(&expr, &row).map_err(SimError::InvalidQuery)? {
                V::Bool(true) => kept.push(row),
                V::Bool(false) | V::Null => {}
                _ => {
                    return Err(SimError::InvalidQuery(
                        "The $filter expression must evaluate to a single boolean value."
                            .to_owned(),
                    ));
                }
            }
        }
        rows = kept;
    }
    if let Some(text) = opts.orderby.as_deref().filter(|t| !t.trim().is_empty()) {
        let mut keys = Vec::new();
        for item in text.split(',') {
            let words: Vec<&str> = item.split_whitespace().collect();
            let (name, desc) = match words.as_slice() {
                [n] | [n, "asc"] => (*n, false),
                [n, "desc"] => (*n, true),
                _ => {
                    return Err(SimError::InvalidQuery(format!(
                        "Syntax error at position 0 in '{text}'."
                    )));
                }
            };
            check(name)?;
            keys.push((name.to_owned(), desc));
        }
        rows.sort_by(|a, b| {
            keys.iter()
                .map(|(k, desc)| {
                    let o = compare(&value(a.get(k)), &value(b.get(k))).unwrap_or(Ordering::Equal);
                    if *desc { o.reverse() } else { o }
                })
                .find(|o| *o != Ordering::Equal)
                .unwrap_or(Ordering::Equal)
        });
    }
    let count = opts.count.then_some(rows.len());
    let rows: Vec<Json> = rows
        .into_iter()
        .skip(opts.skip)
        .take(opts.top.unwrap_or(usize::MAX))
        .collect();
    let rows = match opts.select.as_deref().map(str::trim) {
        None | Some("") | Some("*") => rows,
        Some(text) => {
            let names: Vec<&str> = text
                .split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .collect();
            names.iter().try_for_each(|n| check(n))?;
            rows.into_iter().map(|r| project(r, &names)).collect()
        }
    };
    Ok((rows, count))
}

fn project(row: Json, names: &[&str]) -> Json {
    let Json::Object(obj) = row else { return row };
    let picked: Map<String, Json> = obj
        .into_iter()
        .filter(|(k, _)| names.contains(&k.as_str()))
        .collect();
    Json::Object(picked)
}

/// Every property name `expr` mentions.
fn fields(expr: &Expr) -> Vec<&str> {
    match expr {
        Expr::Field(name) => vec![name.as_str()],
        Expr::Or(items) | Expr::And(items) | Expr::Call(_, items) => {
            items.iter().flat_map(fields).collect()
        }
        Expr::Not(a) => fields(a),
        Expr::Cmp(_, a, b) => fields(a).into_iter().chain(fields(b)).collect(),
        Expr::Lit(_) => Vec::new(),
    }
}

fn value(j: Option<&Json>) -> V {
    match j {
        Some(Json::Bool(b)) => V::Bool(*b),
        Some(Json::Number(n)) => n.as_f64().map_or(V::Null, V::Num),
        Some(Json::String(s)) => V::Str(s.clone()),
        _ => V::Null,
    }
}

fn compare(a: &V, b: &V) -> Option<Ordering> {
    match (a, b) {
        (V::Null, V::Null) => Some(Ordering::Equal),
        (V::Bool(x), V::Bool(y)) => Some(x.cmp(y)),
        (V::Num(x), V::Num(y)) => x.partial_cmp(y),
        (V::Str(x), V::Str(y)) => Some(x.to_lowercase().cmp(&y.to_lowercase())),
        _ => None,
    }
}

fn eval(expr: &Expr, row: &Json) -> Result<V, String> {
    Ok(match expr {
        Expr::Field(name) => value(row.get(name)),
        Expr::Lit(l) => match l {
            Literal::Null => V::Null,
            Literal::Bool(b) => V::Bool(*b),
            Literal::Int(i) => V::Num(*i as f64),
            Literal::Num(n) => V::Num(*n),
            Literal::Str(s) => V::Str(s.clone()),
            Literal::DateTime(ms) => V::Str(crate::data::datetime::render(*ms)),
            // Enum properties are written as their member name.
            Literal::Enum { member, .. } => V::Str(member.clone()),
        },
        Expr::Not(a) => match eval(a, row)? {
            V::Bool(b) => V::Bool(!b),
            _ => V::Null,
        },
        Expr::And(items) => {
            let mut all = true;
            for item in items {
                all &= eval(item, row)? == V::Bool(true);
            }
            V::Bool(all)
        }
        Expr::Or(items) => {
            let mut any = false;
            for item in items {
                any |= eval(item, row)? == V::Bool(true);
            }
            V::Bool(any)
        }
        Expr::Cmp(op, a, b) => {
            let (x, y) = (eval(a, row)?, eval(b, row)?);
            let ord = compare(&x, &y);
            V::Bool(match op {
                CmpOp::Eq => ord == Some(Ordering::Equal),
                CmpOp::Ne => ord != Some(Ordering::Equal),
                CmpOp::Gt => ord == Some(Ordering::Greater),
                CmpOp::Ge => matches!(ord, Some(Ordering::Greater | Ordering::Equal)),
                CmpOp::Lt => ord == Some(Ordering::Less),
                CmpOp::Le => matches!(ord, Some(Ordering::Less | Ordering::Equal)),
            })
        }
        Expr::Call(name, args) => call(name, args, row)?,
    })
}

fn call(name: &str, args: &[Expr], row: &Json) -> Result<V, String> {
    let vals = args
        .iter()
        .map(|a| eval(a, row))
        .collect::<Result<Vec<_>, _>>()?;
    let text = |i: usize| match vals.get(i) {
        Some(V::Str(s)) => Some(s.to_lowercase()),
        _ => None,
    };
    let arity = |n: usize| {
        if vals.len() == n {
            Ok(())
        } else {
            Err(format!("The function '{name}' requires {n} argument(s)."))
        }
    };
    Ok(match name {
        "tolower" | "toupper" | "trim" => {
            arity(1)?;
            match vals.first() {
                Some(V::Str(s)) if name == "tolower" => V::Str(s.to_lowercase()),
                Some(V::Str(s)) if name == "toupper" => V::Str(s.to_uppercase()),
                Some(V::Str(s)) => V::Str(s.trim().to_owned()),
                _ => V::Null,
            }
        }
        "contains" | "startswith" | "endswith" => {
            arity(2)?;
            match (text(0), text(1)) {
                (Some(s), Some(p)) => V::Bool(match name {
                    "contains" => s.contains(&p),
                    "startswith" => s.starts_with(&p),
                    _ => s.ends_with(&p),
                }),
                _ => V::Null,
            }
        }
        other => {
            return Err(format!(
                "An unknown function with name '{other}' was found. This may also be a function import or a key lookup on a navigation property, which is not allowed."
            ));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn recs() -> Vec<Json> {
        vec![
            json!({"Name": "CustCustomerV3Entity", "EntityCategory": "Master", "IsReadOnly": false}),
            json!({"Name": "LedgerCurrencyEntity", "EntityCategory": "Reference", "IsReadOnly": false}),
            json!({"Name": "CustCustomerGroupEntity", "EntityCategory": "Reference", "IsReadOnly": true}),
        ]
    }

    fn run(q: &str) -> Result<(Vec<Json>, Option<usize>), SimError> {
        apply(
            &QueryOptions::parse(Some(q))?,
            "Microsoft.Dynamics.Metadata.DataEntity",
            recs(),
        )
    }

    #[test]
    fn client_style_filters() {
        let (rows, _) = run("$filter=contains(tolower(Name),%20'cust')%20and%20EntityCategory%20eq%20Microsoft.Dynamics.Metadata.EntityCategory'Master'").unwrap();
        assert_eq!(rows.len(), 1);
        let (rows, count) =
            run("$filter=IsReadOnly eq false&$count=true&$top=1&$select=Name").unwrap();
        assert_eq!((rows.len(), count), (1, Some(2)));
        assert_eq!(rows[0], json!({"Name": "CustCustomerV3Entity"}));
        let (rows, _) = run("$orderby=Name desc&$skip=1").unwrap();
        assert_eq!(rows[0]["Name"], "CustCustomerV3Entity");
    }

    #[test]
    fn bad_queries_are_400s() {
        for q in [
            "$filter=Nope eq 1",
            "$select=Nope",
            "$filter=foo(Name)",
            "$filter=Name",
            "$filter=contains(Name)",
            "$filter=((",
        ] {
            assert!(run(q).is_err(), "{q}");
        }
    }
}
