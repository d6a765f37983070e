//! The edge↔worker gRPC contract, generated at build time from
//! `proto/d365mcp/worker/v1/worker.proto`.

#![allow(missing_docs, clippy::all, clippy::pedantic)]

/// Package `d365mcp.worker.v1`.
pub mod v1 {
    tonic::include_proto!("d365mcp.worker.v1");
}

pub use v1::*;

/// Largest gRPC message either side sends or accepts. A tool result is one
/// message; tonic's 4 MiB default is too small for a page of wide D365FO rows,
/// and the worker bounds its results well below this.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// Every field as derived, except the user's token: a credential, shown as
/// `***` (or empty), so that no log of a request ever holds it.
impl std::fmt::Debug for CallToolRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let user_assertion = if self.user_assertion.is_empty() {
            ""
        } else {
            "***"
        };
        f.debug_struct("CallToolRequest")
            .field("request_id", &self.request_id)
            .field("tenant", &self.tenant)
            .field("environment", &self.environment)
            .field("principal", &self.principal)
            .field("tool", &self.tool)
            .field("arguments_json", &self.arguments_json)
            .field("deadline_unix_ms", &self.deadline_unix_ms)
            .field("trace_context", &self.trace_context)
            .field("want_progress", &self.want_progress)
            .field("log_level", &self.log_level)
            .field("replay_ttl_ms", &self.replay_ttl_ms)
            .field("user_assertion", &user_assertion)
            .finish()
    }
}
