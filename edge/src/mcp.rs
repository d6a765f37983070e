//! The MCP handler: what each MCP request does.
//!
//! Adapters stay thin: `tools/list` reads the catalogue, `tools/call` builds a
//! worker request, relays the worker's events and converts the result.

use std::time::SystemTime;

use common::{ErrorCode, Failure, catalogue, proto};
use futures::StreamExt;
use rmcp::{
    ErrorData, RoleServer, ServerHandler,
    model::{
        CallToolRequestParams, CallToolResponse, Implementation, ListToolsResult,
        PaginatedRequestParams, ProgressNotificationParam, ServerCapabilities, ServerConfig, Tool,
    },
    service::RequestContext,
};
use serde_json::{Value, json};

use crate::{EdgeState, convert};

/// Serves one MCP session (or one stateless request).
#[derive(Clone)]
pub struct McpHandler {
    state: EdgeState,
}

impl McpHandler {
    pub fn new(state: EdgeState) -> Self {
        Self { state }
    }
}

/// The catalogue as MCP tools.
pub fn mcp_tools() -> &'static [Tool] {
    static TOOLS: std::sync::OnceLock<Vec<Tool>> = std::sync::OnceLock::new();
    TOOLS.get_or_init(|| catalogue::tools().iter().filter_map(to_mcp_tool).collect())
}

fn to_mcp_tool(spec: &catalogue::ToolSpec) -> Option<Tool> {
    let mut tool = json!({
        "name": spec.name,
        "title": spec.title,
        "description": spec.description,
        "inputSchema": spec.input_schema,
        "annotations": {
            "title": spec.title,
            "readOnlyHint": spec.effects.read_only,
            "destructiveHint": spec.effects.destructive,
            "idempotentHint": spec.effects.idempotent,
            "openWorldHint": spec.effects.open_world,
        }
    });
    if let Some(output) = &spec.output_schema {
        tool["outputSchema"] = output.clone();
    }
    match serde_json::from_value(tool) {
        Ok(tool) => Some(tool),
        Err(e) => {
            tracing::error!(tool = spec.name, error = %e, "catalogue entry is not a valid MCP tool");
            None
        }
    }
}

impl ServerHandler for McpHandler {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("d365mcp", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Tools for Microsoft Dynamics 365 Finance & Operations. Query data entities \
                 with d365fo_query_entities (OData filters), read one record by key with \
                 d365fo_get_entity_record, and check the environment with \
                 d365fo_test_connection and d365fo_get_environment_info.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(mcp_tools().to_vec()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        mcp_tools().iter().find(|t| t.name == name).cloned()
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let name = request.name.as_ref();
        let Some(spec) = catalogue::find(name) else {
            return Err(convert::error_data(&Failure::new(
                ErrorCode::UnknownTool,
                format!(
                    "unknown tool `{name}`; call tools/list for the available tools (all start with `d365fo_`)"
                ),
            )));
        };
        let arguments = request.arguments.clone().unwrap_or_default();
        let environment = match arguments.get("environment") {
            None | Some(Value::Null) => self.state.config.default_environment.clone(),
            Some(Value::String(env)) => env.clone(),
            Some(other) => {
                return convert::failure_to_mcp(Failure::new(
                    ErrorCode::InvalidArguments,
                    format!(
                        "invalid arguments for {name}: `environment` must be a string naming a configured D365FO environment, got {other}"
                    ),
                ))
                .map(Into::into);
            }
        };
        let progress_token = context.meta.get_progress_token();
        let timeout = self.state.config.call_timeout;
        let worker_request = proto::CallToolRequest {
            request_id: uuid::Uuid::new_v4().to_string(),
            tenant: "default".into(),
            environment,
            principal: Some(proto::Principal {
                subject: "anonymous".into(),
                issuer: "none".into(),
                scopes: Vec::new(),
            }),
            tool: spec.name.into(),
            arguments_json: Value::Object(arguments).to_string(),
            deadline_unix_ms: deadline_ms(timeout),
            trace_context: Default::default(),
            want_progress: progress_token.is_some(),
        };
        let request_id = worker_request.request_id.clone();
        tracing::debug!(%request_id, tool = spec.name, "dispatching tool call");

        let call = async {
            let mut events = self
                .state
                .workers
                .call(worker_request, spec.effects.idempotent, timeout)
                .await?;
            while let Some(event) = events.next().await {
                match event?.event {
                    Some(proto::call_tool_event::Event::Progress(p)) => {
                        if let Some(token) = &progress_token {
                            let mut param =
                                ProgressNotificationParam::new(token.clone(), p.progress);
                            if let Some(total) = p.total {
                                param = param.with_total(total);
                            }
                            if !p.message.is_empty() {
                                param = param.with_message(p.message);
                            }
                            // A client that went away just misses progress.
                            let _ = context.peer.notify_progress(param).await;
                        }
                    }
                    Some(proto::call_tool_event::Event::Log(log)) => {
                        tracing::debug!(%request_id, level = %log.level, logger = %log.logger, data = %log.data_json, "worker log");
                    }
                    Some(proto::call_tool_event::Event::Result(result)) => return Ok(result),
                    None => {}
                }
            }
            Err(Failure::new(
                ErrorCode::Unavailable,
                "the worker ended the call without a result; it may have stopped",
            ))
        };

        // Dropping `call` drops the worker stream, which cancels the work there.
        let outcome = tokio::select! {
            outcome = tokio::time::timeout(timeout, call) => outcome,
            _ = context.ct.cancelled() => {
                tracing::debug!(%request_id, "client cancelled the call");
                return Err(convert::error_data(&Failure::new(ErrorCode::Cancelled, "the call was cancelled")));
            }
        };
        let result = match outcome {
            Ok(Ok(result)) => convert::tool_result(result),
            Ok(Err(failure)) => convert::failure_to_mcp(failure),
            Err(_) => convert::failure_to_mcp(Failure::new(
                ErrorCode::DeadlineExceeded,
                format!(
                    "the tool call did not finish within {} s and was cancelled; narrow the query (filter, select, top) and try again",
                    timeout.as_secs()
                ),
            )),
        };
        result.map(Into::into)
    }
}

fn deadline_ms(timeout: std::time::Duration) -> u64 {
    SystemTime::now()
        .checked_add(timeout)
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_catalogue_entry_is_a_valid_mcp_tool() {
        assert_eq!(mcp_tools().len(), catalogue::tools().len());
        let query = mcp_tools()
            .iter()
            .find(|t| t.name == catalogue::names::QUERY_ENTITIES)
            .unwrap();
        assert!(query.output_schema.is_some());
        let annotations = query.annotations.as_ref().unwrap();
        assert_eq!(annotations.read_only_hint, Some(true));
    }

    #[test]
    fn deadline_is_in_the_future() {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        assert!(deadline_ms(std::time::Duration::from_secs(5)) >= now + 4_000);
    }
}
