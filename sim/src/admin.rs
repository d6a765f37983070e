//! The admin API: faults read and changed at run time, and request counts.
//!
//! - `GET /_sim/faults`: the current [`FaultConfig`] as JSON.
//! - `PUT /_sim/faults`: replaces it; fields left out take their defaults
//!   (off), so a PUT says the whole intended state. 400 with
//!   `{"error":"…"}` naming the bad field; nothing changes then.
//! - `GET /_sim/requests`: requests received by `/data`, `/Metadata` and
//!   `/api`, `{"total": N, "by_path": {path: n}}` (see `requests`).
//! - `POST /_sim/upgrade`: applies a service update — one module's version
//!   goes up, so `GetInstalledModules` describes a new environment version;
//!   `{"upgrades": N}`.
//! - `GET /_sim/journal?after=SEQ&limit=N`: the writes the application
//!   answered, in order, with their status and body (see `journal`); 404
//!   unless the simulator runs with `--journal`.
//! - `GET /_sim/traces?trace_id=HEX&after=SEQ`: recent requests that
//!   carried a W3C `traceparent`, with it and their `tracestate` (see
//!   `traces`).
//! - `POST /_sim/reset`: back to the start-up faults and module versions,
//!   throttling state (counters, blocks, escalation), request counts, the
//!   traces seen and the journal forgotten; 204.
//!
//! The simulator is a test tool on a trusted network: the admin API has no
//! auth of its own, and is never subject to the faults it controls.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::auth::bearer::Verifier;
use crate::faults::FaultConfig;
use crate::faults::inject::Faults;
use crate::journal::Journal;
use crate::requests::RequestLog;
use crate::traces::Traces;

/// The shared run-time state of auth, faults and request counts: what the
/// admin API changes and reports, and what the gate (which builds it and
/// puts it in front of D365FO's endpoints) reads on every request.
pub(crate) struct Control {
    pub verifier: Verifier,
    pub faults: Faults,
    pub requests: RequestLog,
    /// Recent requests that carried trace context.
    pub traces: Traces,
    /// Service updates applied (see `routes::AppState::upgrades`).
    pub upgrades: Arc<std::sync::atomic::AtomicU32>,
    /// The write journal, when `--journal` is on.
    pub journal: Option<Arc<Journal>>,
}

/// The admin routes over `control`.
pub(crate) fn router(control: Arc<Control>) -> Router {
    Router::new()
        .route("/_sim/faults", get(get_faults).put(put_faults))
        .route("/_sim/requests", get(get_requests))
        .route("/_sim/reset", post(reset))
        .route("/_sim/upgrade", post(upgrade))
        .route("/_sim/journal", get(get_journal))
        .route("/_sim/traces", get(get_traces))
        .with_state(control)
}

fn json(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

fn error(message: &str) -> Response {
    let body = serde_json::json!({ "error": message }).to_string();
    json(StatusCode::BAD_REQUEST, body)
}

fn config_json(config: &FaultConfig) -> Response {
    match serde_json::to_string(config) {
        Ok(body) => json(StatusCode::OK, body),
        // Unreachable for this plain struct; still no panic.
        Err(e) => json(
            StatusCode::INTERNAL_SERVER_ERROR,
            serde_json::json!({ "error": e.to_string() }).to_string(),
        ),
    }
}

async fn get_faults(State(control): State<Arc<Control>>) -> Response {
    config_json(&control.faults.current())
}

async fn put_faults(State(control): State<Arc<Control>>, body: Bytes) -> Response {
    let config: FaultConfig = match serde_json::from_slice(&body) {
        Ok(config) => config,
        Err(e) => return error(&format!("not a fault configuration: {e}")),
    };
    if let Err(why) = config.validate() {
        return error(&why);
    }
    tracing::info!(?config, "faults changed");
    control.faults.replace(config.clone());
    config_json(&config)
}

async fn get_requests(State(control): State<Arc<Control>>) -> Response {
    json(StatusCode::OK, control.requests.snapshot().to_string())
}

/// `after` and `limit` of `GET /_sim/journal`.
#[derive(serde::Deserialize)]
struct JournalQuery {
    #[serde(default)]
    after: u64,
    #[serde(default = "max_page")]
    limit: usize,
}

fn max_page() -> usize {
    crate::journal::MAX_PAGE
}

async fn get_journal(
    State(control): State<Arc<Control>>,
    query: Result<Query<JournalQuery>, QueryRejection>,
) -> Response {
    let Some(journal) = &control.journal else {
        let body = serde_json::json!({
            "error": "the write journal is off; start the simulator with --journal (SIM_JOURNAL=true)"
        });
        return json(StatusCode::NOT_FOUND, body.to_string());
    };
    let Query(query) = match query {
        Ok(query) => query,
        Err(e) => return error(&format!("`after` and `limit` must be whole numbers: {e}")),
    };
    match serde_json::to_string(&journal.page(query.after, query.limit)) {
        Ok(body) => json(StatusCode::OK, body),
        Err(e) => json(
            StatusCode::INTERNAL_SERVER_ERROR,
            serde_json::json!({ "error": e.to_string() }).to_string(),
        ),
    }
}

/// `after` and `trace_id` of `GET /_sim/traces`.
#[derive(serde::Deserialize)]
struct TracesQuery {
    #[serde(default)]
    after: u64,
    trace_id: Option<String>,
}

async fn get_traces(
    State(control): State<Arc<Control>>,
    query: Result<Query<TracesQuery>, QueryRejection>,
) -> Response {
    let Query(query) = match query {
        Ok(query) => query,
        Err(e) => return error(&format!("`after` must be a whole number: {e}")),
    };
    let page = control.traces.page(query.after, query.trace_id.as_deref());
    match serde_json::to_string(&page) {
        Ok(body) => json(StatusCode::OK, body),
        Err(e) => json(
            StatusCode::INTERNAL_SERVER_ERROR,
            serde_json::json!({ "error": e.to_string() }).to_string(),
        ),
    }
}

async fn upgrade(State(control): State<Arc<Control>>) -> Response {
    let n = control
        .upgrades
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        + 1;
    tracing::info!(
        upgrades = n,
        "service update applied: module versions changed"
    );
    json(StatusCode::OK, format!("{{\"upgrades\":{n}}}"))
}

async fn reset(State(control): State<Arc<Control>>) -> StatusCode {
    control.faults.reset();
    control.requests.reset();
    control.traces.reset();
    if let Some(journal) = &control.journal {
        journal.reset();
    }
    control
        .upgrades
        .store(0, std::sync::atomic::Ordering::Relaxed);
    tracing::info!("faults reset to the start-up configuration, request counts zeroed");
    StatusCode::NO_CONTENT
}
