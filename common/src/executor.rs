//! The seam between edge and worker: something that executes tool calls.
//!
//! A worker implements [`ToolExecutor`]; its gRPC server is a thin adapter
//! over it, and `d365mcp dev` hands the same object to the edge in-process, so
//! both paths run the same code.

use futures::stream::BoxStream;

use crate::proto::{CallToolEvent, CallToolRequest, ListToolsResponse};

/// Executes tool calls.
pub trait ToolExecutor: Send + Sync + 'static {
    /// Runs one call. The stream yields progress and log events and ends with
    /// exactly one [`CallToolEvent`] carrying a `ToolResult`. Dropping the
    /// stream cancels the work: no detached task outlives it.
    fn call_tool(&self, request: CallToolRequest) -> BoxStream<'static, CallToolEvent>;

    /// The tools this executor runs.
    fn list_tools(&self) -> ListToolsResponse;
}
