//! Which tool calls are resends of one another: the request id under which
//! the worker answers a resent write from its first attempt
//! (`worker::replay`, for ids starting with its keyed prefix `idem-`).
//!
//! - An explicit key, `_meta["io.d365mcp/idempotencyKey"]`, in every era and
//!   per caller. It always wins.
//! - A derived key, only for a call inside a session (2025 Streamable HTTP,
//!   legacy HTTP+SSE): MCP forbids a requestor to reuse a request id within
//!   a session, so there a `tools/call` with the same JSON-RPC id, tool and
//!   arguments is a resend of one request. The worker remembers it for the
//!   edge's retry window (`D365MCP_RETRY_WINDOW`), not a day.
//! - Never a derived key for a stateless (2026-07-28) call: nothing scopes
//!   its id, and two clients sharing an API key that both start their ids
//!   at 1 send identical calls that are not retries — suppressing one would
//!   lose a write.
//! - Reads get no key: sending one twice changes nothing.
//!
//! What the client controls (session id, JSON-RPC id, arguments) only ever
//! reaches the worker and the store hashed, in an id of fixed length.

use std::time::Duration;

use common::{ErrorCode, Failure, proto::CallToolRequest};
use rmcp::{
    RoleServer,
    model::{ProtocolVersion, RequestMetaObject},
    service::RequestContext,
};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::{auth::Principal, listen};

/// The `_meta` member in which a client names the idempotency key of a
/// write: every retry of the call with the same key (by the same caller) is
/// answered from the first attempt and never sent to D365FO again.
pub const IDEMPOTENCY_KEY: &str = "io.d365mcp/idempotencyKey";

/// Longest idempotency key accepted.
const MAX_IDEMPOTENCY_KEY: usize = 200;

/// Prefix of the request ids of explicit keys: the worker's keyed prefix.
const EXPLICIT: &str = "idem-";

/// Prefix of the request ids of derived keys: the worker's keyed prefix
/// too, but never an explicit key's id (those go on with a hex digit).
const DERIVED: &str = "idem-d-";

/// First part of what a derived key hashes, so that no explicit key's hash
/// input is ever a derived one's.
const DERIVED_TAG: &str = "d365mcp/derived-retry-key/v1";

/// The session a call was made in, as its transport names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// A 2025 Streamable HTTP session (`Mcp-Session-Id`).
    Session(String),
    /// A legacy HTTP+SSE session (`/message?sessionId=`).
    Legacy(String),
}

/// One `tools/call`, as far as its resends are concerned.
pub struct Call<'a> {
    pub caller: &'a Principal,
    pub tool: &'a str,
    pub arguments: &'a Map<String, Value>,
    pub read_only: bool,
    /// `_meta["io.d365mcp/idempotencyKey"]`, when the client named one.
    pub explicit: Option<&'a Value>,
    /// The session it was made in; `None` for a stateless call.
    pub scope: Option<&'a Scope>,
    /// Its JSON-RPC id.
    pub jsonrpc_id: &'a Value,
}

/// How the worker is to recognise a call's resends.
#[derive(Debug, PartialEq, Eq)]
pub enum RetryKey {
    /// None: the call keeps its fresh request id.
    None,
    /// The client's own key; its record lives the worker's default.
    Explicit(String),
    /// Derived from the session's request; its record lives `window`.
    Derived {
        request_id: String,
        window: Duration,
    },
}

impl RetryKey {
    /// Gives `request` the id (and record life) of this key.
    pub fn apply(self, request: &mut CallToolRequest) {
        match self {
            Self::None => {}
            Self::Explicit(id) => request.request_id = id,
            Self::Derived { request_id, window } => {
                request.request_id = request_id;
                // At least 1 ms: 0 would mean the worker's default, a day.
                request.replay_ttl_ms =
                    u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1);
            }
        }
    }
}

/// The key of `call`'s resends, with derived keys remembered for `window`
/// (zero derives none). A malformed explicit key is refused.
pub fn retry_key(call: &Call<'_>, window: Duration) -> Result<RetryKey, Failure> {
    if call.read_only {
        return Ok(RetryKey::None);
    }
    if let Some(key) = call.explicit {
        return keyed_request_id(call.caller, key).map(RetryKey::Explicit);
    }
    match call.scope {
        Some(scope) if !window.is_zero() => Ok(RetryKey::Derived {
            request_id: derived_request_id(call, scope),
            window,
        }),
        _ => Ok(RetryKey::None),
    }
}

/// The request id of a write whose client named idempotency key `key`: the
/// same for every retry by `caller` with that key, and another caller's
/// same key gives another id.
pub fn keyed_request_id(caller: &Principal, key: &Value) -> Result<String, Failure> {
    let key = key.as_str().filter(|k| {
        (1..=MAX_IDEMPOTENCY_KEY).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic())
    });
    let Some(key) = key else {
        return Err(Failure::new(
            ErrorCode::InvalidArguments,
            format!(
                "`_meta[\"{IDEMPOTENCY_KEY}\"]` must be a string of 1 to \
                 {MAX_IDEMPOTENCY_KEY} visible ASCII characters, such as a UUID"
            ),
        ));
    };
    let mut hasher = Sha256::new();
    // A token's user is apart from a key of the same name; a key's ids are
    // as they always were (no issuer part).
    let issuer = (!caller.issuer.is_empty()).then_some(caller.issuer.as_str());
    let parts = [caller.tenant.as_str(), caller.subject.as_str()]
        .into_iter()
        .chain(issuer)
        .chain([key]);
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    Ok(format!("{EXPLICIT}{:x}", hasher.finalize()))
}

/// The request id of `call` made in `scope`: its caller, session, JSON-RPC
/// id, tool and arguments, each length-prefixed after a tag of its own.
fn derived_request_id(call: &Call<'_>, scope: &Scope) -> String {
    let (kind, session) = match scope {
        Scope::Session(id) => ("session", id.as_str()),
        Scope::Legacy(id) => ("legacy", id.as_str()),
    };
    let arguments = arguments_digest(call.arguments);
    let id = canonical(call.jsonrpc_id);
    let mut hasher = Sha256::new();
    for part in [
        DERIVED_TAG,
        call.caller.tenant.as_str(),
        call.caller.subject.as_str(),
        kind,
        session,
        id.as_str(),
        call.tool,
        arguments.as_str(),
    ] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    format!("{DERIVED}{:x}", hasher.finalize())
}

/// A digest of a call's arguments, the same however their members were
/// ordered (what a confirmation is bound to).
pub fn arguments_digest(arguments: &Map<String, Value>) -> String {
    let mut hasher = Sha256::new();
    hasher.update(canonical(&Value::Object(arguments.clone())));
    format!("{:x}", hasher.finalize())
}

/// `value` as JSON text with every object's members sorted by name, so the
/// same value gives the same text however its members were ordered.
fn canonical(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(members) => {
            let mut sorted: Vec<_> = members.iter().collect();
            sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (name, member)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(name.clone()).to_string());
                out.push(':');
                write_canonical(member, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// The session of `context`'s request, when it was served in one: a legacy
/// stream's, or a 2025 session's (`Mcp-Session-Id`, which the session gate
/// let through only for a live session of the caller). `None` for a
/// request rmcp serves statelessly — 2026-07-28 — even if it names a session.
pub fn scope_of(context: &RequestContext<RoleServer>) -> Option<Scope> {
    let named = context
        .extensions
        .get::<http::request::Parts>()?
        .headers
        .get("mcp-protocol-version")
        .and_then(|v| v.to_str().ok());
    match listen::conversation_of(&context.extensions)? {
        listen::Conversation::Legacy(id) => Some(Scope::Legacy(id)),
        listen::Conversation::Session(id) if !stateless(&context.meta, named) => {
            Some(Scope::Session(id.trim().to_owned()))
        }
        listen::Conversation::Session(_) => None,
    }
}

/// Whether rmcp serves a request with `meta` and the `MCP-Protocol-Version`
/// header `header` statelessly, as its routing decides: the 2026-07-28
/// per-request `_meta`, or a version (from `_meta`, else the header) past
/// the handshake. Errs towards stateless: a version it cannot read is too.
fn stateless(meta: &RequestMetaObject, header: Option<&str>) -> bool {
    let discover = meta
        .missing_required_keys(&ProtocolVersion::V_2026_07_28)
        .is_empty();
    let version = meta.protocol_version();
    let version = version.as_ref().map(ProtocolVersion::as_str).or(header);
    discover || version.is_some_and(|v| v >= ProtocolVersion::V_2026_07_28.as_str())
}

#[cfg(test)]
#[path = "retries_tests.rs"]
mod tests;
