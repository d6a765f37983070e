//! `GET /data/{Set}` (collections, with query options and server paging) and
//! `GET /data/{Set}({key})` (keyed reads, optionally `/{Property}`).

use std::cmp::Ordering;
use std::sync::Arc;

use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::{AppState, base_url, data_segments, odata_json};
use crate::data::{EntitySet, Row, Value};
use crate::odata::QueryOptions;
use crate::odata::key::{parse_key, resolve_key};
use crate::odata::query::Plan;
use crate::{SimError, json};

/// `GET /data/…`.
pub(super) async fn get(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
) -> Response {
    match read(&state, &headers, &uri) {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

fn read(
    state: &AppState,
    headers: &HeaderMap,
    uri: &axum::http::Uri,
) -> Result<Response, SimError> {
    let base = base_url(headers);
    let segments = data_segments(uri.path())?;
    let Some(first) = segments.first() else {
        return Err(SimError::NoResource(format!("{base}{uri}")));
    };
    let (name, key) = match first.split_once('(') {
        Some((name, rest)) => {
            let inner = rest.strip_suffix(')').ok_or_else(|| {
                SimError::InvalidKey("Bad Request - Error in query syntax.".to_owned())
            })?;
            (name, Some(inner))
        }
        None => (first.as_str(), None),
    };
    let set = state
        .data
        .get(name)
        .ok_or_else(|| SimError::SegmentNotFound(name.to_owned()))?;
    let opts = QueryOptions::parse(uri.query())?;
    match (key, segments.get(1)) {
        (None, None) => {
            let plan = opts.plan(set)?;
            Ok(odata_json(collection(state, set, &opts, &plan, &base)))
        }
        (Some(key), property) => {
            let values = resolve_key(&parse_key(key)?, set, &state.company)?;
            let row = set
                .lookup(&values)
                .ok_or_else(|| SimError::EntityNotFound(name.to_owned()))?;
            let context = format!("{base}/data/$metadata#{name}");
            let mut response = match property {
                None => {
                    let plan = opts.plan(set)?;
                    let mut out = String::with_capacity(row.json.len() + 96);
                    out.push_str("{\"@odata.context\":");
                    json::push_str(&mut out, &format!("{context}/$entity"));
                    out.push(',');
                    match &plan.select {
                        None => out.push_str(&row.json),
                        Some(sel) => out.push_str(&set.row_json(row, Some(sel))),
                    }
                    out.push('}');
                    odata_json(out)
                }
                Some(prop) => {
                    let i = set
                        .field_index(prop)
                        .ok_or_else(|| SimError::SegmentNotFound(prop.clone()))?;
                    let mut out = String::with_capacity(128);
                    out.push_str("{\"@odata.context\":");
                    json::push_str(&mut out, &format!("{context}({key})/{prop}"));
                    out.push_str(",\"value\":");
                    row.values
                        .get(i)
                        .unwrap_or(&Value::Null)
                        .write_json(&mut out);
                    out.push('}');
                    odata_json(out)
                }
            };
            if let Ok(etag) = HeaderValue::from_str(&row.etag) {
                response.headers_mut().insert(header::ETAG, etag);
            }
            Ok(response)
        }
        (None, Some(_)) => Err(SimError::NoResource(format!("{base}{uri}"))),
    }
}

fn in_company(state: &AppState, set: &EntitySet, opts: &QueryOptions, row: &Row) -> bool {
    match set.company {
        Some(i) if !opts.cross_company => {
            matches!(row.values.get(i), Some(Value::Str(c)) if c.eq_ignore_ascii_case(&state.company))
        }
        _ => true,
    }
}

fn order(plan: &Plan, a: &Row, b: &Row) -> Ordering {
    for &(i, desc) in &plan.order {
        let (x, y) = (a.values.get(i), b.values.get(i));
        let ord = match (x, y) {
            (Some(x), Some(y)) => x.compare(y).unwrap_or(Ordering::Equal),
            _ => Ordering::Equal,
        };
        let ord = if desc { ord.reverse() } else { ord };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    Ordering::Equal
}

/// Runs a collection query and renders one page of it.
fn collection(
    state: &AppState,
    set: &EntitySet,
    opts: &QueryOptions,
    plan: &Plan,
    base: &str,
) -> String {
    let mut rows: Vec<&Row> = set
        .rows()
        .iter()
        .filter(|r| in_company(state, set, opts, r))
        .filter(|r| plan.predicate.as_ref().is_none_or(|p| p.eval(&r.values)))
        .collect();
    if !plan.order.is_empty() {
        // Stable: ties keep key order, so pages do not shuffle between calls.
        rows.sort_by(|a, b| order(plan, a, b));
    }
    let total = rows.len();
    let start = opts.skip.min(total);
    let available = total - start;
    let wanted = opts.top.map_or(available, |t| t.min(available));
    let page_size = state.config.max_page_size.max(1);
    let page = wanted.min(page_size);
    let page_rows = rows.get(start..start + page).unwrap_or_default();

    let mut out =
        String::with_capacity(128 + page_rows.iter().map(|r| r.json.len() + 2).sum::<usize>());
    out.push_str("{\"@odata.context\":");
    let mut context = format!("{base}/data/$metadata#{}", set.name);
    if let Some(sel) = &plan.select {
        let names: Vec<&str> = sel
            .iter()
            .filter_map(|&i| set.fields.get(i).map(|f| f.name))
            .collect();
        context.push_str(&format!("({})", names.join(",")));
    }
    json::push_str(&mut out, &context);
    if opts.count {
        out.push_str(&format!(",\"@odata.count\":{total}"));
    }
    out.push_str(",\"value\":[");
    for (n, row) in page_rows.iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        out.push('{');
        match &plan.select {
            None => out.push_str(&row.json),
            Some(sel) => out.push_str(&set.row_json(row, Some(sel))),
        }
        out.push('}');
    }
    out.push(']');
    if wanted > page {
        out.push_str(",\"@odata.nextLink\":");
        json::push_str(
            &mut out,
            &next_link(
                base,
                set.name,
                opts,
                start + page,
                opts.top.map(|t| t - page),
            ),
        );
    }
    out.push('}');
    out
}

/// The link to the next page: the request's own options, verbatim, with
/// `$top` and `$skip` advanced.
fn next_link(
    base: &str,
    set: &str,
    opts: &QueryOptions,
    skip: usize,
    top: Option<usize>,
) -> String {
    let mut params = opts.passthrough.clone();
    if let Some(top) = top {
        params.push(format!("$top={top}"));
    }
    params.push(format!("$skip={skip}"));
    format!("{base}/data/{set}?{}", params.join("&"))
}
