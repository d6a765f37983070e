//! Writes: `POST /data/{Set}` (201 with the entity and a `Location`),
//! `PATCH`/`PUT /data/{Set}({key})` (204) and `DELETE` (204).
//!
//! [`execute`] runs one write inside a [`Tx`] the caller owns, so a plain
//! request and a `$batch` changeset share every rule: key resolution,
//! `If-Match`, validation and the response shape.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Extension, OriginalUri, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value as Json};

use super::entities::split_key;
use super::{AppState, base_url, data_segments, odata_json, request_url};
use crate::auth::bearer::{Principal, write_refusal};
use crate::data::write::{Mode, invalid_request};
use crate::data::{EntitySet, Op, Outcome, Row, Tx, not_found};
use crate::odata::QueryOptions;
use crate::odata::key::{in_company, parse_key, resolve_key};
use crate::{SimError, json};

/// `POST /data/…`: a create when the path names an entity set, else an action.
pub(super) async fn post(
    State(state): State<Arc<AppState>>,
    principal: Option<Extension<Principal>>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    body: Bytes,
) -> Response {
    if names_a_set(&state, &uri) {
        if let Some(refusal) = write_refusal(principal.as_deref(), uri.path()) {
            return refusal.into_response();
        }
        return super::blocking(move || single(&state, &Method::POST, &headers, &uri, &body)).await;
    }
    super::actions::post(State(state), headers, OriginalUri(uri), body).await
}

/// `PATCH`, `PUT` and `DELETE /data/{Set}({key})`.
pub(super) async fn change(
    State(state): State<Arc<AppState>>,
    principal: Option<Extension<Principal>>,
    method: Method,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    body: Bytes,
) -> Response {
    if let Some(refusal) = write_refusal(principal.as_deref(), uri.path()) {
        return refusal.into_response();
    }
    super::blocking(move || single(&state, &method, &headers, &uri, &body)).await
}

/// Whether `uri` is `/data/{Set}` for a known set (a create, not an action).
pub(super) fn names_a_set(state: &AppState, uri: &Uri) -> bool {
    matches!(data_segments(uri.path()).as_deref(), Ok([one]) if !one.contains('(') && state.data.get(one).is_some())
}

/// Runs one write in its own transaction. Blocking: the set's write lock
/// waits for readers to finish.
fn single(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
    uri: &Uri,
    body: &[u8],
) -> Response {
    let mut tx = Tx::single(&state.data);
    match execute(state, &mut tx, method, headers, uri, body) {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

/// Runs one write in `tx`; the caller commits (drops) or rolls back.
pub(super) fn execute<'a>(
    state: &'a AppState,
    tx: &mut Tx<'a>,
    method: &Method,
    headers: &HeaderMap,
    uri: &Uri,
    body: &[u8],
) -> Result<Response, SimError> {
    let base = base_url(headers, uri);
    let segments = data_segments(uri.path())?;
    let [segment] = segments.as_slice() else {
        return Err(SimError::NoResource(request_url(headers, uri)));
    };
    let (name, key) = split_key(segment)?;
    let set = state
        .data
        .get(name)
        .ok_or_else(|| SimError::SegmentNotFound(name.to_owned()))?;
    let if_match = headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok());
    let prefer = headers
        .get("prefer")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let company = state.company.as_str();
    let cross_company = QueryOptions::parse(uri.query()).is_ok_and(|o| o.cross_company);
    // Another company's record is out of reach without cross-company=true.
    let visible = |key: &[crate::data::Value]| cross_company || in_company(set, key, company);
    match (method, key) {
        (&Method::POST, None) => {
            let body = object(body)?;
            let Outcome::Created(row) = tx.apply(set, Op::Create(&body), company)? else {
                return Err(SimError::NoResource(request_url(headers, uri)));
            };
            let location = format!("{base}/data/{}({})", set.name, set.key_text(&row));
            let mut response = if prefer.contains("return=minimal") {
                let mut r = StatusCode::NO_CONTENT.into_response();
                insert(&mut r, "preference-applied", "return=minimal");
                insert(&mut r, "odata-entityid", &location);
                r
            } else {
                let mut r = entity(&base, set, &row);
                *r.status_mut() = StatusCode::CREATED;
                r
            };
            insert(&mut response, "location", &location);
            insert(&mut response, "etag", &row.etag());
            Ok(response)
        }
        (&Method::PATCH | &Method::PUT, Some(key)) => {
            let key = resolve_key(&parse_key(key)?, set, company)?;
            if !visible(&key) {
                return Err(not_found("edit"));
            }
            let body = object(body)?;
            let mode = if method == Method::PUT {
                Mode::Replace
            } else {
                Mode::Merge
            };
            let op = Op::Update {
                key,
                body: &body,
                mode,
                if_match,
            };
            let Outcome::Updated(row) = tx.apply(set, op, company)? else {
                return Err(SimError::NoResource(request_url(headers, uri)));
            };
            let mut response = if prefer.contains("return=representation") {
                let mut r = entity(&base, set, &row);
                insert(&mut r, "preference-applied", "return=representation");
                r
            } else {
                no_content()
            };
            insert(&mut response, "etag", &row.etag());
            Ok(response)
        }
        (&Method::DELETE, Some(key)) => {
            let key = resolve_key(&parse_key(key)?, set, company)?;
            if !visible(&key) {
                return Err(not_found("delete"));
            }
            tx.apply(set, Op::Delete { key, if_match }, company)?;
            Ok(no_content())
        }
        _ => Err(SimError::NoResource(request_url(headers, uri))),
    }
}

/// The request body as a JSON object, or the OData reader's 400.
fn object(body: &[u8]) -> Result<Map<String, Json>, SimError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(invalid_request(
            "The request entity is empty; a JSON object is required.".to_owned(),
        ));
    }
    match serde_json::from_slice::<Json>(body) {
        Ok(Json::Object(map)) => Ok(map),
        Ok(_) => Err(invalid_request(
            "A JSON object was expected as the request entity.".to_owned(),
        )),
        Err(e) => Err(invalid_request(format!(
            "Invalid JSON at line {}, column {}.",
            e.line(),
            e.column()
        ))),
    }
}

fn entity(base: &str, set: &EntitySet, row: &Row) -> Response {
    let mut out = String::with_capacity(1024);
    out.push_str("{\"@odata.context\":");
    json::push_str(
        &mut out,
        &format!("{base}/data/$metadata#{}/$entity", set.name),
    );
    out.push(',');
    set.write_row_json(&mut out, row, None);
    out.push('}');
    odata_json(out)
}

fn no_content() -> Response {
    let mut r = StatusCode::NO_CONTENT.into_response();
    insert(&mut r, "odata-version", "4.0");
    r
}

fn insert(response: &mut Response, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        response.headers_mut().insert(name, v);
    }
}
