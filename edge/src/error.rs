//! The edge's error type, and the one way the edge answers a request with
//! an error itself.
//!
//! Every refusal the edge makes before or beside rmcp — the body guard, the
//! Host/Origin check, authentication, rate limits, the session gate, the
//! legacy relay, rmcp's own plain-text refusals rewritten — is a
//! [`Failure`] answered by [`refusal`]: the HTTP status of its
//! [`ErrorCode`], the JSON-RPC error of [`Failure::to_jsonrpc`] (so `data`
//! always names the code), and `Retry-After` when the failure has a wait.

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use common::{ErrorCode, Failure, error::whole_seconds};
use serde_json::{Map, Value};

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
    /// The MCP conversation on stdin and stdout failed (`crate::stdio`).
    #[error("MCP over stdio failed: {0}")]
    Stdio(String),
}

impl EdgeError {
    /// The cluster-wide error code.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::BadWorkerUrl { .. } | Self::NoWorkers => ErrorCode::InvalidRequest,
            Self::Io(_) | Self::Stdio(_) => ErrorCode::Internal,
        }
    }
}

/// Answers request `id` (`null` where it is not known yet) with `failure`.
pub fn refusal(failure: &Failure, id: Value) -> Response {
    refusal_with(failure, id, |_| {})
}

/// As [`refusal`], with `more` adding members to the error's `data` (the
/// rate limits name their bucket).
pub fn refusal_with(
    failure: &Failure,
    id: Value,
    more: impl FnOnce(&mut Map<String, Value>),
) -> Response {
    let mut error = failure.to_jsonrpc();
    if let Some(Value::Object(data)) = error.get_mut("data") {
        more(data);
    }
    let body = serde_json::json!({ "jsonrpc": "2.0", "id": id, "error": error });
    let status = StatusCode::from_u16(failure.code.http_status())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body.to_string(),
    )
        .into_response();
    if let Some(wait) = failure.retry_after {
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(whole_seconds(wait).max(1)),
        );
    }
    response
}

/// 503 with `Retry-After: 1`: the shared store cannot answer just now.
pub fn unavailable(message: &str) -> Response {
    refusal(&store_down(message), Value::Null)
}

/// The failure of a request the shared store could not serve just now.
pub fn store_down(message: &str) -> Failure {
    Failure::new(ErrorCode::Unavailable, message)
        .with_retry_after(std::time::Duration::from_secs(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(response: Response) -> Value {
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    /// Every code answers with its own status and JSON-RPC code, and `data`
    /// names it: the table itself is pinned in `common::error`.
    #[tokio::test]
    async fn every_code_is_answered_by_the_one_mapping() {
        for code in ErrorCode::ALL {
            let response = refusal(&Failure::new(code, "no"), serde_json::json!(7));
            assert_eq!(response.status().as_u16(), code.http_status(), "{code}");
            assert!(response.headers().get(header::RETRY_AFTER).is_none());
            let body = body(response).await;
            assert_eq!(body["id"], 7);
            assert_eq!(body["error"]["code"], code.jsonrpc_code(), "{code}");
            assert_eq!(body["error"]["data"]["code"], code.as_str());
        }
    }

    #[tokio::test]
    async fn a_wait_becomes_retry_after_and_data_can_grow() {
        let failure = Failure::new(ErrorCode::RateLimited, "slow")
            .with_retry_after(std::time::Duration::from_millis(300));
        let response = refusal_with(&failure, Value::Null, |data| {
            data.insert("limit".into(), "tool".into());
        });
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        let body = body(response).await;
        assert_eq!(body["error"]["data"]["limit"], "tool");
        assert_eq!(body["error"]["data"]["retryAfterSeconds"], 1);
    }
}
