//! An idle session leaves the edge's memory and comes back with its next
//! request (`sessions::held`).

use std::{sync::Arc, time::Duration};

use axum::{body::Body, http::Request};
use serde_json::json;
use tower::ServiceExt;

use super::support::{messages, open_session, state};
use crate::{EdgeState, app};

fn session_request(session: &str, body: serde_json::Value) -> Request<Body> {
    Request::post("/mcp")
        .header("host", "127.0.0.1")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25")
        .header("mcp-session-id", session)
        .body(Body::from(body.to_string()))
        .unwrap()
}

/// Waits up to 5 s for `check`.
async fn wait_for(what: &str, check: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "{what} within 5 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn an_idle_session_is_evicted_and_restored_by_its_next_request() {
    let state = state();
    let mut config = (*state.config).clone();
    config.session_evict_after = Duration::from_millis(200);
    let state = EdgeState::new(config, state.workers.clone());
    let sessions = Arc::clone(&state.sessions);
    let app = app(state);
    let (response, session) = open_session(&app).await;
    assert!(!messages(response).await.is_empty());
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let status = app
        .clone()
        .oneshot(session_request(&session, initialized))
        .await
        .unwrap()
        .status();
    assert!(status.is_success(), "{status}");
    assert_eq!(sessions.held_count(), 1);

    wait_for("the idle session evicted", || sessions.held_count() == 0).await;

    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}});
    let response = app
        .clone()
        .oneshot(session_request(&session, list))
        .await
        .unwrap();
    assert_eq!(response.status(), axum::http::StatusCode::OK);
    let answers = messages(response).await;
    assert!(
        answers
            .iter()
            .any(|m| m["id"] == 2 && m["result"]["tools"].is_array()),
        "{answers:?}"
    );
    assert_eq!(sessions.held_count(), 1, "restored on this edge");
}
