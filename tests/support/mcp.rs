//! MCP clients (rmcp's) for each protocol era.

use rmcp::{
    ClientLifecycleMode, ClientServiceExt, RoleClient,
    model::{CallToolRequestParams, CallToolResult, ClientConfig, ProtocolVersion},
    service::{RunningService, ServiceError},
    transport::{
        StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use serde_json::Value;

/// The MCP protocol eras served on one endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Era {
    /// 2026-07-28: no handshake, per-request metadata.
    Stateless2026,
    /// 2025-11-25: `initialize`, then `Mcp-Session-Id`.
    Session2025,
}

impl Era {
    pub const ALL: [Era; 2] = [Era::Stateless2026, Era::Session2025];
}

pub type Client = RunningService<RoleClient, ClientConfig>;

/// A connected client of `era`.
pub async fn connect(url: &str, era: Era) -> Client {
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(url.to_owned()),
    );
    let (config, mode) = match era {
        Era::Stateless2026 => (
            ClientConfig::default(),
            ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            },
        ),
        Era::Session2025 => (
            ClientConfig::default().with_protocol_version(ProtocolVersion::V_2025_11_25),
            ClientLifecycleMode::Initialize,
        ),
    };
    config
        .serve_with_lifecycle(transport, mode)
        .await
        .unwrap_or_else(|e| panic!("{era:?} client could not connect to {url}: {e}"))
}

/// Calls `tool` with `arguments` (a JSON object).
pub async fn call(
    client: &Client,
    tool: &str,
    arguments: Value,
) -> Result<CallToolResult, ServiceError> {
    let Value::Object(arguments) = arguments else {
        panic!("arguments must be an object");
    };
    client
        .call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments))
        .await
}

/// Calls `tool`, requiring a successful result (no JSON-RPC error, no
/// `isError`); panics naming the tool and the error text otherwise.
pub async fn call_ok(client: &Client, tool: &str, arguments: Value) -> CallToolResult {
    let result = call(client, tool, arguments)
        .await
        .unwrap_or_else(|e| panic!("{tool}: {e}"));
    assert_ne!(
        result.is_error,
        Some(true),
        "{tool} failed: {}",
        text(&result)
    );
    result
}

/// The text of a result's first content block.
pub fn text(result: &CallToolResult) -> String {
    serde_json::to_value(&result.content).unwrap()[0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The `ErrorCode` name of a tool error result (`_meta["d365mcp/error"].code`).
pub fn error_code(result: &CallToolResult) -> String {
    serde_json::to_value(result).unwrap()["_meta"]["d365mcp/error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Calls `tool`, requiring a tool error result (`isError: true`) whose
/// `ErrorCode` is `code`; returns the error's text for further checks.
pub async fn expect_tool_error(
    client: &Client,
    tool: &str,
    arguments: Value,
    code: &str,
) -> String {
    let result = call(client, tool, arguments)
        .await
        .unwrap_or_else(|e| panic!("{tool}: expected a tool result, got {e}"));
    let text = text(&result);
    assert_eq!(result.is_error, Some(true), "{tool}: not an error: {text}");
    assert_eq!(error_code(&result), code, "{tool}: {text}");
    text
}

/// A raw 2026-07-28 `tools/call` POST, for tests that read the SSE stream
/// themselves or walk away from it. `meta` is merged into `params._meta`.
pub fn stateless_call(
    url: &str,
    tool: &str,
    arguments: Value,
    meta: Value,
) -> reqwest::RequestBuilder {
    stateless_call_with(url, tool, arguments, meta, Value::Null)
}

/// [`stateless_call`] with more `params` (`requestState`, `inputResponses`).
pub fn stateless_call_with(
    url: &str,
    tool: &str,
    arguments: Value,
    meta: Value,
    params: Value,
) -> reqwest::RequestBuilder {
    let mut all_meta = serde_json::json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {}
    });
    if let (Some(all), Value::Object(extra)) = (all_meta.as_object_mut(), meta) {
        all.extend(extra);
    }
    let mut all_params =
        serde_json::json!({"name": tool, "arguments": arguments, "_meta": all_meta});
    if let (Some(all), Value::Object(extra)) = (all_params.as_object_mut(), params) {
        all.extend(extra);
    }
    let body = serde_json::json!({
        "jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": all_params
    });
    reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", tool)
        .body(body.to_string())
}
