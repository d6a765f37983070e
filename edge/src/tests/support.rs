//! What the in-process tests share: fake workers, the edge's state and
//! helpers to post JSON-RPC and read the answer, JSON or SSE.

use std::{sync::Arc, time::Duration};

use axum::{
    body::{Body, to_bytes},
    http::Request,
};
use common::{
    config::EdgeConfig,
    executor::ToolExecutor,
    proto::{self, CallToolEvent, CallToolRequest, ListToolsResponse, call_tool_event::Event},
};
use futures::{StreamExt, stream::BoxStream};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::{EdgeState, WorkerPool, app};

/// Echoes the request back as structured content, after one progress event.
pub struct FakeWorker;

impl ToolExecutor for FakeWorker {
    fn call_tool(&self, request: CallToolRequest) -> BoxStream<'static, CallToolEvent> {
        let echo = json!({
            "tool": request.tool,
            "environment": request.environment,
            "arguments": serde_json::from_str::<Value>(&request.arguments_json).unwrap(),
            "want_progress": request.want_progress,
        });
        let progress = CallToolEvent {
            event: Some(Event::Progress(proto::Progress {
                progress: 1.0,
                total: Some(2.0),
                message: "half".into(),
            })),
        };
        let result = CallToolEvent {
            event: Some(Event::Result(proto::ToolResult {
                outcome: Some(proto::tool_result::Outcome::Output(proto::ToolOutput {
                    content_json: json!([{"type": "text", "text": echo.to_string()}]).to_string(),
                    structured_content_json: echo.to_string(),
                    is_error: false,
                })),
            })),
        };
        futures::stream::iter([progress, result]).boxed()
    }

    fn list_tools(&self) -> ListToolsResponse {
        ListToolsResponse::default()
    }
}

pub fn state() -> EdgeState {
    let mut config = EdgeConfig::local("127.0.0.1:0".parse().unwrap());
    config.max_body_bytes = 64 * 1024;
    config.call_timeout = Duration::from_secs(5);
    EdgeState::new(config, WorkerPool::local(Arc::new(FakeWorker)))
}

pub fn meta() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "test", "version": "0"}
    })
}

pub fn post(body: &str, method: &str, name: Option<&str>) -> Request<Body> {
    let mut builder = Request::post("/mcp")
        .header("host", "127.0.0.1:8080")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", method);
    if let Some(name) = name {
        builder = builder.header("mcp-name", name);
    }
    builder.body(Body::from(body.to_owned())).unwrap()
}

/// The JSON-RPC messages of a response, whether JSON or SSE.
pub async fn messages(response: axum::response::Response) -> Vec<Value> {
    let bytes = to_bytes(response.into_body(), 1 << 20).await.unwrap();
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    if let Ok(value) = serde_json::from_str::<Value>(&text) {
        return vec![value];
    }
    text.lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .filter_map(|data| serde_json::from_str(data.trim()).ok())
        .collect()
}

/// Answers each call with what `answer` makes of the request: a worker whose
/// replies (and failures) a test chooses.
pub struct ScriptedWorker<F>(pub F);

impl<F> ToolExecutor for ScriptedWorker<F>
where
    F: Fn(&CallToolRequest) -> proto::ToolResult + Send + Sync + 'static,
{
    fn call_tool(&self, request: CallToolRequest) -> BoxStream<'static, CallToolEvent> {
        let result = CallToolEvent {
            event: Some(Event::Result((self.0)(&request))),
        };
        futures::stream::iter([result]).boxed()
    }

    fn list_tools(&self) -> ListToolsResponse {
        ListToolsResponse::default()
    }
}

/// Edge state accepting the API key `k-123` (`erp-team` of `contoso`),
/// whose worker echoes what it was handed: tenant, environment, principal
/// and user assertion.
pub fn keyed_state() -> EdgeState {
    let worker = ScriptedWorker(|request: &CallToolRequest| {
        let principal = request.principal.clone().unwrap_or_default();
        let echo = json!({
            "tenant": request.tenant, "subject": principal.subject,
            "environment": request.environment,
            "issuer": principal.issuer, "scopes": principal.scopes,
            "assertion": request.user_assertion,
        });
        proto::ToolResult {
            outcome: Some(proto::tool_result::Outcome::Output(proto::ToolOutput {
                content_json: json!([{"type": "text", "text": echo.to_string()}]).to_string(),
                structured_content_json: echo.to_string(),
                is_error: false,
            })),
        }
    });
    let state = state_with(worker);
    let mut config = (*state.config).clone();
    config.api_keys = vec![common::config::ApiKey {
        name: "erp-team".into(),
        tenant: "contoso".into(),
        sha256: <sha2::Sha256 as sha2::Digest>::digest(b"k-123").into(),
    }];
    EdgeState {
        config: Arc::new(config),
        ..state
    }
}

/// Edge state dispatching to `worker`.
pub fn state_with(worker: impl ToolExecutor) -> EdgeState {
    let mut config = EdgeConfig::local("127.0.0.1:0".parse().unwrap());
    config.call_timeout = Duration::from_secs(5);
    EdgeState::new(config, WorkerPool::local(Arc::new(worker)))
}

/// Sends one 2026-07-28 request for `method` with `params` (plus the
/// required `_meta`) and returns the final JSON-RPC message.
pub async fn rpc(state: EdgeState, method: &str, mut params: Value) -> Value {
    params["_meta"] = meta();
    // The Mcp-Name header mirrors the body, as SEP-2243 requires.
    let name = params["name"].as_str().or(params["uri"].as_str());
    let body = json!({"jsonrpc": "2.0", "id": 11, "method": method, "params": params});
    let response = app(state)
        .oneshot(post(&body.to_string(), method, name))
        .await
        .unwrap();
    let message = messages(response).await.pop().expect("a JSON-RPC answer");
    assert_eq!(message["id"], 11, "{message}");
    message
}

/// Opens a 2025-11-25 session on `app`: the `initialize` answer (200) and
/// the session id it carries.
pub async fn open_session(app: &axum::Router) -> (axum::response::Response, String) {
    let init = json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}
    });
    let request = Request::post("/mcp")
        .header("host", "127.0.0.1")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(Body::from(init.to_string()))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), axum::http::StatusCode::OK);
    let session = response.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    (response, session)
}
