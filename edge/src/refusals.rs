//! rmcp's plain-text refusals, answered as JSON-RPC errors.
//!
//! rmcp refuses some requests before its handler runs — a wrong `Accept`
//! (406), a wrong `Content-Type` (415), an unsupported `MCP-Protocol-Version`
//! header (400), a GET where only POST is served (405) — with a `text/plain`
//! body. A client reads a JSON-RPC error body (code, message, the request's
//! id) whatever the status, so this middleware, the innermost layer in front
//! of rmcp, rewrites every error answer that is not JSON into one: same
//! status and headers, rmcp's message (bounded), the id when the body guard
//! has read one, and the code of the [`ErrorCode`] the status stands for.

use axum::{
    extract::Request,
    http::{HeaderValue, StatusCode, header},
    middleware::Next,
    response::Response,
};
use common::{ErrorCode, Failure};
use serde_json::Value;

use crate::limits::RpcRequest;

/// The most of rmcp's message kept in the rewritten answer.
const MESSAGE_MAX: usize = 1024;

/// Rewrites a non-JSON error answer of the inner service into a JSON-RPC
/// error: a middleware for the legacy routes. On `/mcp` the body guard,
/// which already wraps rmcp, calls [`rewrite`] itself (one layer fewer on
/// every call).
pub async fn as_jsonrpc(request: Request, next: Next) -> Response {
    let id = request
        .extensions()
        .get::<RpcRequest>()
        .map_or(Value::Null, |rpc| rpc.id.clone());
    rewrite(next.run(request).await, id).await
}

/// `response` as it was, or, when it is an error answer that is not JSON, a
/// JSON-RPC error answering request `id` with its status and message.
pub async fn rewrite(response: Response, id: Value) -> Response {
    let status = response.status();
    if status.is_success() {
        return response;
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    // rmcp's refusals are one short line; a longer body is cut, not read whole.
    let text = match axum::body::to_bytes(body, MESSAGE_MAX * 4).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).trim().to_owned(),
        Err(_) => String::new(),
    };
    let message = match text.char_indices().nth(MESSAGE_MAX) {
        Some((end, _)) => &text[..end],
        None if text.is_empty() => status.canonical_reason().unwrap_or("refused"),
        None => &text,
    };
    let mut failure = Failure::new(code_for(status), explain(status, message));
    failure.hint = hint(status).map(str::to_owned);
    let mut rewritten = crate::error::refusal(&failure, id);
    // rmcp's status is the more precise one (406, 415, 405 are all
    // `invalid_request`); the body is the one mapping's.
    *rewritten.status_mut() = status;
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            rewritten.headers_mut().insert(name.clone(), value.clone());
        }
    }
    rewritten.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let (mut new_parts, new_body) = rewritten.into_parts();
    new_parts.extensions = parts.extensions;
    Response::from_parts(new_parts, new_body)
}

/// The error an HTTP status stands for.
fn code_for(status: StatusCode) -> ErrorCode {
    match status {
        StatusCode::UNAUTHORIZED => ErrorCode::Unauthenticated,
        StatusCode::FORBIDDEN => ErrorCode::PermissionDenied,
        StatusCode::NOT_FOUND => ErrorCode::NotFound,
        StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
        StatusCode::TOO_MANY_REQUESTS => ErrorCode::RateLimited,
        StatusCode::SERVICE_UNAVAILABLE => ErrorCode::Unavailable,
        s if s.is_client_error() => ErrorCode::InvalidRequest,
        _ => ErrorCode::Internal,
    }
}

/// rmcp's message, with what to do about it where rmcp does not say.
fn explain(status: StatusCode, message: &str) -> String {
    match hint(status) {
        Some(hint) => format!("{message} ({hint})"),
        None => message.to_owned(),
    }
}

/// What to do about a refusal of `status`, where rmcp does not say.
fn hint(status: StatusCode) -> Option<&'static str> {
    match status {
        StatusCode::NOT_ACCEPTABLE => Some(
            "send `Accept: application/json, text/event-stream` on POST, \
             `Accept: text/event-stream` on GET",
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => Some("send `Content-Type: application/json`"),
        StatusCode::METHOD_NOT_ALLOWED => Some("MCP requests are POSTed to this endpoint"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use axum::{Router, body::Body, routing::post};
    use tower::ServiceExt;

    use super::*;

    async fn through(status: StatusCode, content_type: &str, body: &'static str) -> Response {
        let content_type = content_type.to_owned();
        let app = Router::new()
            .route(
                "/",
                post(move || async move {
                    Response::builder()
                        .status(status)
                        .header(header::CONTENT_TYPE, content_type)
                        .header("x-kept", "1")
                        .body(Body::from(body))
                        .unwrap()
                }),
            )
            .layer(axum::middleware::from_fn(as_jsonrpc));
        let request = Request::post("/").body(Body::empty()).unwrap();
        app.oneshot(request).await.unwrap()
    }

    async fn json(response: Response) -> Value {
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn plain_text_refusals_become_jsonrpc_errors() {
        for (status, code) in [
            (StatusCode::NOT_ACCEPTABLE, ErrorCode::InvalidRequest),
            (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorCode::InvalidRequest,
            ),
            (StatusCode::BAD_REQUEST, ErrorCode::InvalidRequest),
            (StatusCode::FORBIDDEN, ErrorCode::PermissionDenied),
            (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal),
        ] {
            let response = through(status, "text/plain; charset=utf-8", "Nope: said rmcp").await;
            assert_eq!(response.status(), status);
            assert_eq!(response.headers()["x-kept"], "1", "other headers are kept");
            assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
            let body = json(response).await;
            assert_eq!(body["jsonrpc"], "2.0");
            assert_eq!(body["id"], Value::Null);
            assert_eq!(body["error"]["code"], code.jsonrpc_code(), "{status}");
            assert_eq!(body["error"]["data"]["code"], code.as_str(), "{status}");
            let message = body["error"]["message"].as_str().unwrap();
            assert!(message.starts_with("Nope: said rmcp"), "{message}");
        }
    }

    #[tokio::test]
    async fn json_and_successful_answers_pass_untouched() {
        let ok = through(StatusCode::OK, "text/event-stream", "data: x\n\n").await;
        assert_eq!(ok.headers()[header::CONTENT_TYPE], "text/event-stream");
        let error = through(StatusCode::NOT_FOUND, "application/json", "{\"a\":1}").await;
        assert_eq!(json(error).await, serde_json::json!({"a": 1}));
    }
}
