//! `tools/list` without serializing the catalogue for every request.
//!
//! The catalogue never changes while an edge runs, but its listing is about
//! 45 KB of JSON (23 tools with their input and output schemas), and rmcp
//! serializes a handler's result afresh for every request: under a
//! `tools/list` load that serialization took over a third of an edge's CPU
//! (perf, loadtest/bench). So the tools are serialized once ([`tools_json`])
//! and spliced into rmcp's answer:
//!
//! 1. [`splice`], a middleware in front of rmcp, marks a stateless
//!    (`2026-07-28`) `tools/list` with [`Splice`];
//! 2. the handler, seeing the mark and no cursor, answers the listing
//!    with no tools and a marker in `_meta` ([`placeholder`]). Everything
//!    else rmcp does — the protocol checks, the id, the result's other
//!    fields, the status and headers — happens as for any request;
//! 3. on the way out, [`splice`] finds the marker in rmcp's JSON answer,
//!    drops it and puts the serialized tools in the place of the empty list.
//!
//! A key the tenant policy limits gets the same treatment with its own
//! listing, serialized once per distinct set of tools ([`placeholder`]
//! names it by index in the marker).
//!
//! Anything else passes untouched, and an answer without the marker is
//! returned as rmcp made it, so a request the splice does not understand
//! gets rmcp's full answer. 2025 sessions are not marked: their replies are
//! SSE events kept in the event store for resumption.

use std::sync::{Arc, OnceLock};

use axum::{
    body::{Body, HttpBody as _},
    extract::Request,
    http::{HeaderValue, StatusCode, header},
    middleware::Next,
    response::Response,
};
use common::catalogue;
use rmcp::{
    RoleServer,
    model::{ListToolsResult, MetaObject, Tool},
    service::RequestContext,
};
use serde::Serialize;
use serde_json::{Map, Value, json, value::RawValue};

use crate::limits::RpcRequest;

/// The mark of a request whose tools are spliced in (a request extension).
#[derive(Debug, Clone, Copy)]
pub struct Splice;

/// The `_meta` key of the placeholder answer.
const MARKER: &str = "io.d365mcp/tools-spliced";

/// The protocol version whose requests are marked: the stateless one.
const STATELESS_VERSION: &str = "2026-07-28";

/// The largest answer read back for the marker; a placeholder is about
/// 150 bytes, a full listing tens of kilobytes.
const PLACEHOLDER_MAX: u64 = 4096;

/// The catalogue as MCP tools, in listing order: what `tools/list` answers
/// (here serialized once) and what `tools/call` looks a tool up in.
pub fn mcp_tools() -> &'static [Tool] {
    static TOOLS: std::sync::OnceLock<Vec<Tool>> = std::sync::OnceLock::new();
    TOOLS.get_or_init(|| catalogue::tools().iter().filter_map(to_mcp_tool).collect())
}

fn to_mcp_tool(spec: &catalogue::ToolSpec) -> Option<Tool> {
    let mut tool = json!({
        "name": spec.name,
        "title": spec.title,
        "description": spec.description,
        "inputSchema": spec.input_schema,
        "annotations": {
            "title": spec.title,
            "readOnlyHint": spec.effects.read_only,
            "destructiveHint": spec.effects.destructive,
            "idempotentHint": spec.effects.idempotent,
            "openWorldHint": spec.effects.open_world,
        }
    });
    if let Some(output) = &spec.output_schema {
        tool["outputSchema"] = output.clone();
    }
    match serde_json::from_value(tool) {
        Ok(tool) => Some(tool),
        Err(e) => {
            tracing::error!(tool = spec.name, error = %e, "catalogue entry is not a valid MCP tool");
            None
        }
    }
}

/// The catalogue's tools as JSON, serialized once.
fn tools_json() -> Option<&'static RawValue> {
    static TOOLS: OnceLock<Option<Box<RawValue>>> = OnceLock::new();
    TOOLS
        .get_or_init(|| serde_json::value::to_raw_value(mcp_tools()).ok())
        .as_deref()
}

/// Most distinct tool sets the tenant policy gives keys whose listings are
/// kept serialized; past it a limited key's listing is serialized per request.
const MAX_LIMITED: usize = 1024;

/// The listings of keys the tenant policy limits, serialized once per
/// distinct set of tools; a placeholder names one by its index.
#[allow(clippy::type_complexity)]
fn limited() -> &'static parking_lot::RwLock<Vec<(Vec<&'static str>, Arc<RawValue>)>> {
    static LIMITED: OnceLock<parking_lot::RwLock<Vec<(Vec<&'static str>, Arc<RawValue>)>>> =
        OnceLock::new();
    LIMITED.get_or_init(Default::default)
}

/// The index of the listing of exactly the tools `names` (in catalogue
/// order), serialized on first use; `None` past [`MAX_LIMITED`].
fn limited_listing(names: &[&'static str]) -> Option<usize> {
    if let Some(at) = limited().read().iter().position(|(n, _)| n == names) {
        return Some(at);
    }
    let tools: Vec<&Tool> = mcp_tools()
        .iter()
        .filter(|t| names.contains(&t.name.as_ref()))
        .collect();
    let json: Arc<RawValue> = serde_json::value::to_raw_value(&tools).ok()?.into();
    let mut all = limited().write();
    if let Some(at) = all.iter().position(|(n, _)| n == names) {
        return Some(at);
    }
    if all.len() >= MAX_LIMITED {
        return None;
    }
    all.push((names.to_vec(), json));
    Some(all.len() - 1)
}

/// The answer with no tools and the marker, when `context`'s request was
/// marked by [`splice`]: the whole catalogue, or only the tools `allowed`
/// (a key the tenant policy limits).
pub fn placeholder(
    context: &RequestContext<RoleServer>,
    allowed: Option<&[&'static str]>,
) -> Option<ListToolsResult> {
    let marked = context
        .extensions
        .get::<http::request::Parts>()
        .is_some_and(|parts| parts.extensions.get::<Splice>().is_some());
    if !marked {
        return None;
    }
    let marker = match allowed {
        None => Value::Bool(true),
        Some(names) => Value::from(limited_listing(names)?),
    };
    let mut meta = Map::new();
    meta.insert(MARKER.to_owned(), marker);
    Some(ListToolsResult {
        meta: Some(MetaObject(meta)),
        ..ListToolsResult::with_all_items(Vec::new())
    })
}

/// Marks a stateless `tools/list` and splices the tools into its answer.
pub async fn splice(mut request: Request, next: Next) -> Response {
    let wanted = request
        .extensions()
        .get::<RpcRequest>()
        .is_some_and(|rpc| rpc.lists_tools)
        && request
            .headers()
            .get("mcp-protocol-version")
            .is_some_and(|v| v == STATELESS_VERSION)
        // rmcp answers in JSON only to a client that accepts it; an SSE
        // answer would carry the placeholder, so such a request is left alone.
        && request
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("application/json"))
        && tools_json().is_some();
    if !wanted {
        return next.run(request).await;
    }
    request.extensions_mut().insert(Splice);
    fill(next.run(request).await).await
}

/// rmcp's answer with the tools in place of the placeholder's empty list;
/// any other answer as it was.
async fn fill(response: Response) -> Response {
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let small = response
        .body()
        .size_hint()
        .exact()
        .is_some_and(|n| n <= PLACEHOLDER_MAX);
    if response.status() != StatusCode::OK || !is_json || !small {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let bytes = match axum::body::to_bytes(body, PLACEHOLDER_MAX as usize).await {
        Ok(bytes) => bytes,
        Err(e) => {
            // A body of known, small size that cannot be read: nothing
            // sensible is left to send.
            tracing::error!(error = %e, "tools/list: rmcp's answer could not be read");
            let failure = common::Failure::new(
                common::ErrorCode::Internal,
                "the tool list could not be read; retry, and report it if it persists",
            );
            // This layer sees only rmcp's answer, which could not be read,
            // so the request's id is not at hand: `null`, as JSON-RPC allows.
            return crate::error::refusal(&failure, serde_json::Value::Null);
        }
    };
    match filled(&bytes) {
        Some(body) => {
            parts.headers.remove(header::CONTENT_LENGTH);
            if let Ok(length) = HeaderValue::from_str(&body.len().to_string()) {
                parts.headers.insert(header::CONTENT_LENGTH, length);
            }
            Response::from_parts(parts, Body::from(body))
        }
        None => Response::from_parts(parts, Body::from(bytes)),
    }
}

/// The JSON-RPC message `bytes` with its tools filled in, when it is the
/// placeholder answer.
fn filled(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut message: Map<String, Value> = serde_json::from_slice(bytes).ok()?;
    let Some(Value::Object(mut result)) = message.remove("result") else {
        return None;
    };
    let Some(Value::Object(meta)) = result.get_mut("_meta") else {
        return None;
    };
    // `true`: the whole catalogue; a number: a limited key's listing.
    let limited_tools: Arc<RawValue>;
    let tools: &RawValue = match meta.remove(MARKER) {
        Some(Value::Bool(true)) => tools_json()?,
        Some(Value::Number(at)) => {
            let at = usize::try_from(at.as_u64()?).ok()?;
            limited_tools = Arc::clone(&limited().read().get(at)?.1);
            &limited_tools
        }
        _ => return None,
    };
    if meta.is_empty() {
        result.remove("_meta");
    }
    if result.remove("tools") != Some(Value::Array(Vec::new())) {
        return None;
    }
    #[derive(Serialize)]
    struct Message<'a> {
        #[serde(flatten)]
        message: &'a Map<String, Value>,
        result: Filled<'a>,
    }
    #[derive(Serialize)]
    struct Filled<'a> {
        #[serde(flatten)]
        rest: &'a Map<String, Value>,
        tools: &'a RawValue,
    }
    // Sized once: growing a 45 KB buffer by doubling copied it five times.
    let mut out = Vec::with_capacity(tools.get().len() + bytes.len());
    serde_json::to_writer(
        &mut out,
        &Message {
            message: &message,
            result: Filled {
                rest: &result,
                tools,
            },
        },
    )
    .ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_placeholder_answer_gets_the_tools_and_loses_the_marker() {
        let answer = br#"{"jsonrpc":"2.0","id":7,"result":{"resultType":"complete","_meta":{"io.d365mcp/tools-spliced":true},"tools":[]}}"#;
        let filled: Value = serde_json::from_slice(&filled(answer).unwrap()).unwrap();
        let tools = serde_json::to_value(mcp_tools()).unwrap();
        assert_eq!(
            filled,
            serde_json::json!({"jsonrpc": "2.0", "id": 7, "result": {"resultType": "complete", "tools": tools}})
        );
    }

    #[test]
    fn a_limited_key_gets_its_own_tools_spliced_in() {
        let names = [
            catalogue::names::QUERY_ENTITIES,
            catalogue::names::GET_LABEL,
        ];
        let at = limited_listing(&names).unwrap();
        assert_eq!(limited_listing(&names), Some(at), "made once");
        let answer = format!(
            r#"{{"jsonrpc":"2.0","id":7,"result":{{"_meta":{{"io.d365mcp/tools-spliced":{at}}},"tools":[]}}}}"#
        );
        let spliced: Value = serde_json::from_slice(&filled(answer.as_bytes()).unwrap()).unwrap();
        let listed: Vec<&str> = spliced["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        // In catalogue order, as the plain path lists them.
        let expected: Vec<&str> = mcp_tools()
            .iter()
            .map(|t| t.name.as_ref())
            .filter(|n| names.contains(n))
            .collect();
        assert_eq!(listed, expected);
        assert!(spliced["result"].get("_meta").is_none());
        let unknown = br#"{"jsonrpc":"2.0","id":7,"result":{"_meta":{"io.d365mcp/tools-spliced":99999},"tools":[]}}"#;
        assert_eq!(filled(unknown), None);
    }

    #[test]
    fn other_answers_are_left_alone() {
        for answer in [
            &br#"{"jsonrpc":"2.0","id":7,"result":{"tools":[]}}"#[..],
            br#"{"jsonrpc":"2.0","id":7,"result":{"_meta":{"io.d365mcp/tools-spliced":false},"tools":[]}}"#,
            br#"{"jsonrpc":"2.0","id":7,"result":{"_meta":{"io.d365mcp/tools-spliced":true},"tools":[{"name":"x"}]}}"#,
            br#"{"jsonrpc":"2.0","id":7,"error":{"code":1,"message":"no"}}"#,
            b"not json",
        ] {
            assert_eq!(filled(answer), None, "{}", String::from_utf8_lossy(answer));
        }
    }
}
