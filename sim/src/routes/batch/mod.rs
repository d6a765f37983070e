//! `POST /data/$batch`: OData v4 batches in `multipart/mixed`.
//!
//! The whole payload is parsed before anything runs, so a malformed batch
//! is a 400 that changes nothing; so is a batch holding a request to
//! `$batch` (a batch may not contain a batch). Each top-level
//! `application/http` part then runs on its own (reads and non-entity
//! requests through [`super::part_router`], which has no `$batch` route);
//! each changeset runs as one [`Tx`] holding every set's write lock,
//! all-or-nothing: the first failing request rolls back the others and its
//! error answers for the whole changeset. As D365FO does (recorded from
//! real environments), that error comes as a changeset response holding
//! one part, whose `Content-ID` names the failing request; a write the
//! application logic refused (an `AxODataWriteException` or
//! `AxODataDeleteException`: validation, a duplicate key, a missing record)
//! is `HTTP/1.1 500` there, although the same refusal alone is a 400.
//! Whether D365FO also turns other errors of a changeset (a stale ETag's
//! 412, a malformed body's 400) into 500 is not known; they keep their
//! status here (a guess). The outer response is 200 either way, with one
//! response part per request of a changeset that succeeded. `$n` in a changeset request's URL names the entity created by
//! the request with `Content-ID: n`.
//!
//! Limits (see [`Limits`]): a part whose response body is over 64 MiB
//! answers 500 with an error body; a batch whose response grows past
//! 64 MiB stops there and answers 400 as a whole.

pub mod multipart;
mod respond;

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Extension, State};
use axum::http::{
    HeaderMap, HeaderName, HeaderValue, Method, Request as HttpRequest, StatusCode, Uri, header,
};
use axum::response::{IntoResponse, Response};
use percent_encoding::percent_decode_str;
use tower::ServiceExt;

use common::multipart::{boundary, content_type, write};

use self::multipart::{request, split};
pub(super) use self::respond::Limits;
use self::respond::write_part;
use super::AppState;
use crate::SimError;
use crate::auth::bearer::{Principal, write_refusal};
use crate::data::Tx;
use crate::data::write::{DELETE_EXCEPTION, WRITE_EXCEPTION};
use crate::error::ODATA_EXCEPTION;

/// One request of a batch, owning its parts of the payload.
struct Part {
    id: Option<String>,
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    /// Shares the batch payload's buffer.
    body: Bytes,
}

/// One unit of a batch: a lone request or an atomic changeset.
enum Item {
    Single(Part),
    Changeset(Vec<Part>),
}

fn malformed(message: String) -> SimError {
    SimError::App {
        status: StatusCode::BAD_REQUEST,
        inner: message.clone(),
        message,
        kind: ODATA_EXCEPTION,
    }
}

/// `POST /data/$batch`.
pub(super) async fn post(
    State(state): State<Arc<AppState>>,
    principal: Option<Extension<Principal>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let principal = principal.map(|Extension(p)| p);
    match run(
        &state,
        &headers,
        &body,
        &Limits::DEFAULT,
        principal.as_ref(),
    )
    .await
    {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

/// `/data/$batch` inside a batch: refused, whatever the method.
pub(super) async fn nested() -> Response {
    nested_batch("POST", "$batch").into_response()
}

fn nested_batch(method: &str, target: &str) -> SimError {
    malformed(format!(
        "The operation '{method} {target}' is a batch request inside a batch request. A batch request may not contain another batch request."
    ))
}

/// Whether a part's target is the `$batch` endpoint, in any spelling.
fn names_batch(target: &str) -> bool {
    let path = target.split(['?', '#']).next().unwrap_or("");
    let path = percent_decode_str(path).decode_utf8_lossy();
    path.trim_end_matches('/')
        .rsplit('/')
        .next()
        .is_some_and(|last| last.eq_ignore_ascii_case("$batch"))
}

fn parse(content_type: &str, body: &Bytes) -> Result<Vec<Item>, SimError> {
    let boundary = boundary(content_type).ok_or_else(|| {
        malformed(format!(
            "The content type '{content_type}' specifies a batch payload; however, the payload either does not include a batch boundary or includes more than one boundary. In OData, batch payload content types must specify exactly one batch boundary in the 'boundary' parameter of the content type."
        ))
    })?;
    let mut items = Vec::new();
    for part in split(body, &boundary).map_err(malformed)? {
        let id = part.header("content-id").map(str::to_owned);
        let ct = part.header("content-type").unwrap_or("");
        if ct.to_ascii_lowercase().starts_with("multipart/mixed") {
            let inner = boundary_of(ct)?;
            let mut requests = Vec::new();
            for p in split(part.body, &inner).map_err(malformed)? {
                let id = p.header("content-id").map(str::to_owned);
                let req = http_part(body, id, p.header("content-type").unwrap_or(""), p.body)?;
                if req.method == "GET" {
                    return Err(malformed(format!(
                        "An invalid HTTP method '{}' was detected for a request in a change set. Requests in change sets only support the HTTP methods 'POST', 'PUT', 'DELETE', and 'PATCH'.",
                        req.method
                    )));
                }
                requests.push(req);
            }
            items.push(Item::Changeset(requests));
        } else {
            items.push(Item::Single(http_part(body, id, ct, part.body)?));
        }
    }
    Ok(items)
}

fn boundary_of(ct: &str) -> Result<String, SimError> {
    boundary(ct).ok_or_else(|| {
        malformed(format!(
            "The content type '{ct}' specifies a batch payload; however, the payload either does not include a batch boundary or includes more than one boundary. In OData, batch payload content types must specify exactly one batch boundary in the 'boundary' parameter of the content type."
        ))
    })
}

fn http_part(
    payload: &Bytes,
    id: Option<String>,
    content_type: &str,
    bytes: &[u8],
) -> Result<Part, SimError> {
    if !content_type
        .to_ascii_lowercase()
        .starts_with("application/http")
    {
        return Err(malformed(format!(
            "The content type '{content_type}' of a batch operation is not supported. Operations must use 'application/http'."
        )));
    }
    let req = request(bytes).map_err(malformed)?;
    if names_batch(&req.target) {
        return Err(nested_batch(&req.method, &req.target));
    }
    Ok(Part {
        id,
        body: share(payload, req.body),
        method: req.method,
        target: req.target,
        headers: req.headers,
    })
}

/// `part` as a view into `whole` when it lies inside it (no copy), else a copy.
fn share(whole: &Bytes, part: &[u8]) -> Bytes {
    let start = (part.as_ptr() as usize).wrapping_sub(whole.as_ptr() as usize);
    match start.checked_add(part.len()) {
        Some(end) if !part.is_empty() && end <= whole.len() => whole.slice(start..end),
        _ => Bytes::copy_from_slice(part),
    }
}

/// Runs a parsed batch. `principal` is who the batch's token acts as (none
/// when tokens are not checked): its writes are refused as they would be
/// alone, a reader's write failing its changeset.
async fn run(
    state: &Arc<AppState>,
    headers: &HeaderMap,
    body: &Bytes,
    limits: &Limits,
    principal: Option<&Principal>,
) -> Result<Response, SimError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let items = parse(ct, body)?;
    let router = super::part_router(Arc::clone(state));
    let outer = format!("batchresponse_{}", uuid::Uuid::new_v4());
    let mut out = Vec::with_capacity(1024);
    for item in items {
        write::open_part(&mut out, &outer);
        match item {
            Item::Single(req) => {
                let response = single(state, &router, headers, &req, principal).await;
                write_part(&mut out, req.id.as_deref(), response, limits).await?;
            }
            Item::Changeset(requests) => {
                let inner = format!("changesetresponse_{}", uuid::Uuid::new_v4());
                let (state, outer_headers) = (Arc::clone(state), headers.clone());
                let principal = principal.cloned();
                let done = tokio::task::spawn_blocking(move || {
                    changeset(&state, &outer_headers, &requests, principal.as_ref())
                })
                .await
                .unwrap_or_else(|e| {
                    tracing::error!(error = %e, "a batch changeset failed");
                    let failed = StatusCode::INTERNAL_SERVER_ERROR.into_response();
                    Err(Box::new((None, failed)))
                });
                let responses = match done {
                    Ok(responses) => responses,
                    // A failed changeset answers with its one error part.
                    Err(failed) => vec![*failed],
                };
                write::changeset_headers(&mut out, &inner);
                for (id, response) in responses {
                    write::open_part(&mut out, &inner);
                    write_part(&mut out, id.as_deref(), response, limits).await?;
                }
                write::close(&mut out, &inner);
            }
        }
    }
    write::close(&mut out, &outer);
    let mut response = (StatusCode::OK, out).into_response();
    if let Ok(v) = HeaderValue::from_str(&content_type(&outer)) {
        response.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    response
        .headers_mut()
        .insert("odata-version", HeaderValue::from_static("4.0"));
    Ok(response)
}

/// A Content-ID and the response to its request.
type Answer = (Option<String>, Response);

/// Runs a changeset's writes in one transaction. On failure the error is
/// the failing request's response alone, and nothing stays applied.
fn changeset(
    state: &AppState,
    outer: &HeaderMap,
    requests: &[Part],
    principal: Option<&Principal>,
) -> Result<Vec<Answer>, Box<Answer>> {
    let mut tx = Tx::changeset(&state.data);
    let mut created: HashMap<String, String> = HashMap::new();
    let mut responses = Vec::with_capacity(requests.len());
    for req in requests {
        let id = &req.id;
        let result = sub_request(outer, req, &created).and_then(|(method, uri, headers)| {
            if let Some(refusal) = write_refusal(principal, uri.path()) {
                return Err(refusal);
            }
            super::write::execute(state, &mut tx, &method, &headers, &uri, &req.body)
        });
        match result {
            Ok(response) => {
                if let (Some(id), Some(location)) = (id, response.headers().get(header::LOCATION))
                    && let Ok(location) = location.to_str()
                {
                    created.insert(id.clone(), location.to_owned());
                }
                responses.push((id.clone(), response));
            }
            Err(e) => {
                tx.rollback();
                return Err(Box::new((id.clone(), in_changeset(e).into_response())));
            }
        }
    }
    Ok(responses)
}

/// A changeset's failing request's error as D365FO answers it inside the
/// changeset: a refusal of the application logic becomes a 500 (see the
/// module docs), anything else keeps its status.
fn in_changeset(e: SimError) -> SimError {
    match e {
        SimError::App {
            message,
            inner,
            kind,
            ..
        } if kind == WRITE_EXCEPTION || kind == DELETE_EXCEPTION => SimError::App {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message,
            inner,
            kind,
        },
        other => other,
    }
}

/// Runs a lone request: writes in their own transaction, anything else
/// through the part router, as if it had arrived on its own.
async fn single(
    state: &Arc<AppState>,
    router: &axum::Router,
    outer: &HeaderMap,
    req: &Part,
    principal: Option<&Principal>,
) -> Response {
    let (method, uri, headers) = match sub_request(outer, req, &HashMap::new()) {
        Ok(parts) => parts,
        Err(e) => return e.into_response(),
    };
    let is_write = matches!(method, Method::PATCH | Method::PUT | Method::DELETE)
        || (method == Method::POST && super::write::names_a_set(state, &uri));
    if is_write {
        if let Some(refusal) = write_refusal(principal, uri.path()) {
            return refusal.into_response();
        }
        let (state, body) = (Arc::clone(state), req.body.clone());
        return super::blocking(move || {
            let mut tx = Tx::single(&state.data);
            super::write::execute(&state, &mut tx, &method, &headers, &uri, &body)
                .unwrap_or_else(IntoResponse::into_response)
        })
        .await;
    }
    let mut builder = HttpRequest::builder().method(method).uri(uri);
    if let Some(h) = builder.headers_mut() {
        *h = headers;
    }
    let Ok(request) = builder.body(Body::from(req.body.clone())) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    match router.clone().oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

/// The method, `/data/…` URI and headers of a batch request. `Host` and
/// `Authorization` come from the batch itself unless the part sets them.
fn sub_request(
    outer: &HeaderMap,
    req: &Part,
    created: &HashMap<String, String>,
) -> Result<(Method, Uri, HeaderMap), SimError> {
    let bad_url =
        || SimError::InvalidKey(format!("The request URI '{}' is not valid.", req.target));
    let method = Method::from_bytes(req.method.as_bytes()).map_err(|_| bad_url())?;
    let mut target = req.target.clone();
    if let Some(reference) = target.strip_prefix('$') {
        let end = reference.find(['/', '?']).unwrap_or(reference.len());
        let location = created.get(&reference[..end]).ok_or_else(bad_url)?;
        target = format!("{location}{}", &reference[end..]);
    }
    if let Some(after_scheme) = target.split_once("://").map(|(_, r)| r) {
        target = after_scheme
            .find('/')
            .map_or("/".to_owned(), |i| after_scheme[i..].to_owned());
    } else if !target.starts_with('/') {
        target = format!("/data/{target}");
    }
    let uri: Uri = target.parse().map_err(|_| bad_url())?;
    let mut headers = HeaderMap::new();
    for (name, value) in &req.headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.append(n, v);
        }
    }
    for name in [header::HOST, header::AUTHORIZATION] {
        if let (false, Some(v)) = (headers.contains_key(&name), outer.get(&name)) {
            headers.insert(name, v.clone());
        }
    }
    Ok((method, uri, headers))
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
