//! The tools of `common::catalogue`, one module per catalogue group, each
//! tool in three steps: parse the arguments into a typed struct, make one
//! D365FO request (or a short series), build the result.
//!
//! The executor has already resolved the `environment` argument and taken it
//! out of the arguments; a tool gets the environment in its [`Context`] and
//! the rest as a JSON object. A tool returns a [`Reply`] or a
//! [`WorkerError`]; [`output`] turns the reply into MCP content, and the
//! executor turns errors into `ToolFailure`s.

pub mod args;
pub mod data;
pub mod execution;
pub mod metadata;
pub mod server;

use common::{
    catalogue::{self, Group},
    proto::ToolOutput,
    store::SharedStore,
};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::{
    cache::MetadataCache,
    d365::{D365Client, Deadline},
    error::WorkerError,
    node::{Environment, Node},
};

// Below the tools, re-exported for the executor, which builds a `Context`.
pub use crate::node::MAX_RESULT_BYTES;
pub use crate::progress::Progress;

/// What a tool runs with.
pub struct Context<'a> {
    /// Everything the worker shares between calls: environments, cache,
    /// store, statistics, configuration.
    pub node: &'a Node,
    /// The environment this call addresses.
    pub env: &'a Environment,
    /// That environment's client (`env.client`).
    pub client: &'a D365Client,
    /// The metadata and label cache (`node.cache`).
    pub cache: &'a MetadataCache,
    /// The region's shared store (`node.store`).
    pub store: &'a SharedStore,
    /// Where write claims live (`node.global`).
    pub global: &'a SharedStore,
    /// Most rows a query returns per call.
    pub max_rows: usize,
    /// Most bytes of row JSON (or of a document) a call returns.
    pub max_result_bytes: usize,
    /// The call's deadline.
    pub deadline: Deadline,
    /// Where progress goes.
    pub progress: Progress,
    /// The edge's id of this call, unique per call: the idempotency key of
    /// a write.
    pub request_id: &'a str,
    /// The caller's key name (`anonymous` or empty without keys).
    pub subject: &'a str,
    /// The caller's tenant.
    pub tenant: &'a str,
}

/// What a tool returns.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// Data: sent as `structuredContent` and, for clients that do not read
    /// it, as one text block with the same JSON.
    Data(Value),
    /// Content blocks of their own (an embedded document, say), with
    /// structured data beside them when there is any.
    Content {
        /// MCP content blocks, e.g. `{"type": "resource", "resource": {…}}`.
        content: Vec<Value>,
        /// `structuredContent`, if the tool has an output schema.
        structured: Option<Value>,
    },
}

impl Reply {
    /// `result`, a tool's result type, serialized as its data.
    pub fn data(result: &impl Serialize) -> Result<Self, WorkerError> {
        structured(result).map(Self::Data)
    }
}

/// `result`, a tool's result type, as `structuredContent`.
pub fn structured(result: &impl Serialize) -> Result<Value, WorkerError> {
    serde_json::to_value(result)
        .map_err(|e| WorkerError::Internal(format!("a tool result did not serialize: {e}")))
}

/// Runs `tool` with `args` (an object, `environment` removed).
pub async fn run(
    ctx: &Context<'_>,
    tool: &str,
    args: Map<String, Value>,
) -> Result<Reply, WorkerError> {
    let Some(spec) = catalogue::find(tool) else {
        return Err(unknown_tool(tool));
    };
    match spec.group {
        Group::Data => data::run(ctx, tool, args).await,
        Group::Execution => execution::run(ctx, tool, args).await,
        Group::Metadata => metadata::run(ctx, tool, args).await,
        Group::Server => server::run(ctx, tool, args).await,
    }
}

/// The error for a tool name no group runs.
pub fn unknown_tool(name: &str) -> WorkerError {
    WorkerError::UnknownTool {
        name: name.chars().take(100).collect(),
        available: catalogue::tools()
            .iter()
            .map(|t| t.name)
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// Turns a reply into MCP content.
pub fn output(reply: &Reply) -> ToolOutput {
    match reply {
        Reply::Data(structured) => {
            let text = structured.to_string();
            ToolOutput {
                content_json: json!([{ "type": "text", "text": text }]).to_string(),
                structured_content_json: text,
                is_error: false,
            }
        }
        Reply::Content {
            content,
            structured,
        } => ToolOutput {
            content_json: Value::Array(content.clone()).to_string(),
            structured_content_json: structured
                .as_ref()
                .map(Value::to_string)
                .unwrap_or_default(),
            is_error: false,
        },
    }
}
