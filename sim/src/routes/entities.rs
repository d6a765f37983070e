//! `GET /data/{Set}` (collections, with query options, `$expand` and server
//! paging), `GET /data/{Set}/$count` (a plain-text number) and
//! `GET /data/{Set}({key})` (keyed reads, optionally `/{Property}`).
//!
//! The query engine (filter, order, page) is [`crate::odata::execute`];
//! this adapter parses the request, calls it, and renders the JSON.

use std::sync::Arc;

use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{AppState, base_url, data_segments, expand, odata_json};
use crate::data::{EntitySet, Value};
use crate::odata::QueryOptions;
use crate::odata::execute::{self, Selection};
use crate::odata::key::{in_company, parse_key, resolve_key};
use crate::odata::query::Plan;
use crate::{SimError, json};

/// `GET /data/…`.
pub(super) async fn get(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
) -> Response {
    // A keyed read is one index lookup: answer it here, as hopping to the
    // blocking pool would cost more than the read (and halve the keyed-GET
    // rate). A filter, sort or render over a large set takes a while and
    // holds read locks meanwhile: off the async workers, so it never stalls
    // unrelated requests.
    if is_keyed(uri.path()) {
        return read(&state, &headers, &uri).unwrap_or_else(IntoResponse::into_response);
    }
    super::blocking(move || {
        read(&state, &headers, &uri).unwrap_or_else(IntoResponse::into_response)
    })
    .await
}

/// `/data/Set(key)…`: the first segment after `/data/` names a key.
fn is_keyed(path: &str) -> bool {
    path.strip_prefix("/data/")
        .and_then(|rest| rest.split('/').next())
        .is_some_and(|first| first.contains('(') || first.contains("%28"))
}

pub(super) fn read(
    state: &AppState,
    headers: &HeaderMap,
    uri: &axum::http::Uri,
) -> Result<Response, SimError> {
    let base = base_url(headers, uri);
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
            let n = execute::count(&set.rows(), company(state, set, &opts), &plan);
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
            // Another company's record is not found without cross-company=true.
            if !opts.cross_company && !in_company(set, &values, &state.company) {
                return Err(SimError::EntityNotFound(name.to_owned()));
            }
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

/// The company a query over `set` is limited to, unless it is cross-company.
fn company<'a>(state: &'a AppState, set: &EntitySet, opts: &QueryOptions) -> execute::Company<'a> {
    match set.company {
        Some(i) if !opts.cross_company => Some((i, state.company.as_str())),
        _ => None,
    }
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
    let Selection { rows, total, page } = execute::page(
        table,
        company(state, set, opts),
        plan,
        opts.skip,
        opts.top,
        state.config.max_page_size,
    );
    let width = plan.select.as_ref().map_or(set.fields.len(), Vec::len);

    let mut out = String::with_capacity(128 + rows.len() * (32 + width * 28));
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
    for (n, row) in rows.iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        out.push('{');
        set.write_row_json(&mut out, row, plan.select.as_deref());
        expand::write_expanded(&mut out, row, expand, &locked);
        out.push('}');
    }
    out.push(']');
    if let Some((skip, top)) = page.next {
        out.push_str(",\"@odata.nextLink\":");
        let link = execute::next_link(base, set.name, &opts.passthrough, skip, top);
        json::push_str(&mut out, &link);
    }
    out.push('}');
    out
}

#[cfg(test)]
mod keyed_tests {
    use super::is_keyed;

    #[test]
    fn keyed_paths_are_told_from_collections() {
        assert!(is_keyed(
            "/data/CustomersV3(dataAreaId='usmf',CustomerAccount='US-001')"
        ));
        assert!(is_keyed("/data/Currencies%28%27USD%27%29"));
        assert!(is_keyed("/data/Currencies('USD')/Name"));
        assert!(!is_keyed("/data/CustomersV3"));
        assert!(!is_keyed("/data/CustomersV3/$count"));
        assert!(!is_keyed("/data/"));
    }
}
