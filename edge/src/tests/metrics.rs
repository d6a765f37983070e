//! The edge's metrics move with what the edge does. The registry is
//! process-global and tests run in parallel: each test compares the series
//! it drives before and after, and asks for at least its own increments.

use std::sync::Arc;

use axum::{
    body::Body,
    http::{Request, StatusCode},
};
use common::{
    config::{RateLimits, SessionCaps},
    metrics::{OTHER, Snapshot, get},
    proto,
    store::Limit,
};
use http_body_util::BodyExt;
use serde_json::json;
use tower::ServiceExt;

use super::support::{ScriptedWorker, messages, meta, post, rpc, state, state_with};
use crate::{EdgeState, app};

fn op_count(method: &str, tool: &str, error: &str, version: &str) -> u64 {
    get()
        .mcp
        .operation_duration
        .with_label_values(&[method, tool, error, version])
        .get_sample_count()
}

fn refused(reason: &str) -> u64 {
    get().edge.refused.with_label_values(&[reason]).get()
}

fn created(kind: &str) -> u64 {
    get().edge.sessions_created.with_label_values(&[kind]).get()
}

fn ended(kind: &str, reason: &str) -> u64 {
    get()
        .edge
        .sessions_ended
        .with_label_values(&[kind, reason])
        .get()
}

fn worker_calls(result: &str) -> u64 {
    get()
        .edge
        .worker_call_duration
        .with_label_values(&[result])
        .get_sample_count()
}

/// A worker whose every call ends in a tool error result.
fn failing_worker() -> EdgeState {
    state_with(ScriptedWorker(|_: &proto::CallToolRequest| {
        proto::ToolResult {
            outcome: Some(proto::tool_result::Outcome::Output(proto::ToolOutput {
                content_json: json!([{"type": "text", "text": "no"}]).to_string(),
                structured_content_json: String::new(),
                is_error: true,
            })),
        }
    }))
}

#[tokio::test]
async fn every_edge_family_shows_from_start_up_with_its_known_label_sets() {
    let _state = state();
    let snapshot = Snapshot::take("", "test");
    let has = |family: &str, label: &str, value: &str| {
        snapshot.family(family).is_some_and(|f| {
            f.series
                .iter()
                .any(|s| s.labels.get(label).map(String::as_str) == Some(value))
        })
    };
    for reason in [
        "auth",
        "auth_limited",
        "origin",
        "guard",
        "body_size",
        "rate_limit",
        "session_cap",
        "connections",
        "in_flight",
        "draining",
        "policy",
    ] {
        assert!(
            has("d365mcp_requests_refused_total", "reason", reason),
            "{reason}"
        );
    }
    for scope in ["principal", "tenant", "tool"] {
        assert!(has("d365mcp_rate_limit_decisions_total", "scope", scope));
    }
    for result in ["allowed", "limited"] {
        assert!(has("d365mcp_rate_limit_decisions_total", "result", result));
    }
    for kind in ["session", "legacy"] {
        assert!(has("d365mcp_sessions_active", "kind", kind));
        assert!(has("d365mcp_sessions_created_total", "kind", kind));
        assert!(has("d365mcp_sessions_ended_total", "kind", kind));
    }
    for reason in ["deleted", "expired", "closed"] {
        assert!(has("d365mcp_sessions_ended_total", "reason", reason));
    }
    for kind in ["request", "standalone", "legacy", "listen"] {
        assert!(has("d365mcp_sse_streams_open", "kind", kind), "{kind}");
    }
    for result in ["delivered", "no_stream"] {
        assert!(has("d365mcp_legacy_relays_total", "result", result));
    }
    for state in ["healthy", "unhealthy"] {
        assert!(has("d365mcp_workers", "state", state));
    }
    for family in [
        "d365mcp_calls_in_flight",
        "d365mcp_worker_call_duration_seconds",
        "mcp_server_operation_duration_seconds",
        "mcp_server_session_duration_seconds",
    ] {
        let f = snapshot.family(family);
        assert!(f.is_some_and(|f| !f.series.is_empty()), "{family}");
    }
}

#[tokio::test]
async fn a_tools_call_is_observed_with_its_method_tool_and_version() {
    let tool = "d365fo_test_connection";
    let ok = || op_count("tools/call", tool, "", "2026-07-28");
    let (before, calls_before) = (ok(), worker_calls("ok"));
    let answer = rpc(
        state(),
        "tools/call",
        json!({"name": tool, "arguments": {}}),
    )
    .await;
    assert!(answer["result"].is_object(), "{answer}");
    assert!(ok() > before);
    assert!(worker_calls("ok") > calls_before);

    // A tool error result, and a tool outside the catalogue.
    let failed = || op_count("tools/call", tool, "tool_error", "2026-07-28");
    let unknown = || op_count("tools/call", OTHER, "unknown_tool", "2026-07-28");
    let (failed_before, unknown_before) = (failed(), unknown());
    let answer = rpc(
        failing_worker(),
        "tools/call",
        json!({"name": tool, "arguments": {}}),
    )
    .await;
    assert_eq!(answer["result"]["isError"], true, "{answer}");
    assert!(failed() > failed_before);
    let answer = rpc(
        state(),
        "tools/call",
        json!({"name": "nope", "arguments": {}}),
    )
    .await;
    assert!(answer["error"].is_object(), "{answer}");
    assert!(unknown() > unknown_before);
}

#[tokio::test]
async fn other_methods_are_observed_without_a_tool() {
    let list = || op_count("tools/list", "", "", "2026-07-28");
    let discover = || op_count("server/discover", "", "", "2026-07-28");
    let (list_before, discover_before) = (list(), discover());
    rpc(state(), "tools/list", json!({})).await;
    rpc(state(), "server/discover", json!({})).await;
    assert!(list() > list_before);
    assert!(discover() > discover_before);
}

#[tokio::test]
async fn refusals_are_counted_by_reason() {
    let tools_list =
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": meta()}})
            .to_string();
    let before = [refused("origin"), refused("guard"), refused("body_size")];

    let mut foreign = post(&tools_list, "tools/list", None);
    foreign
        .headers_mut()
        .insert("origin", "https://evil.example.com".parse().unwrap());
    let response = app(state()).oneshot(foreign).await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    let response = app(state())
        .oneshot(post("{not json", "tools/list", None))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    let big = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{{"pad":"{}"}}}}"#,
        "x".repeat(100 * 1024)
    );
    let response = app(state())
        .oneshot(post(&big, "tools/list", None))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);

    let after = [refused("origin"), refused("guard"), refused("body_size")];
    for (i, reason) in ["origin", "guard", "body_size"].iter().enumerate() {
        assert!(
            after[i] > before[i],
            "{reason}: {} → {}",
            before[i],
            after[i]
        );
    }
}

#[tokio::test]
async fn a_rate_limited_call_is_counted_limited_and_refused() {
    let state = state();
    let mut config = (*state.config).clone();
    config.rate_limits = RateLimits {
        principal: Some(Limit {
            rate_per_second: 0.01,
            burst: 1,
        }),
        ..RateLimits::off()
    };
    let state = EdgeState {
        config: Arc::new(config),
        ..state
    };
    let decisions = |result: &str| {
        get()
            .edge
            .rate_limit_decisions
            .with_label_values(&["principal", result])
            .get()
    };
    let before = (
        decisions("allowed"),
        decisions("limited"),
        refused("rate_limit"),
    );
    let app = app(state);
    for id in 1..=2 {
        let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/list", "params": {"_meta": meta()}});
        app.clone()
            .oneshot(post(&body.to_string(), "tools/list", None))
            .await
            .unwrap();
    }
    assert!(decisions("allowed") > before.0);
    assert!(decisions("limited") > before.1);
    assert!(refused("rate_limit") > before.2);
}

#[tokio::test]
async fn a_session_created_then_deleted_is_counted_and_no_longer_held() {
    let state = state();
    let sessions = Arc::clone(&state.sessions);
    let app = app(state);
    let before = (created("session"), ended("session", "deleted"));
    let initialize = || op_count("initialize", "", "", "2025-11-25");
    let init_before = initialize();
    let (response, session) = super::support::open_session(&app).await;
    assert!(!messages(response).await.is_empty());
    assert!(created("session") > before.0);
    assert!(initialize() > init_before);
    // This edge's own count: the global gauge is shared with parallel tests.
    assert_eq!(sessions.held_count(), 1);

    let delete = Request::delete("/mcp")
        .header("host", "127.0.0.1")
        .header("mcp-session-id", session)
        .body(Body::empty())
        .unwrap();
    let status = app.oneshot(delete).await.unwrap().status();
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(ended("session", "deleted") > before.1);
    assert_eq!(sessions.held_count(), 0);
}

#[tokio::test]
async fn a_session_over_its_cap_is_counted_refused() {
    let state = state();
    let mut config = (*state.config).clone();
    config.session_caps = SessionCaps {
        streams_per_key: 0,
        ..config.session_caps
    };
    let state = EdgeState::new(config, state.workers.clone());
    let before = refused("session_cap");
    let request = Request::get("/sse")
        .header("host", "127.0.0.1")
        .body(Body::empty())
        .unwrap();
    let response = app(state).oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(refused("session_cap") > before);
}

#[tokio::test]
async fn a_legacy_stream_is_a_session_until_it_is_dropped() {
    let before = (created("legacy"), ended("legacy", "closed"));
    let request = Request::get("/sse")
        .header("host", "127.0.0.1")
        .body(Body::empty())
        .unwrap();
    let response = app(state()).oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("endpoint"));
    assert!(created("legacy") > before.0);
    // The client goes away: the stream's body is dropped.
    drop(body);
    assert!(ended("legacy", "closed") > before.1);
}

#[test]
fn errors_are_named_from_a_bounded_set() {
    use crate::metrics::operation_error_name as name;
    use rmcp::model::{ErrorCode as Rpc, ErrorData};
    let ours = crate::convert::error_data(&common::Failure::new(
        common::ErrorCode::PermissionDenied,
        "no",
    ));
    assert_eq!(name(&ours), "permission_denied");
    assert_eq!(
        name(&ErrorData::new(Rpc::METHOD_NOT_FOUND, "x", None)),
        "method_not_found"
    );
    let forged = ErrorData::new(Rpc(-1), "x", Some(json!({"code": "a client's text"})));
    assert_eq!(name(&forged), OTHER);
    assert_eq!(crate::metrics::version_name(Some("1999-01-01")), OTHER);
    assert_eq!(
        crate::metrics::version_name(Some("2025-06-18")),
        "2025-06-18"
    );
}
