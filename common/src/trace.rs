//! W3C trace context (<https://www.w3.org/TR/trace-context/>) carried from
//! an MCP client through the edge and the worker to D365FO.
//!
//! A caller's `traceparent` and `tracestate` are outside input: one that is
//! not exactly version `00`, a 32-hex trace id and a 16-hex parent id (both
//! not all zero) and 2-hex flags is ignored — never an error to the client —
//! and a new trace starts. A `tracestate` longer than
//! [`MAX_TRACESTATE_BYTES`] or of more than [`MAX_TRACESTATE_MEMBERS`]
//! members, or with characters a header may not carry, is dropped.
//!
//! Each hop continues the trace on a span of its own: [`plan`] draws its
//! ids (same trace id, a new span id), which the span is made with as its
//! `trace_id` and `span_id` fields, so every log line inside it carries
//! them; [`start`] then gives the span its [`SpanContext`]. With OTLP export on (`telemetry`), the ids are those of the
//! exported OpenTelemetry span, so what is propagated is what a collector
//! sees; without it they are drawn here, which costs two random numbers.
//!
//! Within a worker, the call's context reaches the D365FO client through a
//! tokio task-local ([`scope`], [`current`]) rather than a parameter on
//! every tool function between them.

use std::{
    collections::HashMap,
    fmt,
    future::Future,
    sync::atomic::{AtomicBool, Ordering},
};

use opentelemetry::trace::{
    SpanContext as OtelSpanContext, TraceContextExt, TraceFlags, TraceState,
};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The header (and `_meta` key, and gRPC trace-context key) of the parent.
pub const TRACEPARENT: &str = "traceparent";
/// The header (and `_meta` key, and gRPC trace-context key) of vendor state.
pub const TRACESTATE: &str = "tracestate";
/// Longest `tracestate` kept (the W3C limit a receiver must accept).
pub const MAX_TRACESTATE_BYTES: usize = 512;
/// Most `tracestate` members kept (the W3C limit).
pub const MAX_TRACESTATE_MEMBERS: usize = 32;

/// The `sampled` flag: the caller may have recorded its span.
const SAMPLED: u8 = 0x01;

/// Whether spans are exported over OTLP (set once by `telemetry::init`).
static EXPORTING: AtomicBool = AtomicBool::new(false);

/// Says that spans are exported, so [`start`] takes ids from the exported
/// spans. For `telemetry::init` only.
pub(crate) fn set_exporting(on: bool) {
    EXPORTING.store(on, Ordering::Relaxed);
}

/// A 16-byte trace id, never all zero once parsed or drawn.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceId(u128);

/// An 8-byte span id, never all zero once parsed or drawn.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SpanId(u64);

impl TraceId {
    /// A new random trace id.
    pub fn random() -> Self {
        Self(rand::random::<u128>().max(1))
    }

    /// The id as a number (for tests and conversions).
    pub fn get(self) -> u128 {
        self.0
    }
}

impl SpanId {
    /// A new random span id.
    pub fn random() -> Self {
        Self(rand::random::<u64>().max(1))
    }

    /// The id as a number (for tests and conversions).
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A valid `traceparent`: whose span the next one is a child of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    /// The trace.
    pub trace_id: TraceId,
    /// The caller's span.
    pub parent_id: SpanId,
    /// Trace flags (bit 0: sampled).
    pub flags: u8,
}

impl TraceParent {
    /// Parses `00-{32 hex}-{16 hex}-{2 hex}` (lower-case hex, as W3C
    /// requires); anything else, all-zero ids included, is `None`.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim_matches([' ', '\t']);
        if text.len() != 55 || !text.is_ascii() {
            return None;
        }
        let (version, rest) = text.split_at(2);
        if version != "00" {
            return None;
        }
        let b = rest.as_bytes();
        if b[0] != b'-' || b[33] != b'-' || b[50] != b'-' {
            return None;
        }
        let trace_id = lower_hex(&rest[1..33]).and_then(|id| u128::from_str_radix(id, 16).ok())?;
        let parent_id = lower_hex(&rest[34..50]).and_then(|id| u64::from_str_radix(id, 16).ok())?;
        let flags = lower_hex(&rest[51..53]).and_then(|f| u8::from_str_radix(f, 16).ok())?;
        if trace_id == 0 || parent_id == 0 {
            return None;
        }
        Some(Self {
            trace_id: TraceId(trace_id),
            parent_id: SpanId(parent_id),
            flags,
        })
    }
}

/// `text` when it is all lower-case hex digits (`from_str_radix` also
/// takes upper case and a sign).
fn lower_hex(text: &str) -> Option<&str> {
    text.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        .then_some(text)
}

/// `text` as a `tracestate` worth passing on: at most
/// [`MAX_TRACESTATE_BYTES`] and [`MAX_TRACESTATE_MEMBERS`] members of
/// `key=value`, printable ASCII only (it becomes a header value); else
/// `None`. Empty members (`a=1,,b=2`) are allowed, as W3C allows them.
pub fn parse_tracestate(text: &str) -> Option<String> {
    let text = text.trim_matches([' ', '\t']);
    if text.is_empty() || text.len() > MAX_TRACESTATE_BYTES {
        return None;
    }
    if !text.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return None;
    }
    let mut members = 0;
    for member in text.split(',').map(|m| m.trim_matches([' ', '\t'])) {
        if member.is_empty() {
            continue;
        }
        let (key, value) = member.split_once('=')?;
        if key.is_empty() || value.is_empty() {
            return None;
        }
        members += 1;
        if members > MAX_TRACESTATE_MEMBERS {
            return None;
        }
    }
    (members > 0).then(|| text.to_owned())
}

/// The trace context a caller sent, once checked: what a span continues.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Incoming {
    /// The caller's span, when its `traceparent` was valid.
    pub parent: Option<TraceParent>,
    /// Its `tracestate`, kept only beside a valid parent (W3C).
    pub state: Option<String>,
}

impl Incoming {
    /// From one source's `traceparent` and `tracestate` values.
    pub fn from_values(traceparent: Option<&str>, tracestate: Option<&str>) -> Self {
        let parent = traceparent.and_then(TraceParent::parse);
        let state = parent.and(tracestate).and_then(parse_tracestate);
        Self { parent, state }
    }

    /// From a gRPC request's `trace_context` map.
    pub fn from_map(map: &HashMap<String, String>) -> Self {
        Self::from_values(
            map.get(TRACEPARENT).map(String::as_str),
            map.get(TRACESTATE).map(String::as_str),
        )
    }

    /// `self` when it holds a valid parent, else what `next` (the next
    /// source in order of preference) holds.
    pub fn or_else(self, next: impl FnOnce() -> Self) -> Self {
        if self.parent.is_some() { self } else { next() }
    }
}

/// The trace context of one span of this process: what it propagates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpanContext {
    /// The trace.
    pub trace_id: TraceId,
    /// This span.
    pub span_id: SpanId,
    /// Trace flags, as received (or sampled for a trace started here while
    /// exporting).
    pub flags: u8,
    /// The caller's `tracestate`, passed on unchanged.
    pub state: Option<String>,
}

impl SpanContext {
    /// A new span continuing `incoming`, or starting a trace when it has
    /// no parent, with ids drawn here.
    pub fn child_of(incoming: &Incoming) -> Self {
        let exporting = EXPORTING.load(Ordering::Relaxed);
        match incoming.parent {
            Some(parent) => Self {
                trace_id: parent.trace_id,
                span_id: SpanId::random(),
                flags: parent.flags,
                state: incoming.state.clone(),
            },
            None => Self {
                trace_id: TraceId::random(),
                span_id: SpanId::random(),
                flags: if exporting { SAMPLED } else { 0 },
                state: None,
            },
        }
    }

    /// What a child span of this one continues.
    pub fn as_incoming(&self) -> Incoming {
        Incoming {
            parent: Some(TraceParent {
                trace_id: self.trace_id,
                parent_id: self.span_id,
                flags: self.flags,
            }),
            state: self.state.clone(),
        }
    }

    /// The `traceparent` naming this span as the parent.
    pub fn traceparent(&self) -> String {
        format!("00-{}-{}-{:02x}", self.trace_id, self.span_id, self.flags)
    }

    /// The gRPC request's `trace_context` map for a call made in this span.
    pub fn to_map(&self) -> HashMap<String, String> {
        let mut map = HashMap::with_capacity(2);
        map.insert(TRACEPARENT.to_owned(), self.traceparent());
        if let Some(state) = &self.state {
            map.insert(TRACESTATE.to_owned(), state.clone());
        }
        map
    }
}

/// The trace context of a span about to be made: what [`start`] gives it
/// unless spans are exported. Its ids go into the span's `trace_id` and
/// `span_id` fields when the span is made, as recording a field afterwards
/// costs a JSON log layer a re-encoding of all of them.
#[derive(Debug, Clone)]
pub struct Planned {
    context: SpanContext,
    parent: Incoming,
    remote: bool,
}

impl Planned {
    /// The trace, for the span's `trace_id` field.
    pub fn trace_id(&self) -> TraceId {
        self.context.trace_id
    }

    /// The span's own id, for its `span_id` field.
    pub fn span_id(&self) -> SpanId {
        self.context.span_id
    }
}

/// Plans a span continuing `incoming` (what a caller in another process
/// sent), or, with `None`, a child of this task's [`current`] context (a
/// D365FO request inside a worker call).
pub fn plan(incoming: Option<&Incoming>) -> Planned {
    let (parent, remote) = match incoming {
        Some(incoming) => (incoming.clone(), true),
        None => (
            current().map(|c| c.as_incoming()).unwrap_or_default(),
            false,
        ),
    };
    Planned {
        context: SpanContext::child_of(&parent),
        parent,
        remote,
    }
}

/// Gives `span`, made with `planned`'s ids in its `trace_id` and `span_id`
/// fields, its trace context: the planned one, or with OTLP export on, the
/// exported span's (re-parented onto a remote caller's span), recorded
/// over the planned ids.
pub fn start(span: &tracing::Span, planned: Planned) -> SpanContext {
    if !exporting() || span.is_disabled() {
        return planned.context;
    }
    let Some(context) = exported(span, &planned.parent, planned.remote) else {
        return planned.context;
    };
    span.record("trace_id", tracing::field::display(context.trace_id));
    span.record("span_id", tracing::field::display(context.span_id));
    context
}

/// Whether spans are exported over OTLP: attributes only a collector reads
/// are worth recording then.
pub fn exporting() -> bool {
    EXPORTING.load(Ordering::Relaxed)
}

/// The ids of `span`'s exported OpenTelemetry span, parented onto a
/// `remote` caller's span (a local parent is the tracing parent already);
/// `None` when the span is not exported (filtered out).
fn exported(span: &tracing::Span, incoming: &Incoming, remote: bool) -> Option<SpanContext> {
    if let Some(parent) = incoming.parent.filter(|_| remote) {
        let state = incoming
            .state
            .as_deref()
            .and_then(|s| s.parse::<TraceState>().ok())
            .unwrap_or_default();
        let remote = OtelSpanContext::new(
            opentelemetry::trace::TraceId::from(parent.trace_id.0),
            opentelemetry::trace::SpanId::from(parent.parent_id.0),
            TraceFlags::new(parent.flags),
            true,
            state,
        );
        // Fails only once the span has started (it has not: it was just
        // made) or without the OpenTelemetry layer (then `context` below is
        // empty and the own-id path is taken).
        let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(remote));
    }
    let context = span.context();
    let otel = context.span().span_context().clone();
    if !otel.is_valid() {
        return None;
    }
    Some(SpanContext {
        trace_id: TraceId(u128::from_be_bytes(otel.trace_id().to_bytes())),
        span_id: SpanId(u64::from_be_bytes(otel.span_id().to_bytes())),
        flags: otel.trace_flags().to_u8(),
        state: incoming.state.clone(),
    })
}

tokio::task_local! {
    static CURRENT: SpanContext;
}

/// Runs `future` with `context` as the task's [`current`] trace context.
///
/// A plain function returning tokio's task-local future, not an `async fn`:
/// an `async fn` would keep `future` twice in its state (as its argument and
/// inside the task-local future it awaits), and a call's future is large and
/// copied whole when it is boxed (measured: the worker's per-call copies
/// were the cluster benchmark's largest cost of tracing).
pub fn scope<F: Future>(context: SpanContext, future: F) -> impl Future<Output = F::Output> {
    CURRENT.scope(context, future)
}

/// `future` with this task's current trace context (if any): for a task
/// spawned from this one, as a task-local does not cross `spawn`.
pub fn inherit<F: Future>(future: F) -> impl Future<Output = F::Output> {
    let context = current();
    async move {
        match context {
            Some(context) => CURRENT.scope(context, future).await,
            None => future.await,
        }
    }
}

/// The trace context [`scope`] set for this task, if any.
pub fn current() -> Option<SpanContext> {
    CURRENT.try_with(Clone::clone).ok()
}

#[cfg(test)]
#[path = "trace_tests.rs"]
mod tests;
