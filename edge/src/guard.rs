//! Rejects a bad POST body before rmcp sees it, with a JSON-RPC error a
//! person can act on.
//!
//! rmcp answers a body it cannot parse with `415` and a plain-text message;
//! JSON-RPC says a body that is not JSON is a parse error and a malformed
//! one an invalid request,
//! and HTTP says both are `400`. The body is read once here (bounded by the
//! configured limit) and handed on unchanged.

use axum::{
    body::Body,
    extract::{Request, State},
    http::Method,
    middleware::Next,
    response::Response,
};
use common::{ErrorCode, Failure};
use rmcp::model::{CallToolRequestParams, ClientJsonRpcMessage, ClientRequest, GetMeta};
use serde_json::Value;

use crate::limits::RpcRequest;

#[cfg(test)]
use axum::body::Bytes;

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
            crate::metrics::refused(if too_large {
                crate::metrics::Refusal::BodySize
            } else {
                crate::metrics::Refusal::Guard
            });
            let failure = if too_large {
                too_large_failure("request body", limit)
            } else {
                Failure::new(
                    ErrorCode::InvalidRequest,
                    format!("could not read the request body: {e}"),
                )
            };
            return reject(failure, Value::Null).response();
        }
    };
    let (summary, opens_session) = match read(&bytes) {
        Ok(read) => read,
        Err(refused) => {
            crate::metrics::refused(crate::metrics::Refusal::Guard);
            return refused.response();
        }
    };
    let mut request = Request::from_parts(parts, Body::from(bytes));
    if opens_session {
        // Counted against the caller's session caps (`sessions::claim`).
        request
            .extensions_mut()
            .insert(crate::sessions::OpensSession);
    }
    let id = summary.as_ref().map_or(Value::Null, |s| s.id.clone());
    if let Some(summary) = summary {
        // What the rate limits need, so that they need no second parse.
        request.extensions_mut().insert(summary);
    }
    crate::refusals::rewrite(next.run(request).await, id).await
}

/// A `tools/call` read without the general parse of a client message: the
/// same fields, read with rmcp's own types, so what this takes rmcp takes
/// too (`guard_tests.rs` compares the two on well- and ill-formed calls).
/// The general parse tries each kind of message and each method in turn,
/// buffering the body and building an error for every miss: it was half the
/// guard's cost, and rmcp parses the body again anyway
/// (loadtest/bench/instructions.sh). `None` sends the body to the general
/// parse, which also says what is wrong with it.
fn tool_call(bytes: &[u8]) -> Option<RpcRequest> {
    #[derive(serde::Deserialize)]
    struct Envelope<'a> {
        // Read only to be checked: "2.0" and nothing else.
        #[serde(rename = "jsonrpc")]
        _jsonrpc: rmcp::model::JsonRpcVersion2_0,
        id: rmcp::model::RequestId,
        #[serde(borrow)]
        method: std::borrow::Cow<'a, str>,
        #[serde(borrow)]
        params: Option<&'a serde_json::value::RawValue>,
    }
    let envelope: Envelope = serde_json::from_slice(bytes).ok()?;
    if envelope.method != "tools/call" {
        return None;
    }
    let params: CallToolRequestParams = serde_json::from_str(envelope.params?.get()).ok()?;
    Some(RpcRequest {
        id: serde_json::to_value(&envelope.id).ok()?,
        tool: Some(params.name.into_owned()),
        lists_tools: false,
    })
}

/// What the rate limits need of a request or a client's answer (`None` for
/// a notification) and whether it opens a session, or why rmcp would refuse
/// the body. The common request, a tool call, is read alone first.
fn read(bytes: &[u8]) -> Result<(Option<RpcRequest>, bool), Refused> {
    if let Some(summary) = tool_call(bytes) {
        return Ok((Some(summary), false));
    }
    let message = serde_json::from_slice::<ClientJsonRpcMessage>(bytes);
    let opens_session = matches!(&message, Ok(ClientJsonRpcMessage::Request(r))
        if matches!(r.request, ClientRequest::InitializeRequest(_)));
    summarize(bytes, message.as_ref()).map(|summary| (summary, opens_session))
}

/// [`read`]'s summary, or the response that refuses the body.
#[cfg(test)]
fn check(bytes: &Bytes) -> Result<Option<RpcRequest>, Box<Response>> {
    read(bytes)
        .map(|(summary, _)| summary)
        .map_err(|refused| Box::new(refused.response()))
}

/// One message that arrived without HTTP (`crate::stdio`), checked as a
/// POST body is: the message rmcp will read, or the error to answer with.
pub(crate) fn screen(bytes: &[u8]) -> Result<ClientJsonRpcMessage, Refused> {
    let message = serde_json::from_slice::<ClientJsonRpcMessage>(bytes);
    summarize(bytes, message.as_ref())?;
    message.map_err(|e| explain(bytes, &e))
}

/// The failure of a message over `limit` bytes (`what`: "request body").
pub(crate) fn too_large_failure(what: &str, limit: usize) -> Failure {
    Failure::new(
        ErrorCode::PayloadTooLarge,
        format!("{what} exceeds the limit of {limit} bytes (D365MCP_MAX_BODY_BYTES)"),
    )
    .with_hint("send a smaller request, or raise D365MCP_MAX_BODY_BYTES")
}

/// Why a message is not handed to rmcp, and the request it answers.
pub(crate) struct Refused {
    /// What is wrong, with its code.
    pub failure: Failure,
    /// The request's id, `null` when it could not be read.
    pub id: Value,
}

impl Refused {
    /// The JSON-RPC error response: its body, without HTTP.
    pub(crate) fn body(&self) -> Value {
        serde_json::json!({ "jsonrpc": "2.0", "id": self.id, "error": self.failure.to_jsonrpc() })
    }

    fn response(self) -> Response {
        crate::error::refusal(&self.failure, self.id)
    }
}

/// [`check`] of a body already parsed as `message`.
fn summarize(
    bytes: &[u8],
    message: Result<&ClientJsonRpcMessage, &serde_json::Error>,
) -> Result<Option<RpcRequest>, Refused> {
    // The one parse every request pays; only a body rmcp would refuse is
    // looked at again, to say what is wrong with it.
    match message {
        // Removed from the stateless protocol: "method not found" (404,
        // method not found) for a request that speaks it, as the spec requires,
        // rather than an answer or a complaint about its params.
        Ok(ClientJsonRpcMessage::Request(request))
            if REMOVED_IN_STATELESS.contains(&request.request.method())
                && speaks_stateless(&request.request) =>
        {
            let id = serde_json::to_value(&request.id).unwrap_or(Value::Null);
            Err(removed(request.request.method(), id))
        }
        Ok(ClientJsonRpcMessage::Request(request)) => match &request.request {
            // rmcp reads an MCP method whose params don't fit its schema as
            // an unknown custom method, and answers "method not found":
            // wrong about the method, silent about the params.
            ClientRequest::CustomRequest(custom)
                if MCP_METHODS.contains(&custom.method.as_str()) =>
            {
                let id = serde_json::to_value(&request.id).unwrap_or(Value::Null);
                Err(invalid_params(&custom.method, custom.params.clone(), id))
            }
            // What a session keeps of its handshake is bounded: a large
            // `initialize` is refused before rmcp logs or stores it.
            ClientRequest::InitializeRequest(_) if bytes.len() > MAX_INITIALIZE_BYTES => {
                let id = serde_json::to_value(&request.id).unwrap_or(Value::Null);
                Err(reject(
                    Failure::new(
                        ErrorCode::InvalidRequest,
                        format!(
                            "invalid request: an `initialize` of {} bytes; at most \
                             {MAX_INITIALIZE_BYTES} are accepted",
                            bytes.len()
                        ),
                    )
                    .with_hint(
                        "send short clientInfo strings and only the capabilities the \
                         client has",
                    ),
                    id,
                ))
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
        Err(e) => Err(explain(bytes, e)),
    }
}

/// Largest `initialize` message accepted: a handshake is a few hundred
/// bytes; what a session keeps of it lives in the shared store for the
/// session's life.
pub const MAX_INITIALIZE_BYTES: usize = 16 * 1024;

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
    "skills/list",
    "skills/get",
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

fn removed(method: &str, id: Value) -> Refused {
    reject(
        Failure::new(
            ErrorCode::MethodNotFound,
            format!(
                "method not found: `{method}` is not part of MCP {STATELESS_VERSION}, which \
                 needs no handshake or session; send the request itself with the protocol \
                 version in `_meta`"
            ),
        ),
        id,
    )
}

fn invalid_params(method: &str, params: Option<Value>, id: Value) -> Refused {
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
        Failure::new(
            ErrorCode::InvalidArguments,
            format!(
                "invalid params for `{method}`: they do not match the MCP schema of this \
                 method{detail}"
            ),
        ),
        id,
    )
}

/// Why rmcp cannot take `bytes`, as a JSON-RPC error response.
fn explain(bytes: &[u8], error: &serde_json::Error) -> Refused {
    let value: Value = match serde_json::from_slice(bytes) {
        Ok(value) => value,
        Err(e) => {
            return reject(
                Failure::new(
                    ErrorCode::ParseError,
                    format!("parse error: the body is not valid JSON ({e})"),
                ),
                Value::Null,
            );
        }
    };
    let Value::Object(object) = &value else {
        let what = if value.is_array() {
            "JSON-RPC batches are not supported by MCP; send one message per request"
        } else {
            "the body must be a JSON-RPC 2.0 object"
        };
        return reject(Failure::new(ErrorCode::InvalidRequest, what), Value::Null);
    };
    let id = object.get("id").cloned().unwrap_or(Value::Null);
    if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return reject(
            Failure::new(
                ErrorCode::InvalidRequest,
                "invalid request: `jsonrpc` must be \"2.0\"",
            ),
            id,
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
            ErrorCode::InvalidArguments,
            format!(
                "invalid params for `{}`: {}",
                short(method, 100),
                short(&error.to_string(), 300)
            ),
        ),
        None => (
            ErrorCode::InvalidRequest,
            format!("invalid request: {error}"),
        ),
    };
    reject(Failure::new(code, message), id)
}

/// At most `max` characters of `text`.
fn short(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

fn reject(failure: Failure, id: Value) -> Refused {
    Refused { failure, id }
}

#[cfg(test)]
#[path = "guard_tests.rs"]
mod tests;
