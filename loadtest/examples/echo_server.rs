//! The benchmark's baseline: a bare rmcp Streamable HTTP server with one
//! `echo` tool and nothing else, served statelessly (2026-07-28) on `/mcp`.
//!
//! It has what every MCP server on rmcp pays (HTTP, JSON-RPC, the stateless
//! request checks) and none of the edge's own work (auth, rate limits,
//! sessions, dispatch), so the edge's `tools/list` rate as a share of this
//! server's shows what the edge adds. Its rmcp configuration matches the
//! edge's where they overlap: loopback `Host` check, JSON replies, and
//! TCP_NODELAY on accepted sockets; so does its allocator (mimalloc).
//!
//! ```sh
//! cargo run --release -p loadtest --example echo_server -- --listen 127.0.0.1:0
//! # prints: echo listening on 127.0.0.1:<port>
//! ```

use std::{net::SocketAddr, sync::Arc};

use axum::{Router, serve::ListenerExt};
use rmcp::{
    ErrorData, RoleServer, ServerHandler,
    model::{
        CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
        ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
    },
    service::RequestContext,
    transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService, session::never::NeverSessionManager,
    },
};
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;

/// The d365mcp binary's allocator, so that the two differ only in their code.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Serves the one tool.
#[derive(Clone)]
struct Echo;

fn echo_tool() -> Tool {
    let schema = json!({
        "type": "object",
        "properties": {"text": {"type": "string", "description": "what to send back"}},
    });
    let schema: Map<String, Value> = match schema {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    Tool::new("echo", "Sends back its `text` argument.", Arc::new(schema))
}

impl ServerHandler for Echo {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("echo", env!("CARGO_PKG_VERSION")))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(vec![echo_tool()]))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        (name == "echo").then(echo_tool)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        if request.name != "echo" {
            return Err(ErrorData::invalid_params(
                format!("unknown tool `{}`; the only tool is `echo`", request.name),
                None,
            ));
        }
        let text = request
            .arguments
            .as_ref()
            .and_then(|a| a.get("text"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        Ok(CallToolResult::success(vec![ContentBlock::text(text)]).into())
    }
}

fn app() -> Router {
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true);
    let mcp = StreamableHttpService::new(
        || Ok(Echo),
        Arc::new(NeverSessionManager::default()),
        config,
    );
    Router::new().nest_service("/mcp", mcp)
}

/// `--listen HOST:PORT` (default `127.0.0.1:8095`).
fn listen_addr() -> Result<SocketAddr, String> {
    let mut args = std::env::args().skip(1);
    let mut listen = String::from("127.0.0.1:8095");
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => {
                listen = args
                    .next()
                    .ok_or("--listen needs HOST:PORT, e.g. 127.0.0.1:0")?;
            }
            other => {
                return Err(format!(
                    "unknown argument `{other}`; usage: echo_server [--listen HOST:PORT]"
                ));
            }
        }
    }
    listen
        .parse()
        .map_err(|e| format!("--listen `{listen}` is not HOST:PORT: {e}"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = listen_addr()?;
    let listener = TcpListener::bind(addr).await?;
    println!("echo listening on {}", listener.local_addr()?);
    // As the edge does: without TCP_NODELAY small replies wait for a delayed ACK.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app())
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
