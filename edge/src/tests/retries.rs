//! Which request id a write reaches the worker with: a key derived from a
//! session's request, the client's own key, or a fresh id.

use std::{sync::Arc, time::Duration};

use axum::{
    body::Body,
    http::{Request, StatusCode},
};
use common::{
    config::EdgeConfig,
    proto::{self, CallToolRequest},
};
use parking_lot::Mutex;
use serde_json::{Value, json};
use tower::ServiceExt;

use super::support::{ScriptedWorker, messages, meta, post};
use crate::{EdgeState, WorkerPool, app};

const CREATE: &str = "d365fo_create_entity_record";

/// An edge with a retry window of `window` whose worker records every
/// request it gets and answers it.
fn recording(window: Duration) -> (axum::Router, Arc<Mutex<Vec<CallToolRequest>>>) {
    let seen: Arc<Mutex<Vec<CallToolRequest>>> = Arc::default();
    let log = Arc::clone(&seen);
    let worker = ScriptedWorker(move |request: &CallToolRequest| {
        log.lock().push(request.clone());
        proto::ToolResult {
            outcome: Some(proto::tool_result::Outcome::Output(proto::ToolOutput {
                content_json: json!([{"type": "text", "text": "made"}]).to_string(),
                structured_content_json: String::new(),
                is_error: false,
            })),
        }
    });
    let mut config = EdgeConfig::local("127.0.0.1:0".parse().unwrap());
    config.call_timeout = Duration::from_secs(5);
    config.retry_window = window;
    let state = EdgeState::new(config, WorkerPool::local(Arc::new(worker)));
    (app(state), seen)
}

fn in_session(body: &Value, session: Option<&str>) -> Request<Body> {
    let mut request = Request::post("/mcp")
        .header("host", "127.0.0.1")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream");
    if let Some(session) = session {
        request = request
            .header("mcp-session-id", session)
            .header("mcp-protocol-version", "2025-11-25");
    }
    request.body(Body::from(body.to_string())).unwrap()
}

/// Opens a 2025-11-25 session on `app`; returns its id.
async fn open(app: &axum::Router) -> String {
    let init = json!({
        "jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}
    });
    let response = app.clone().oneshot(in_session(&init, None)).await.unwrap();
    let session = response.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let response = app
        .clone()
        .oneshot(in_session(&initialized, Some(&session)))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    session
}

fn call(id: u64, tool: &str, arguments: Value, meta: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
           "params": {"name": tool, "arguments": arguments, "_meta": meta}})
}

fn currency(code: &str) -> Value {
    json!({"entity_set": "Currencies", "fields": {"CurrencyCode": code}})
}

/// Sends `body` in `session` and returns the request id the worker got.
async fn sent_in(
    app: &axum::Router,
    seen: &Mutex<Vec<CallToolRequest>>,
    session: &str,
    body: &Value,
) -> CallToolRequest {
    let response = app
        .clone()
        .oneshot(in_session(body, Some(session)))
        .await
        .unwrap();
    let answer = messages(response).await.pop().expect("an answer");
    assert_eq!(answer["result"]["isError"], false, "{answer}");
    seen.lock().pop().expect("the call reached the worker")
}

#[tokio::test]
async fn a_write_resent_in_a_session_keeps_its_request_id() {
    let (app, seen) = recording(Duration::from_secs(600));
    let (a, b) = (open(&app).await, open(&app).await);
    let create = call(5, CREATE, currency("ZZ1"), json!({}));
    let first = sent_in(&app, &seen, &a, &create).await;
    assert!(first.request_id.starts_with("idem-d-"), "{first:?}");
    assert_eq!(first.replay_ttl_ms, 600_000, "the window");
    let resent = sent_in(&app, &seen, &a, &create).await;
    assert_eq!(resent.request_id, first.request_id);

    let other_arguments = call(5, CREATE, currency("ZZ2"), json!({}));
    let other = sent_in(&app, &seen, &a, &other_arguments).await;
    assert_ne!(other.request_id, first.request_id);
    let other_session = sent_in(&app, &seen, &b, &create).await;
    assert!(other_session.request_id.starts_with("idem-d-"));
    assert_ne!(other_session.request_id, first.request_id);

    // The client's own key wins; it lives the worker's default.
    let keyed = call(
        6,
        CREATE,
        currency("ZZ3"),
        json!({"io.d365mcp/idempotencyKey": "k-1"}),
    );
    let keyed = sent_in(&app, &seen, &a, &keyed).await;
    assert!(keyed.request_id.starts_with("idem-") && !keyed.request_id.starts_with("idem-d-"));
    assert_eq!(keyed.replay_ttl_ms, 0);
    // A read gets no key.
    let read = call(
        7,
        "d365fo_query_entities",
        json!({"entity_set": "X"}),
        json!({}),
    );
    let read = sent_in(&app, &seen, &a, &read).await;
    assert!(!read.request_id.starts_with("idem-"), "{read:?}");
}

#[tokio::test]
async fn no_key_is_derived_for_a_stateless_call_or_without_a_window() {
    let (app, seen) = recording(Duration::from_secs(600));
    let session = open(&app).await;
    let create = call(5, CREATE, currency("ZZ1"), meta());
    let mut ids = Vec::new();
    for with_session in [false, false, true] {
        let mut request = post(&create.to_string(), "tools/call", Some(CREATE));
        if with_session {
            // A 2026-07-28 call is stateless even if it names a session.
            request
                .headers_mut()
                .insert("mcp-session-id", session.parse().unwrap());
        }
        let answer = messages(app.clone().oneshot(request).await.unwrap()).await;
        assert_eq!(
            answer.last().unwrap()["result"]["isError"],
            false,
            "{answer:?}"
        );
        let sent = seen.lock().pop().expect("the call reached the worker");
        assert!(!sent.request_id.starts_with("idem-"), "{sent:?}");
        assert_eq!(sent.replay_ttl_ms, 0);
        ids.push(sent.request_id);
    }
    assert_ne!(ids[0], ids[1], "two writes");

    let (app, seen) = recording(Duration::ZERO);
    let session = open(&app).await;
    let create = call(5, CREATE, currency("ZZ1"), json!({}));
    let sent = sent_in(&app, &seen, &session, &create).await;
    assert!(!sent.request_id.starts_with("idem-"), "window 0: {sent:?}");
}
