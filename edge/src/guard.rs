//! Rejects a bad POST body before rmcp sees it, with a JSON-RPC error a
//! person can act on.
//!
//! rmcp answers a body it cannot parse with `415` and a plain-text message;
//! JSON-RPC says a parse error is `-32700` and a malformed request `-32600`,
//! and HTTP says both are `400`. The body is read once here (bounded by the
//! configured limit) and handed on unchanged.

use axum::{
    body::{Body, Bytes},
    extract::{Request, State},
    http::{Method, StatusCode},
    middleware::Next,
    response::Response,
};
use common::ErrorCode;
use rmcp::model::{CallToolRequestParams, ClientJsonRpcMessage, ClientRequest, GetMeta};
use serde_json::Value;

use crate::limits::RpcRequest;

/// Checks POST bodies of at most `limit` bytes.
///
/// It also sees every answer on the way out: one rmcp made in plain text
/// before its handler ran (406, 415, 400, 405) becomes a JSON-RPC error
/// ([`crate::refusals::rewrite`]).
pub async fn jsonrpc_body(State(limit): State<usize>, request: Request, next: Next) -> Response {
    if request.method() != Method::POST {
        return crate::refusals::rewrite(next.run(request).await, Value::Null).await;
    }
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => bytes,
        Err(e) => {
            let too_large = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            return if too_large {
                reject(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    ErrorCode::PayloadTooLarge.jsonrpc_code(),
                    Value::Null,
                    format!(
                        "request body exceeds the limit of {limit} bytes (D365MCP_MAX_BODY_BYTES)"
                    ),
                )
            } else {
                reject(
                    StatusCode::BAD_REQUEST,
                    ErrorCode::InvalidRequest.jsonrpc_code(),
                    Value::Null,
                    format!("could not read the request body: {e}"),
                )
            };
        }
    };
    let summary = match check(&bytes) {
        Ok(summary) => summary,
        Err(response) => return *response,
    };
    let mut request = Request::from_parts(parts, Body::from(bytes));
    let id = summary.as_ref().map_or(Value::Null, |s| s.id.clone());
    if let Some(summary) = summary {
        // What the rate limits need, so that they need no second parse.
        request.extensions_mut().insert(summary);
    }
    crate::refusals::rewrite(next.run(request).await, id).await
}

/// What the rate limits need of a request or a client's answer (`None` for
/// a notification), or why rmcp would refuse the body.
fn check(bytes: &Bytes) -> Result<Option<RpcRequest>, Box<Response>> {
    // The one parse every request pays; only a body rmcp would refuse is
    // looked at again, to say what is wrong with it.
    match serde_json::from_slice::<ClientJsonRpcMessage>(bytes) {
        // Removed from the stateless protocol: "method not found" (404,
        // -32601) for a request that speaks it, as the spec requires,
        // rather than an answer or a complaint about its params.
        Ok(ClientJsonRpcMessage::Request(request))
            if REMOVED_IN_STATELESS.contains(&request.request.method())
                && speaks_stateless(&request.request) =>
        {
            let id = serde_json::to_value(&request.id).unwrap_or(Value::Null);
            Err(Box::new(removed(request.request.method(), id)))
        }
        Ok(ClientJsonRpcMessage::Request(request)) => match &request.request {
            // rmcp reads an MCP method whose params don't fit its schema as
            // an unknown custom method, and answers "method not found":
            // wrong about the method, silent about the params.
            ClientRequest::CustomRequest(custom)
                if MCP_METHODS.contains(&custom.method.as_str()) =>
            {
                let id = serde_json::to_value(&request.id).unwrap_or(Value::Null);
                Err(Box::new(invalid_params(
                    &custom.method,
                    custom.params.clone(),
                    id,
                )))
            }
            other => Ok(Some(RpcRequest {
                id: serde_json::to_value(&request.id).unwrap_or(Value::Null),
                tool: match other {
                    ClientRequest::CallToolRequest(call) => Some(call.params.name.to_string()),
                    _ => None,
                },
                lists_tools: matches!(other, ClientRequest::ListToolsRequest(_)),
            })),
        },
        // A client's answer to a server request is relayed to every edge
        // (`sessions::answers`), so it counts against the caller's limits
        // like a request does.
        Ok(ClientJsonRpcMessage::Response(response)) => Ok(Some(RpcRequest {
            id: serde_json::to_value(&response.id).unwrap_or(Value::Null),
            tool: None,
            lists_tools: false,
        })),
        Ok(ClientJsonRpcMessage::Error(error)) => Ok(Some(RpcRequest {
            id: serde_json::to_value(&error.id).unwrap_or(Value::Null),
            tool: None,
            lists_tools: false,
        })),
        Ok(_) => Ok(None),
        Err(e) => Err(Box::new(explain(bytes, &e))),
    }
}

/// The MCP request methods: a request naming one of these that rmcp could
/// not read as that method has malformed params.
const MCP_METHODS: &[&str] = &[
    "initialize",
    "ping",
    "server/discover",
    "tools/list",
    "tools/call",
    "resources/list",
    "resources/read",
    "resources/templates/list",
    "resources/subscribe",
    "resources/unsubscribe",
    "prompts/list",
    "prompts/get",
    "completion/complete",
    "logging/setLevel",
];

/// Methods of the session protocols that 2026-07-28 removed (`ping` is
/// refused by rmcp itself for a stateless request).
const REMOVED_IN_STATELESS: &[&str] = &[
    "initialize",
    "logging/setLevel",
    "resources/subscribe",
    "resources/unsubscribe",
];

/// The stateless protocol's version, as a request names it in `_meta`.
const STATELESS_VERSION: &str = "2026-07-28";

/// Whether the request's `params._meta` names the stateless protocol (or a
/// later one).
fn speaks_stateless(request: &ClientRequest) -> bool {
    // rmcp keeps `_meta` apart from the params, for custom requests too.
    let named = request.get_meta().protocol_version();
    named.is_some_and(|v| v.as_str() >= STATELESS_VERSION)
        || matches!(request, ClientRequest::CustomRequest(custom)
            if names_stateless(custom.params.as_ref()))
}

/// Whether raw `params._meta` names the stateless protocol (or a later one).
fn names_stateless(params: Option<&Value>) -> bool {
    params
        .and_then(|p| p.get("_meta"))
        .and_then(|m| m.get("io.modelcontextprotocol/protocolVersion"))
        .and_then(Value::as_str)
        .is_some_and(|v| v >= STATELESS_VERSION)
}

fn removed(method: &str, id: Value) -> Response {
    crate::error::jsonrpc_error(
        StatusCode::NOT_FOUND,
        -32601,
        id,
        &format!(
            "method not found: `{method}` is not part of MCP {STATELESS_VERSION}, which needs \
             no handshake or session; send the request itself with the protocol version in `_meta`"
        ),
    )
}

fn invalid_params(method: &str, params: Option<Value>, id: Value) -> Response {
    let params = params.unwrap_or(Value::Null);
    let detail = match method {
        "tools/call" if !params["name"].is_string() => {
            ": `params.name` must be the tool's name, a string".to_owned()
        }
        "tools/call"
            if params
                .get("arguments")
                .is_some_and(|a| !a.is_object() && !a.is_null()) =>
        {
            ": `params.arguments` must be an object".to_owned()
        }
        "tools/call" => serde_json::from_value::<CallToolRequestParams>(params)
            .err()
            .map(|e| format!(": {e}"))
            .unwrap_or_default(),
        "resources/read" if !params["uri"].is_string() => {
            ": `params.uri` must be the resource's URI, a string".to_owned()
        }
        "prompts/get" if !params["name"].is_string() => {
            ": `params.name` must be the prompt's name, a string".to_owned()
        }
        "prompts/get"
            if params
                .get("arguments")
                .is_some_and(|a| !a.is_object() && !a.is_null()) =>
        {
            ": `params.arguments` must be an object of strings".to_owned()
        }
        _ => String::new(),
    };
    reject(
        StatusCode::BAD_REQUEST,
        -32602,
        id,
        format!(
            "invalid params for `{method}`: they do not match the MCP schema of this method{detail}"
        ),
    )
}

/// Why rmcp cannot take `bytes`, as a JSON-RPC error response.
fn explain(bytes: &Bytes, error: &serde_json::Error) -> Response {
    let value: Value = match serde_json::from_slice(bytes) {
        Ok(value) => value,
        Err(e) => {
            return reject(
                StatusCode::BAD_REQUEST,
                -32700,
                Value::Null,
                format!("parse error: the body is not valid JSON ({e})"),
            );
        }
    };
    let Value::Object(object) = &value else {
        let what = if value.is_array() {
            "JSON-RPC batches are not supported by MCP; send one message per request"
        } else {
            "the body must be a JSON-RPC 2.0 object"
        };
        return reject(StatusCode::BAD_REQUEST, -32600, Value::Null, what.into());
    };
    let id = object.get("id").cloned().unwrap_or(Value::Null);
    if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return reject(
            StatusCode::BAD_REQUEST,
            -32600,
            id,
            "invalid request: `jsonrpc` must be \"2.0\"".into(),
        );
    }
    if let Some(method) = object.get("method").and_then(Value::as_str)
        && REMOVED_IN_STATELESS.contains(&method)
        && names_stateless(object.get("params"))
    {
        return removed(method, id);
    }
    let (code, message) = match object.get("method").and_then(Value::as_str) {
        // Both may hold caller text of any length: quoted short.
        Some(method) => (
            -32602,
            format!(
                "invalid params for `{}`: {}",
                short(method, 100),
                short(&error.to_string(), 300)
            ),
        ),
        None => (-32600, format!("invalid request: {error}")),
    };
    reject(StatusCode::BAD_REQUEST, code, id, message)
}

/// At most `max` characters of `text`.
fn short(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

fn reject(status: StatusCode, code: i32, id: Value, message: String) -> Response {
    crate::error::jsonrpc_error(status, code, id, &message)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn rejection(body: &str) -> Option<(StatusCode, Value)> {
        let response = check(&Bytes::from(body.to_owned())).err()?;
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        Some((status, serde_json::from_slice(&bytes).unwrap()))
    }

    #[tokio::test]
    async fn accepts_requests_notifications_and_responses() {
        for ok in [
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"some/custom","params":{}}"#,
            r#"{"jsonrpc":"2.0","id":1,"result":{}}"#,
        ] {
            assert!(rejection(ok).await.is_none(), "{ok}");
        }
    }

    #[tokio::test]
    async fn caller_text_is_quoted_short() {
        let method = "m".repeat(100_000);
        let body = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"{method}","params":5}}"#);
        let (_, answer) = rejection(&body).await.unwrap();
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.len() < 1_000, "{} bytes", message.len());
    }

    #[test]
    fn answers_count_against_the_limits_and_notifications_do_not() {
        let summary = |body: &str| check(&Bytes::from(body.to_owned())).ok().flatten();
        let answer = summary(r#"{"jsonrpc":"2.0","id":"s-1","result":{"action":"accept"}}"#);
        assert_eq!(answer.map(|a| a.id), Some(Value::from("s-1")));
        let refused = summary(r#"{"jsonrpc":"2.0","id":2,"error":{"code":-1,"message":"no"}}"#);
        assert_eq!(refused.map(|a| a.id), Some(Value::from(2)));
        assert!(summary(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).is_none());
    }

    #[tokio::test]
    async fn refuses_garbage_with_the_right_codes() {
        for (bad, code) in [
            ("", -32700),
            ("{", -32700),
            ("[]", -32600),
            ("42", -32600),
            (r#"{"id":1,"method":"tools/list"}"#, -32600),
            (r#"{"jsonrpc":"1.0","id":1,"method":"x"}"#, -32600),
            (
                r#"{"jsonrpc":"2.0","id":9,"result":{},"error":{"code":1,"message":"m"}}"#,
                -32600,
            ),
            (
                r#"{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":5}}"#,
                -32602,
            ),
            (r#"{"jsonrpc":"2.0","id":9,"method":"tools/call"}"#, -32602),
            (
                r#"{"jsonrpc":"2.0","id":9,"method":"logging/setLevel","params":{}}"#,
                -32602,
            ),
        ] {
            let (status, body) = rejection(bad)
                .await
                .unwrap_or_else(|| panic!("{bad} accepted"));
            assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
            assert_eq!(body["error"]["code"], code, "{bad}: {body}");
            assert_eq!(body["jsonrpc"], "2.0");
        }
        for (bad, field) in [
            (
                r#"{"jsonrpc":"2.0","id":9,"method":"resources/read","params":{"uri":5}}"#,
                "params.uri",
            ),
            (
                r#"{"jsonrpc":"2.0","id":9,"method":"prompts/get","params":{}}"#,
                "params.name",
            ),
            (
                r#"{"jsonrpc":"2.0","id":9,"method":"prompts/get","params":{"name":"p","arguments":[]}}"#,
                "params.arguments",
            ),
        ] {
            let (status, body) = rejection(bad).await.unwrap();
            assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
            assert_eq!(body["error"]["code"], -32602, "{bad}");
            let message = body["error"]["message"].as_str().unwrap();
            assert!(message.contains(field), "{bad}: {message}");
        }
        for method in REMOVED_IN_STATELESS {
            let bad = format!(
                r#"{{"jsonrpc":"2.0","id":"r","method":"{method}","params":{{"_meta":{{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}}}}"#
            );
            let (status, body) = rejection(&bad).await.unwrap();
            assert_eq!(status, StatusCode::NOT_FOUND, "{method}");
            assert_eq!(body["error"]["code"], -32601, "{method}");
            assert_eq!(body["id"], "r", "{method}");
        }
        // Well-formed too: a full `initialize` naming 2026-07-28 in `_meta`.
        let initialize = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2026-07-28","capabilities":{},"clientInfo":{"name":"c","version":"1"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}"#;
        assert_eq!(
            rejection(initialize).await.unwrap().0,
            StatusCode::NOT_FOUND
        );
        // And a 2025 initialize is served.
        let initialize = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}"#;
        assert!(rejection(initialize).await.is_none());
        let (_, body) = rejection(r#"{"jsonrpc":"1.0","id":9,"method":"tools/list"}"#)
            .await
            .unwrap();
        assert_eq!(body["id"], 9, "the error carries the request id");
    }
}
