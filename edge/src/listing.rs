//! `tools/list` without serializing the catalogue for every request.
//!
//! The catalogue never changes while an edge runs, but its listing is tens
//! of kilobytes of JSON (every tool with its schemas), and rmcp
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
//! Any other [`Listing`] — the default toolsets, a tenant's or a key's,
//! the tools a tenant policy allows, without output schemas — gets the same
//! treatment, serialized once per distinct listing ([`placeholder`] names
//! it by index in the marker).
//!
//! What a listing costs an agent is held to a budget: [`BUDGET_BYTES`] for
//! the default surface (its test fails beyond it; the printed sizes are
//! what docs/TOOLS.md reports).
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

/// Most bytes the default `tools/list` answer may take (issue 20: about 3k
/// tokens at 4 bytes a token), since every request an agent's model makes
/// carries it.
#[cfg(test)]
const BUDGET_BYTES: usize = 12 * 1024;

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

/// One catalogue entry as an MCP tool. Its annotations say only what
/// differs from the spec's defaults (`openWorldHint` true; destructive and
/// idempotent hints mean something only for a tool that is not read-only),
/// and not the title again: every byte is carried by every agent request.
fn to_mcp_tool(spec: &catalogue::ToolSpec) -> Option<Tool> {
    let effects = spec.effects;
    let mut annotations = json!({ "readOnlyHint": effects.read_only });
    if !effects.read_only {
        annotations["destructiveHint"] = effects.destructive.into();
        annotations["idempotentHint"] = effects.idempotent.into();
    }
    if !effects.open_world {
        annotations["openWorldHint"] = false.into();
    }
    let mut tool = json!({
        "name": spec.name,
        "title": spec.title,
        "description": spec.description,
        "inputSchema": spec.input_schema,
        "annotations": annotations,
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

/// What one caller is listed: the catalogue's tools `names` (in catalogue
/// order), with or without their output schemas. [`Listing::everything`]
/// is the whole catalogue with its schemas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    /// The tools shown; `None` for all of them.
    pub names: Option<Vec<&'static str>>,
    /// Whether each carries its `outputSchema`.
    pub output_schemas: bool,
}

impl Listing {
    /// The tools of the catalogue that `shown` keeps, with or without
    /// their output schemas.
    pub fn of(shown: impl Fn(&catalogue::ToolSpec) -> bool, output_schemas: bool) -> Self {
        let names: Vec<&'static str> = catalogue::tools()
            .iter()
            .filter(|spec| shown(spec))
            .map(|spec| spec.name)
            .collect();
        let all = names.len() == catalogue::tools().len();
        Self {
            names: (!all).then_some(names),
            output_schemas,
        }
    }

    fn everything(&self) -> bool {
        self.names.is_none() && self.output_schemas
    }

    /// The tools, as rmcp's plain path answers them.
    pub fn tools(&self) -> Vec<Tool> {
        mcp_tools()
            .iter()
            .filter(|t| {
                self.names
                    .as_ref()
                    .is_none_or(|names| names.contains(&t.name.as_ref()))
            })
            .map(|t| {
                let mut tool = t.clone();
                if !self.output_schemas {
                    tool.output_schema = None;
                }
                tool
            })
            .collect()
    }
}

/// Most distinct listings kept serialized; past it a listing is serialized
/// per request.
const MAX_LIMITED: usize = 1024;

/// The listings other than the whole catalogue (toolsets, tenant policies,
/// no output schemas), serialized once each; a placeholder names one by
/// its index.
#[allow(clippy::type_complexity)]
fn limited() -> &'static parking_lot::RwLock<Vec<(Listing, Arc<RawValue>)>> {
    static LIMITED: OnceLock<parking_lot::RwLock<Vec<(Listing, Arc<RawValue>)>>> = OnceLock::new();
    LIMITED.get_or_init(Default::default)
}

/// The index of `listing`, serialized on first use; `None` past
/// [`MAX_LIMITED`].
fn limited_listing(listing: &Listing) -> Option<usize> {
    if let Some(at) = limited().read().iter().position(|(l, _)| l == listing) {
        return Some(at);
    }
    let json: Arc<RawValue> = serde_json::value::to_raw_value(&listing.tools())
        .ok()?
        .into();
    let mut all = limited().write();
    if let Some(at) = all.iter().position(|(l, _)| l == listing) {
        return Some(at);
    }
    if all.len() >= MAX_LIMITED {
        return None;
    }
    all.push((listing.clone(), json));
    Some(all.len() - 1)
}

/// The answer with no tools and the marker, when `context`'s request was
/// marked by [`splice`]: the whole catalogue, or another `listing`.
pub fn placeholder(
    context: &RequestContext<RoleServer>,
    listing: &Listing,
) -> Option<ListToolsResult> {
    let marked = context
        .extensions
        .get::<http::request::Parts>()
        .is_some_and(|parts| parts.extensions.get::<Splice>().is_some());
    if !marked {
        return None;
    }
    let marker = if listing.everything() {
        Value::Bool(true)
    } else {
        Value::from(limited_listing(listing)?)
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

    /// The default surface: the default toolsets, no output schemas, a
    /// caller the policy lets call everything (the largest default
    /// listing), as the whole JSON-RPC answer a client receives.
    #[test]
    fn the_default_listing_fits_the_budget() {
        let config = common::config::EdgeConfig::local(([127, 0, 0, 1], 0).into());
        let listing = Listing::of(|spec| config.toolsets.lists(spec), config.output_schemas);
        let answer = serde_json::json!({
            "jsonrpc": "2.0", "id": 1,
            "result": {"resultType": "complete", "tools": listing.tools()}
        });
        let bytes = serde_json::to_vec(&answer).unwrap().len();
        for t in listing.tools() {
            eprintln!(
                "{} {} {}",
                t.name,
                serde_json::to_vec(&t).unwrap().len(),
                serde_json::to_string(&t.input_schema).unwrap()
            );
        }
        let all = Listing::of(|_| true, true);
        let everything = serde_json::to_vec(&all.tools()).unwrap().len();
        eprintln!(
            "default tools/list: {} tools, {bytes} bytes; every tool with output schemas: {} tools, {everything} bytes",
            listing.tools().len(),
            all.tools().len()
        );
        assert!(
            bytes <= BUDGET_BYTES,
            "the default tools/list is {bytes} bytes, over its budget of {BUDGET_BYTES}: \
             tighten descriptions or schemas, or move a tool out of the default toolsets"
        );
        // Ordered as the catalogue, whatever the listing (deterministic).
        let names: Vec<String> = listing.tools().iter().map(|t| t.name.to_string()).collect();
        let catalogue_order: Vec<String> = catalogue::tools()
            .iter()
            .filter(|s| config.toolsets.lists(s))
            .map(|s| s.name.to_owned())
            .collect();
        assert_eq!(names, catalogue_order);
    }

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
        let listing = Listing {
            names: Some(names.to_vec()),
            output_schemas: true,
        };
        let at = limited_listing(&listing).unwrap();
        assert_eq!(limited_listing(&listing.clone()), Some(at), "made once");
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
