//! The tools of `common::catalogue`, each in three steps: parse the
//! arguments into a typed struct, make one D365FO request (or a short series
//! of pages), build the structured result.
//!
//! A tool returns its structured result as a [`Value`] or a [`WorkerError`];
//! [`output`] wraps the value as MCP content, and the executor turns errors
//! into `ToolFailure`s.

pub mod args;
mod connection;
pub mod cursor;
mod metadata;
mod query;
mod record;

use common::{
    catalogue::{self, names},
    proto::{CallToolEvent, Progress as ProgressEvent, ToolOutput, call_tool_event::Event},
};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::{
    cache::MetadataCache,
    d365::{D365Client, Deadline},
    error::WorkerError,
};

/// Default of [`Context::max_result_bytes`]. [`output`] carries a result
/// twice (text and structured), the text escaped, so this stays well under
/// a quarter of [`crate::MAX_MESSAGE_BYTES`].
pub const MAX_RESULT_BYTES: usize = 16 * 1024 * 1024;

/// What a tool runs with.
pub struct Context<'a> {
    /// The environment's client.
    pub client: &'a D365Client,
    /// The worker's metadata and label cache.
    pub cache: &'a MetadataCache,
    /// Most rows a query returns per call.
    pub max_rows: usize,
    /// Most bytes of row JSON a query returns per call.
    pub max_result_bytes: usize,
    /// The call's deadline.
    pub deadline: Deadline,
    /// Where progress goes.
    pub progress: Progress,
    /// The request's `environment` field ("" = default).
    pub environment: &'a str,
}

/// Sends progress events, when the caller asked for them.
pub struct Progress(Option<mpsc::Sender<CallToolEvent>>);

impl Progress {
    /// A sink that sends to `tx`, or drops everything when `None`.
    pub fn new(tx: Option<mpsc::Sender<CallToolEvent>>) -> Self {
        Self(tx)
    }

    /// Whether anyone listens.
    pub fn enabled(&self) -> bool {
        self.0.is_some()
    }

    /// Reports `progress` of `total`.
    pub async fn report(&self, progress: f64, total: Option<f64>, message: String) {
        if let Some(tx) = &self.0 {
            let event = CallToolEvent {
                event: Some(Event::Progress(ProgressEvent {
                    progress,
                    total,
                    message,
                })),
            };
            // A closed channel means the caller is gone; the call is about
            // to be dropped, so there is nothing to do.
            let _ = tx.send(event).await;
        }
    }
}

/// Runs `tool` and returns its structured result.
pub async fn run(
    ctx: &Context<'_>,
    tool: &str,
    arguments_json: &str,
) -> Result<Value, WorkerError> {
    match tool {
        names::TEST_CONNECTION => {
            let args = args::parse(tool, arguments_json)?;
            connection::test_connection(ctx, args).await
        }
        names::GET_ENVIRONMENT_INFO => {
            let args = args::parse(tool, arguments_json)?;
            connection::environment_info(ctx, args).await
        }
        names::QUERY_ENTITIES => query::run(ctx, args::parse(tool, arguments_json)?).await,
        names::GET_ENTITY_RECORD => record::run(ctx, args::parse(tool, arguments_json)?).await,
        other if metadata::serves(other) => metadata::run(ctx, other, arguments_json).await,
        other => Err(WorkerError::UnknownTool {
            name: other.chars().take(100).collect(),
            available: catalogue::tools()
                .iter()
                .map(|t| t.name)
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// Checks that the call addresses this worker's environment: the tool's
/// `environment` argument, else the request's, must be empty or its name.
pub fn check_environment(
    ctx: &Context<'_>,
    tool: &str,
    argument: Option<&str>,
) -> Result<(), WorkerError> {
    let configured = &ctx.client.config().name;
    let asked = argument.unwrap_or(ctx.environment).trim();
    if asked.is_empty() || asked == configured {
        return Ok(());
    }
    Err(WorkerError::invalid_args(
        tool,
        format!(
            "`environment` {} is not configured; configured environments: {configured}",
            crate::d365::odata::quote(asked)
        ),
    ))
}

/// Wraps a structured result as MCP content: one text block with the same
/// JSON, for clients that do not read `structuredContent`.
pub fn output(structured: &Value) -> ToolOutput {
    let text = structured.to_string();
    ToolOutput {
        content_json: json!([{ "type": "text", "text": text }]).to_string(),
        structured_content_json: text,
        is_error: false,
    }
}
