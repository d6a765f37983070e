//! `GET /data/{Set}` (collections, with query options, `$expand` and server
//! paging), `GET /data/{Set}/$count` (a plain-text number) and
//! `GET /data/{Set}({key})` (keyed reads, optionally `/{Property}`).

use std::cmp::Ordering;
use std::sync::Arc;

use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{AppState, base_url, data_segments, expand, odata_json};
use crate::data::{EntitySet, Row, Table, Value};
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

pub(super) fn read(
    state: &AppState,
    headers: &HeaderMap,
    uri: &axum::http::Uri,
) -> Result<Response, SimError> {
    let base = base_url(headers);
    let segments = data_segments(uri.path())?;
    let Some(first) = segments.first() else {
        return Err(SimError::NoResource(format!("{base}{uri}")));
    };
    let (name, key) = split_key(first)?;
    let set = state
        .data
        .get(name)
        .ok_or_else(|| SimError::SegmentNotFound(name.to_owned()))?;
    let opts = QueryOptions::parse(uri.query())?;
    match (key, segments.get(1).map(String::as_str), segments.len()) {
        (None, None, _) => {
            let plan = opts.plan(set)?;
            let expand = expand::bind(&state.data, set, &plan.expand)?;
            Ok(odata_json(collection(
                state, set, &opts, &plan, &expand, &base,
            )))
        }
        (None, Some("$count"), 2) => {
            let plan = opts.plan(set)?;
            let table = set.rows();
            let n = matching(state, set, &opts, &plan, &table).len();
            let mut response = (StatusCode::OK, n.to_string()).into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            response
                .headers_mut()
                .insert("odata-version", HeaderValue::from_static("4.0"));
            Ok(response)
        }
        (Some(key), property, n) if n <= 2 => {
            let values = resolve_key(&parse_key(key)?, set, &state.company)?;
            let context = format!("{base}/data/$metadata#{name}");
            let (body, etag) = match property {
                None => {
                    let plan = opts.plan(set)?;
                    let expand = expand::bind(&state.data, set, &plan.expand)?;
                    let locked =
                        expand::Locked::new(&state.data, &expand::tables_for(set, &expand));
                    let row = locked
                        .get(set.name)
                        .and_then(|t| t.lookup(&values))
                        .ok_or_else(|| SimError::EntityNotFound(name.to_owned()))?;
                    let mut out = String::with_capacity(1024);
                    out.push_str("{\"@odata.context\":");
                    let suffix = expand::context_suffix(set, plan.select.as_deref(), &expand);
                    json::push_str(&mut out, &format!("{context}{suffix}/$entity"));
                    out.push(',');
                    set.write_row_json(&mut out, row, plan.select.as_deref());
                    expand::write_expanded(&mut out, row, &expand, &locked);
                    out.push('}');
                    (out, row.etag())
                }
                Some(prop) => {
                    let table = set.rows();
                    let row = table
                        .lookup(&values)
                        .ok_or_else(|| SimError::EntityNotFound(name.to_owned()))?;
                    let i = set
                        .field_index(prop)
                        .ok_or_else(|| SimError::SegmentNotFound(prop.to_owned()))?;
                    let mut out = String::with_capacity(128);
                    out.push_str("{\"@odata.context\":");
                    json::push_str(&mut out, &format!("{context}({key})/{prop}"));
                    out.push_str(",\"value\":");
                    row.values
                        .get(i)
                        .unwrap_or(&Value::Null)
                        .write_json(&mut out);
                    out.push('}');
                    (out, row.etag())
                }
            };
            let mut response = odata_json(body);
            if let Ok(etag) = HeaderValue::from_str(&etag) {
                response.headers_mut().insert(header::ETAG, etag);
            }
            Ok(response)
        }
        _ => Err(SimError::NoResource(format!("{base}{uri}"))),
    }
}

/// Splits `Set(key)` into the set name and the key text.
pub(super) fn split_key(segment: &str) -> Result<(&str, Option<&str>), SimError> {
    match segment.split_once('(') {
        Some((name, rest)) => {
            let inner = rest.strip_suffix(')').ok_or_else(|| {
                SimError::InvalidKey("Bad Request - Error in query syntax.".to_owned())
            })?;
            Ok((name, Some(inner)))
        }
        None => Ok((segment, None)),
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

/// The rows a collection query selects, filtered and ordered.
fn matching<'t>(
    state: &AppState,
    set: &EntitySet,
    opts: &QueryOptions,
    plan: &Plan,
    table: &'t Table,
) -> Vec<&'t Row> {
    let mut rows: Vec<&Row> = table
        .iter()
        .filter(|r| in_company(state, set, opts, r))
        .filter(|r| plan.predicate.as_ref().is_none_or(|p| p.eval(&r.values)))
        .collect();
    if !plan.order.is_empty() {
        // Stable: ties keep RecId order, so pages do not shuffle between calls.
        rows.sort_by(|a, b| order(plan, a, b));
    }
    rows
}

/// Runs a collection query and renders one page of it.
fn collection(
    state: &AppState,
    set: &EntitySet,
    opts: &QueryOptions,
    plan: &Plan,
    expand: &[expand::Bound<'_>],
    base: &str,
) -> String {
    let locked = expand::Locked::new(&state.data, &expand::tables_for(set, expand));
    let Some(table) = locked.get(set.name) else {
        return String::new();
    };
    let rows = matching(state, set, opts, plan, table);
    let total = rows.len();
    let start = opts.skip.min(total);
    let available = total - start;
    let wanted = opts.top.map_or(available, |t| t.min(available));
    let page_size = state.config.max_page_size.max(1);
    let page = wanted.min(page_size);
    let page_rows = rows.get(start..start + page).unwrap_or_default();
    let width = plan.select.as_ref().map_or(set.fields.len(), Vec::len);

    let mut out = String::with_capacity(128 + page_rows.len() * (32 + width * 28));
    out.push_str("{\"@odata.context\":");
    let suffix = expand::context_suffix(set, plan.select.as_deref(), expand);
    json::push_str(
        &mut out,
        &format!("{base}/data/$metadata#{}{suffix}", set.name),
    );
    if opts.count {
        out.push_str(&format!(",\"@odata.count\":{total}"));
    }
    out.push_str(",\"value\":[");
    for (n, row) in page_rows.iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        out.push('{');
        set.write_row_json(&mut out, row, plan.select.as_deref());
        expand::write_expanded(&mut out, row, expand, &locked);
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
