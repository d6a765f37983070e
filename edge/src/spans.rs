//! The span of an MCP request the edge serves, named and attributed after
//! the OpenTelemetry MCP semantic conventions, and the trace it continues.
//!
//! Span name `{mcp.method.name} {target}` (the tool or prompt name, cut to
//! [`TARGET_CHARS`]; the method alone without one); attributes
//! `mcp.method.name`, `mcp.protocol.version`, `mcp.session.id` (in a
//! session), `jsonrpc.request.id`, `gen_ai.tool.name` or
//! `gen_ai.prompt.name`, `mcp.resource.uri`, and `error.type` when the
//! request fails (`tool_error` for a result with `isError`). For the logs,
//! the same span carries the caller's `principal` and `tenant`, and a tool
//! call's `environment` (as its arguments name it; none is the default)
//! and worker `request_id` once known, so that every line written during
//! the request names them. Client text is clipped
//! (`common::clip`) before it reaches a span.
//!
//! The trace context comes from the request's `params._meta` (`traceparent`,
//! `tracestate`: reserved keys in 2026-07-28, and sent by some 2025
//! clients), else from the HTTP `traceparent`/`tracestate` headers; an
//! invalid one is ignored and a new trace starts. The span gets its own
//! span id ([`common::trace::start`]), and a tool call passes it on to the
//! worker (`dispatch::worker_request` reads [`common::trace::current`]).

use common::{
    clip::{clip, clip_to},
    trace::{Incoming, SpanContext, TRACEPARENT, TRACESTATE},
};
use rmcp::{ErrorData, RoleServer, service::RequestContext};
use tracing::{Span, field::Empty};

use crate::{
    auth::Principal,
    metrics::{Method, Outcome, error_name},
};

/// Characters of a tool or prompt name kept in a span name.
pub const TARGET_CHARS: usize = 64;

/// What a request is about, beside its method.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// A `tools/call`'s tool, and the environment its arguments name.
    Tool(&'a str, Option<&'a str>),
    /// A `prompts/get`'s prompt.
    Prompt(&'a str),
    /// A `resources/read`'s URI: an attribute only, never in the span name
    /// (unbounded, and may name a record).
    Resource(&'a str),
}

/// The span of a `method` request of `context` about `target`, and the
/// trace context it continues (to run the request in, with
/// [`common::trace::scope`]).
pub fn start(
    method: Method,
    target: Target<'_>,
    context: &RequestContext<RoleServer>,
) -> (Span, SpanContext) {
    let method_name = method.name();
    let (name, tool, prompt, uri) = match target {
        Target::Tool(tool, _) => {
            let tool = clip_to(tool, TARGET_CHARS);
            (format!("{method_name} {tool}"), Some(tool), None, None)
        }
        Target::Prompt(prompt) => {
            let prompt = clip_to(prompt, TARGET_CHARS);
            (format!("{method_name} {prompt}"), None, Some(prompt), None)
        }
        Target::Resource(uri) => (method_name.to_owned(), None, None, Some(clip(uri))),
    };
    let environment = match target {
        Target::Tool(_, Some(environment)) if !environment.trim().is_empty() => {
            Some(clip(environment.trim()))
        }
        _ => None,
    };
    let parts = context.extensions.get::<http::request::Parts>();
    let caller = Principal::of(parts);
    let session = crate::listen::conversation_of(&context.extensions).map(|c| match c {
        crate::listen::Conversation::Session(id) | crate::listen::Conversation::Legacy(id) => id,
    });
    let id = context.id.clone().into_json_value();
    let planned = common::trace::plan(Some(&incoming(context)));
    let span = tracing::info_span!(
        // The request's own trace, not that of whatever task rmcp runs it on.
        parent: None,
        "mcp",
        otel.name = %name,
        otel.kind = "server",
        mcp.method.name = method_name,
        mcp.protocol.version = protocol_version(context),
        mcp.session.id = session.as_deref().map(|s| tracing::field::display(clip(s))),
        jsonrpc.request.id = %clip(&id.to_string()),
        gen_ai.operation.name = tool.map(|_| "execute_tool"),
        gen_ai.tool.name = tool.map(tracing::field::display),
        gen_ai.prompt.name = prompt.map(tracing::field::display),
        mcp.resource.uri = uri.map(tracing::field::display),
        principal = %clip(&caller.subject),
        tenant = %clip(&caller.tenant),
        environment = environment.map(tracing::field::display),
        request_id = Empty,
        trace_id = %planned.trace_id(),
        span_id = %planned.span_id(),
        error.type = Empty,
        otel.status_code = Empty,
    );
    let trace = common::trace::start(&span, planned);
    (span, trace)
}

/// The trace context a request carries: its `_meta`'s, else its HTTP
/// headers'.
pub fn incoming(context: &RequestContext<RoleServer>) -> Incoming {
    Incoming::from_values(
        context.meta.get_traceparent(),
        context.meta.get_tracestate(),
    )
    .or_else(|| {
        let Some(parts) = context.extensions.get::<http::request::Parts>() else {
            return Incoming::default();
        };
        let header = |name| parts.headers.get(name).and_then(|v| v.to_str().ok());
        Incoming::from_values(header(TRACEPARENT), header(TRACESTATE))
    })
}

/// The protocol version the request speaks, as a bounded name: its
/// `_meta`'s (2026-07-28), else its `MCP-Protocol-Version` header's, else
/// its session's.
fn protocol_version(context: &RequestContext<RoleServer>) -> &'static str {
    if let Some(declared) = context.meta.get("io.modelcontextprotocol/protocolVersion") {
        return crate::metrics::version_name(declared.as_str());
    }
    let header = context
        .extensions
        .get::<http::request::Parts>()
        .and_then(|parts| parts.headers.get("mcp-protocol-version"))
        .and_then(|v| v.to_str().ok());
    if let Some(header) = header {
        return crate::metrics::version_name(Some(header));
    }
    let session = context.peer.peer_info();
    crate::metrics::version_name(session.as_ref().map(|info| info.protocol_version.as_str()))
}

/// Records on `span` how the request ended: `error.type` (and an error
/// status) when it failed.
pub fn finish<T: Outcome>(span: &Span, result: &Result<T, ErrorData>) {
    let error = match result {
        Ok(value) if value.is_tool_error() => "tool_error",
        Ok(_) => return,
        Err(error) => error_name(error),
    };
    span.record("error.type", error);
    span.record("otel.status_code", "ERROR");
}

/// Records a tool call's worker request id on the current span (the
/// request's, when called inside it). One field recorded: each costs a
/// JSON log layer a re-encoding of the span's fields.
pub fn record_call(request_id: &str) {
    Span::current().record("request_id", request_id);
}
