//! The edge's error type.

use common::ErrorCode;

/// What can go wrong in the edge outside a single MCP request.
#[derive(Debug, thiserror::Error)]
pub enum EdgeError {
    /// A worker URL could not be turned into a gRPC endpoint.
    #[error("worker endpoint `{url}` is invalid: {reason}")]
    BadWorkerUrl {
        /// The URL as configured.
        url: String,
        /// Why it was refused.
        reason: String,
    },
    /// No worker is configured.
    #[error(
        "no workers configured: set D365MCP_WORKERS (--workers) to the workers' gRPC URLs, \
         or D365MCP_REDIS_URL (--redis-url) to follow the workers registered there"
    )]
    NoWorkers,
    /// Serving HTTP failed.
    #[error("HTTP server failed: {0}")]
    Io(#[from] std::io::Error),
}

impl EdgeError {
    /// The cluster-wide error code.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::BadWorkerUrl { .. } | Self::NoWorkers => ErrorCode::InvalidRequest,
            Self::Io(_) => ErrorCode::Internal,
        }
    }
}
