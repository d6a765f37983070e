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
