//! The edge's router driven in-process with `oneshot`, against fake workers.

mod auth;
mod evict;
mod limits;
mod metrics;
mod oauth;
mod prompts;
mod resources;
mod retries;
mod shedding;
pub(crate) mod support;

use std::{sync::Arc, time::Duration};

use axum::{
    body::Body,
    http::{Request, StatusCode},
};
use common::{
    ErrorCode,
    config::EdgeConfig,
    executor::ToolExecutor,
    proto::{self, CallToolEvent, CallToolRequest, ListToolsResponse, call_tool_event::Event},
};
use futures::{StreamExt, stream::BoxStream};
use serde_json::json;
use support::{messages, meta, post, state};
use tower::ServiceExt;

use crate::{EdgeState, WorkerPool, app};

#[tokio::test]
async fn health_and_ready() {
    let response = app(state())
        .oneshot(Request::get("/health").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = app(state())
        .oneshot(Request::get("/ready").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

/// How many tools the default toolsets list.
fn default_surface() -> usize {
    let toolsets = common::catalogue::Toolsets::DEFAULT;
    common::catalogue::tools()
        .iter()
        .filter(|t| toolsets.lists(t))
        .count()
}

#[tokio::test]
async fn stateless_tools_list_serves_the_catalogue() {
    let body =
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": meta()}});
    let response = app(state())
        .oneshot(post(&body.to_string(), "tools/list", None))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let messages = messages(response).await;
    let tools = messages.last().unwrap()["result"]["tools"]
        .as_array()
        .unwrap()
        .clone();
    // The default toolsets: the operator and execution tools are not listed.
    assert_eq!(tools.len(), default_surface());
    assert!(
        !tools
            .iter()
            .any(|t| t["name"] == "d365fo_get_server_config")
    );
    assert!(
        tools
            .iter()
            .any(|t| t["name"] == "d365fo_query_entities"
                && t["annotations"]["readOnlyHint"] == true)
    );
}

#[tokio::test]
async fn the_spliced_listing_is_the_listing_rmcp_makes() {
    // With a cursor the handler answers the full listing itself, through
    // rmcp's own serialization; without one the tools are spliced in.
    let mut answers = Vec::new();
    for params in [
        json!({"_meta": meta()}),
        json!({"_meta": meta(), "cursor": "x"}),
    ] {
        let body = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list", "params": params});
        let response = app(state())
            .oneshot(post(&body.to_string(), "tools/list", None))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let headers = response.headers().clone();
        assert_eq!(headers["content-type"], "application/json");
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        if let Some(length) = headers.get("content-length") {
            assert_eq!(length.to_str().unwrap(), bytes.len().to_string());
        }
        answers.push(serde_json::from_slice::<serde_json::Value>(&bytes).unwrap());
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(
        answers[0]["result"]["tools"].as_array().map(Vec::len),
        Some(default_surface())
    );
    assert!(
        answers[0]["result"].get("_meta").is_none(),
        "{}",
        answers[0]["result"]["_meta"]
    );
}

#[tokio::test]
async fn stateless_tools_call_reaches_the_worker_with_progress() {
    let body = json!({
        "jsonrpc": "2.0", "id": 7, "method": "tools/call",
        "params": {
            "name": "d365fo_query_entities",
            "arguments": {"entity_set": "CustomersV3"},
            "_meta": {"progressToken": "p1", "io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}
        }
    });
    let response = app(state())
        .oneshot(post(
            &body.to_string(),
            "tools/call",
            Some("d365fo_query_entities"),
        ))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let messages = messages(response).await;
    let progress = messages
        .iter()
        .find(|m| m["method"] == "notifications/progress")
        .expect("progress forwarded");
    assert_eq!(progress["params"]["progressToken"], "p1");
    assert_eq!(progress["params"]["total"], 2.0);
    let result = &messages.last().unwrap()["result"];
    assert_eq!(result["structuredContent"]["tool"], "d365fo_query_entities");
    assert_eq!(
        result["structuredContent"]["environment"], "",
        "the worker picks its default"
    );
    assert_eq!(result["structuredContent"]["want_progress"], true);
}

#[tokio::test]
async fn unknown_tool_is_a_jsonrpc_error_naming_it() {
    let body = json!({
        "jsonrpc": "2.0", "id": 3, "method": "tools/call",
        "params": {"name": "nope", "arguments": {}, "_meta": meta()}
    });
    let response = app(state())
        .oneshot(post(&body.to_string(), "tools/call", Some("nope")))
        .await
        .unwrap();
    let messages = messages(response).await;
    let error = &messages.last().unwrap()["error"];
    assert_eq!(
        error["code"],
        ErrorCode::InvalidArguments.jsonrpc_code(),
        "{messages:?}"
    );
    assert!(error["message"].as_str().unwrap().contains("nope"));
    assert_eq!(error["data"]["code"], "unknown_tool");
}

#[tokio::test]
async fn wrong_environment_type_is_a_tool_error() {
    let body = json!({
        "jsonrpc": "2.0", "id": 4, "method": "tools/call",
        "params": {"name": "d365fo_test_connection", "arguments": {"environment": 5}, "_meta": meta()}
    });
    let response = app(state())
        .oneshot(post(
            &body.to_string(),
            "tools/call",
            Some("d365fo_test_connection"),
        ))
        .await
        .unwrap();
    let messages = messages(response).await;
    let result = &messages.last().unwrap()["result"];
    assert_eq!(result["isError"], true, "{messages:?}");
    assert!(
        result["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("environment")
    );
}

#[tokio::test]
async fn malformed_json_is_rejected_with_400() {
    let response = app(state())
        .oneshot(post("{not json", "tools/list", None))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn oversize_body_is_rejected_with_413() {
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{{"pad":"{}"}}}}"#,
        "x".repeat(100 * 1024)
    );
    let response = app(state())
        .oneshot(post(&big, "tools/list", None))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn foreign_host_is_refused() {
    let body =
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": meta()}});
    let mut request = post(&body.to_string(), "tools/list", None);
    request
        .headers_mut()
        .insert("host", "evil.example.com".parse().unwrap());
    let response = app(state()).oneshot(request).await.unwrap();
    assert!(response.status().is_client_error(), "{}", response.status());
}

#[tokio::test]
async fn wrongly_typed_params_get_a_jsonrpc_error() {
    let body = json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": 5, "_meta": meta()}});
    let response = app(state())
        .oneshot(post(&body.to_string(), "tools/call", None))
        .await
        .unwrap();
    let status = response.status();
    let messages = messages(response).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{messages:?}");
    let error = &messages.last().unwrap()["error"];
    assert_eq!(
        error["code"],
        ErrorCode::InvalidArguments.jsonrpc_code(),
        "{messages:?}"
    );
    assert_eq!(messages.last().unwrap()["id"], 5);
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("tools/call") && message.contains("name"),
        "{message}"
    );
}

/// Sends one progress event, then waits forever; records when its stream is dropped.
struct StallingWorker {
    dropped: Arc<tokio::sync::Notify>,
}

struct DropSignal(Arc<tokio::sync::Notify>);

impl Drop for DropSignal {
    fn drop(&mut self) {
        self.0.notify_one();
    }
}

impl ToolExecutor for StallingWorker {
    fn call_tool(&self, _request: CallToolRequest) -> BoxStream<'static, CallToolEvent> {
        let signal = DropSignal(self.dropped.clone());
        let progress = CallToolEvent {
            event: Some(Event::Progress(proto::Progress {
                progress: 1.0,
                total: None,
                message: String::new(),
            })),
        };
        futures::stream::iter([progress])
            .chain(futures::stream::pending())
            .map(move |event| {
                let _held = &signal;
                event
            })
            .boxed()
    }

    fn list_tools(&self) -> ListToolsResponse {
        ListToolsResponse::default()
    }
}

#[tokio::test]
async fn client_disconnect_cancels_the_worker_call() {
    use http_body_util::BodyExt;

    let dropped = Arc::new(tokio::sync::Notify::new());
    let mut config = EdgeConfig::local("127.0.0.1:0".parse().unwrap());
    config.call_timeout = Duration::from_secs(60);
    let state = EdgeState::new(
        config,
        WorkerPool::local(Arc::new(StallingWorker {
            dropped: dropped.clone(),
        })),
    );
    let body = json!({
        "jsonrpc": "2.0", "id": 8, "method": "tools/call",
        "params": {
            "name": "d365fo_query_entities",
            "arguments": {"entity_set": "CustomersV3"},
            "_meta": {"progressToken": 1, "io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}
        }
    });
    let response = app(state)
        .oneshot(post(
            &body.to_string(),
            "tools/call",
            Some("d365fo_query_entities"),
        ))
        .await
        .unwrap();
    let mut body = response.into_body();
    // Read until the progress notification arrives: the call is running.
    let mut seen = String::new();
    while !seen.contains("notifications/progress") {
        let frame = tokio::time::timeout(Duration::from_secs(5), body.frame())
            .await
            .expect("progress within 5 s")
            .expect("stream open")
            .unwrap();
        if let Ok(data) = frame.into_data() {
            seen.push_str(&String::from_utf8_lossy(&data));
        }
    }
    assert!(
        tokio::time::timeout(Duration::from_millis(200), dropped.notified())
            .await
            .is_err(),
        "the call must still be running while the client listens"
    );
    drop(body);
    tokio::time::timeout(Duration::from_secs(5), dropped.notified())
        .await
        .expect("the worker call is cancelled when the client goes away");
}

#[tokio::test]
async fn session_delete_answers_204_then_the_session_is_gone() {
    let app = app(state());
    let (_, session) = support::open_session(&app).await;
    let delete = |app: axum::Router| {
        let session = session.clone();
        async move {
            let request = Request::delete("/mcp")
                .header("host", "127.0.0.1")
                .header("mcp-session-id", session)
                .body(Body::empty())
                .unwrap();
            app.oneshot(request).await.unwrap().status()
        }
    };
    assert_eq!(delete(app.clone()).await, StatusCode::NO_CONTENT);
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    let request = Request::post("/mcp")
        .header("host", "127.0.0.1")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25")
        .header("mcp-session-id", session)
        .body(Body::from(list.to_string()))
        .unwrap();
    assert_eq!(
        app.oneshot(request).await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
}
