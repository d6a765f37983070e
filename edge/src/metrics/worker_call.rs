//! `d365mcp_worker_call_duration_seconds{result}`: one call to a worker
//! (gRPC, or in process for `dev`), from dispatch to its final event.

use std::time::Instant;

use common::{Failure, proto};

/// One worker call being timed; observed by [`WorkerCall::finish`], or as
/// `cancelled` when dropped first (the MCP request was cancelled or its
/// client went away, which drops the call).
#[must_use = "a worker call is observed when it finishes or drops"]
pub struct WorkerCall {
    started: Instant,
    observed: bool,
}

impl WorkerCall {
    /// Starts timing a call now.
    pub fn start() -> Self {
        Self {
            started: Instant::now(),
            observed: false,
        }
    }

    /// Observes the call with its outcome: `ok` for a result, else the
    /// failure's code — the worker's own (a final result carrying a
    /// failure) or the edge's (no worker, a lost stream, the timeout).
    pub fn finish(mut self, outcome: &Result<proto::ToolResult, Failure>) {
        let result = match outcome {
            Ok(proto::ToolResult {
                outcome: Some(proto::tool_result::Outcome::Failure(failure)),
            }) => failure
                .code
                .parse::<common::ErrorCode>()
                .map_or(common::ErrorCode::Internal.as_str(), |code| code.as_str()),
            Ok(_) => "ok",
            Err(failure) => failure.code.as_str(),
        };
        self.observe(result);
    }

    fn observe(&mut self, result: &'static str) {
        self.observed = true;
        common::metrics::get()
            .edge
            .worker_call_duration
            .with_label_values(&[result])
            .observe(self.started.elapsed().as_secs_f64());
    }
}

impl Drop for WorkerCall {
    fn drop(&mut self) {
        if !self.observed {
            self.observe(common::ErrorCode::Cancelled.as_str());
        }
    }
}

/// Creates the `ok` series, so that the family shows from start-up.
pub(super) fn register() {
    common::metrics::get()
        .edge
        .worker_call_duration
        .with_label_values(&["ok"]);
}
