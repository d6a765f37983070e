//! `mcp_server_operation_duration_seconds{mcp_method_name,
//! gen_ai_tool_name, error_type, mcp_protocol_version}` (OpenTelemetry MCP
//! semantic conventions): one observation per MCP request the handler
//! serves, in every era (the handler serves 2026-07-28 requests, 2025
//! sessions and legacy streams alike).
//!
//! Every label is a `&'static str` from a fixed set: the method from
//! [`Method`], the tool from the catalogue, the protocol version from
//! rmcp's known versions, the error from [`common::ErrorCode`] or the
//! JSON-RPC code — anything else is [`OTHER`].

use std::{str::FromStr, time::Instant};

use common::{ErrorCode, catalogue, metrics::OTHER};
use rmcp::{
    ErrorData, RoleServer,
    model::{CallToolResponse, ProtocolVersion},
    service::RequestContext,
};

/// An MCP request method, as the label names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Initialize,
    Ping,
    Discover,
    ToolsList,
    ToolsCall,
    ResourcesList,
    ResourceTemplatesList,
    ResourcesRead,
    ResourcesSubscribe,
    ResourcesUnsubscribe,
    PromptsList,
    PromptsGet,
    SkillsList,
    SkillsGet,
    LoggingSetLevel,
    CompletionComplete,
    SubscriptionsListen,
    /// A method outside the MCP set.
    Other,
}

impl Method {
    /// The label value (`mcp.method.name`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Initialize => "initialize",
            Self::Ping => "ping",
            Self::Discover => "server/discover",
            Self::ToolsList => "tools/list",
            Self::ToolsCall => "tools/call",
            Self::ResourcesList => "resources/list",
            Self::ResourceTemplatesList => "resources/templates/list",
            Self::ResourcesRead => "resources/read",
            Self::ResourcesSubscribe => "resources/subscribe",
            Self::ResourcesUnsubscribe => "resources/unsubscribe",
            Self::PromptsList => "prompts/list",
            Self::PromptsGet => "prompts/get",
            Self::SkillsList => "skills/list",
            Self::SkillsGet => "skills/get",
            Self::LoggingSetLevel => "logging/setLevel",
            Self::CompletionComplete => "completion/complete",
            Self::SubscriptionsListen => "subscriptions/listen",
            Self::Other => OTHER,
        }
    }
}

/// The version's label value: one of rmcp's known versions, else [`OTHER`].
pub fn version_name(version: Option<&str>) -> &'static str {
    let Some(version) = version else {
        return OTHER;
    };
    ProtocolVersion::KNOWN_VERSIONS
        .iter()
        .map(ProtocolVersion::as_str)
        .find(|known| *known == version)
        .unwrap_or(OTHER)
}

/// The protocol version `context`'s request speaks: the one its `_meta`
/// declares (2026-07-28), else the one its session or stream opened with.
/// Read without copying: this runs on every request.
fn version_of(context: &RequestContext<RoleServer>) -> &'static str {
    if let Some(declared) = context.meta.get("io.modelcontextprotocol/protocolVersion") {
        return version_name(declared.as_str());
    }
    context.peer.peer_info().map_or(OTHER, |info| {
        version_name(Some(info.protocol_version.as_str()))
    })
}

/// One MCP request being served; observed once, when [`Operation::finish`]
/// is given its result — or, if the request's future is dropped first (the
/// client went away), as `cancelled` when it drops.
#[must_use = "an operation is observed when it finishes or drops"]
pub struct Operation {
    method: Method,
    tool: &'static str,
    version: &'static str,
    started: Instant,
    observed: bool,
}

impl Operation {
    /// Starts timing a `method` request of `context`.
    pub fn start(method: Method, context: &RequestContext<RoleServer>) -> Self {
        Self::with_version(method, version_of(context))
    }

    /// Starts timing a `method` request speaking `version` (a label value).
    pub fn with_version(method: Method, version: &'static str) -> Self {
        Self {
            method,
            tool: "",
            version,
            started: Instant::now(),
            observed: false,
        }
    }

    /// Starts timing a `tools/call` of `tool` (a catalogue name, else [`OTHER`]).
    pub fn tool_call(tool: &str, context: &RequestContext<RoleServer>) -> Self {
        let mut op = Self::start(Method::ToolsCall, context);
        op.tool = catalogue::find(tool).map_or(OTHER, |spec| spec.name);
        op
    }

    /// Overrides the version (an `initialize` speaks what it negotiated).
    pub fn set_version(&mut self, version: &'static str) {
        self.version = version;
    }

    /// Hands `result` back unobserved: not a client's request (rmcp's replay
    /// of a session's `initialize` when another edge restores it).
    pub fn skip<T>(mut self, result: Result<T, ErrorData>) -> Result<T, ErrorData> {
        self.observed = true;
        result
    }

    /// Observes the request with `result`'s error type and hands it back.
    pub fn finish<T: Outcome>(mut self, result: Result<T, ErrorData>) -> Result<T, ErrorData> {
        let error = match &result {
            Ok(value) if value.is_tool_error() => "tool_error",
            Ok(_) => "",
            Err(error) => error_name(error),
        };
        self.observe(error);
        result
    }

    fn observe(&mut self, error: &'static str) {
        self.observed = true;
        common::metrics::get()
            .mcp
            .operation_duration
            .with_label_values(&[self.method.name(), self.tool, error, self.version])
            .observe(self.started.elapsed().as_secs_f64());
    }
}

impl Drop for Operation {
    fn drop(&mut self) {
        if !self.observed {
            self.observe(ErrorCode::Cancelled.as_str());
        }
    }
}

/// A result that may still be an error for MCP: a tool result with `isError`.
pub trait Outcome {
    /// Whether it is a tool error result.
    fn is_tool_error(&self) -> bool {
        false
    }
}

impl Outcome for CallToolResponse {
    fn is_tool_error(&self) -> bool {
        matches!(self, CallToolResponse::Complete(result) if result.is_error == Some(true))
    }
}

macro_rules! plain_outcome {
    ($($t:ty),* $(,)?) => { $(impl Outcome for $t {})* };
}

plain_outcome!(
    (),
    rmcp::model::InitializeResult,
    rmcp::model::DiscoverResult,
    rmcp::model::ListToolsResult,
    rmcp::model::ListResourcesResult,
    rmcp::model::ListResourceTemplatesResult,
    rmcp::model::ReadResourceResponse,
    rmcp::model::ListPromptsResult,
    rmcp::model::GetPromptResponse,
    rmcp::model::ListSkillsResult,
    rmcp::model::GetSkillResult,
    rmcp::model::CompleteResult,
    rmcp::model::CustomResult,
);

/// A bounded name for a JSON-RPC error: our error code's (`data.code`, as
/// every error of the edge carries), else the JSON-RPC code's.
pub fn error_name(error: &ErrorData) -> &'static str {
    if let Some(code) = error
        .data
        .as_ref()
        .and_then(|data| data.get("code"))
        .and_then(|code| code.as_str())
        .and_then(|code| ErrorCode::from_str(code).ok())
    {
        return code.as_str();
    }
    match error.code.0 {
        -32700 => "parse_error",
        -32600 => "invalid_request",
        -32601 => "method_not_found",
        -32602 => "invalid_params",
        -32603 => "internal_error",
        -32002 => "resource_not_found",
        -32020 => "header_mismatch",
        -32021 => "missing_required_client_capability",
        -32022 => "unsupported_protocol_version",
        _ => OTHER,
    }
}

/// Creates one likely series, so that the family shows from start-up.
pub(super) fn register() {
    common::metrics::get()
        .mcp
        .operation_duration
        .with_label_values(&["tools/list", "", "", "2026-07-28"]);
}
