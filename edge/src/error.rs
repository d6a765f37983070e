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

/// A JSON-RPC error answered by the edge itself, before rmcp: `status`, the
/// request's `id` (`null` where it is not known yet) and a message a person
/// can act on.
pub fn jsonrpc_error(
    status: axum::http::StatusCode,
    code: i32,
    id: serde_json::Value,
    message: &str,
) -> axum::response::Response {
    respond(
        status,
        id,
        serde_json::json!({ "code": code, "message": message }),
    )
}

/// A JSON-RPC error answered by the edge itself for `code`, with the
/// `data` every error of this server carries (`code`, `retryable`).
pub fn refusal(
    status: axum::http::StatusCode,
    code: ErrorCode,
    id: serde_json::Value,
    message: &str,
) -> axum::response::Response {
    let error = serde_json::json!({
        "code": code.jsonrpc_code(),
        "message": message,
        "data": { "code": code.as_str(), "retryable": code.is_retryable() },
    });
    respond(status, id, error)
}

fn respond(
    status: axum::http::StatusCode,
    id: serde_json::Value,
    error: serde_json::Value,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let body = serde_json::json!({ "jsonrpc": "2.0", "id": id, "error": error });
    (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// 503 with `Retry-After: 1`: the shared store cannot answer just now.
pub fn unavailable(message: &str) -> axum::response::Response {
    let mut response = jsonrpc_error(
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::Unavailable.jsonrpc_code(),
        serde_json::Value::Null,
        message,
    );
    response.headers_mut().insert(
        axum::http::header::RETRY_AFTER,
        axum::http::HeaderValue::from_static("1"),
    );
    response
}
