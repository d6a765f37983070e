//! The execution group.

use serde_json::{Map, Value};

use super::{Context, Reply, unknown_tool};
use crate::error::WorkerError;

/// Runs one tool of this group.
pub async fn run(
    _ctx: &Context<'_>,
    tool: &str,
    _args: Map<String, Value>,
) -> Result<Reply, WorkerError> {
    Err(unknown_tool(tool))
}
