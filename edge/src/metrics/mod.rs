//! The edge's series of `common::metrics`: handles resolved once, so that
//! the hot path increments an atomic rather than hashing label values, and
//! drop guards for what is open (sessions, SSE streams), so that a gauge
//! comes back down on every path that ends one.
//!
//! - [`register`]: every known label set created at zero when an edge state
//!   is built — dashboards and alerts read 0 from start-up, not "absent".
//! - `operation`: `mcp_server_operation_duration_seconds`, one observation
//!   per MCP request, labelled with bounded values only.
//! - `worker_call`: one call to a worker, from dispatch to its final event.
//!
//! No label ever holds a session id, a principal, a key or client text:
//! every value here is a `&'static str` from a fixed set.

mod operation;
mod worker_call;

use std::{
    sync::{Arc, LazyLock, OnceLock},
    time::Instant,
};

use common::metrics::{OTHER, get};
use prometheus::{IntCounter, IntGauge};

#[cfg(test)]
pub use operation::error_name as operation_error_name;
// The request's span names its error as the metric does (`crate::spans`).
pub use operation::{Method, Operation, Outcome, error_name, version_name};
pub use worker_call::WorkerCall;

/// Why the edge refused a request (`d365mcp_requests_refused_total{reason}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Missing, ambiguous or wrong credentials.
    Auth,
    /// The client's address failed authentication too often.
    AuthLimited,
    /// A foreign `Origin` or `Host`.
    Origin,
    /// A body that is not a well-formed MCP JSON-RPC message.
    Guard,
    /// A body over `D365MCP_MAX_BODY_BYTES`.
    BodySize,
    /// A rate limit of the caller, its tenant or the tool.
    RateLimit,
    /// The caller's (or its tenant's) most sessions or legacy streams.
    SessionCap,
    /// The accept loop's connection limit.
    Connections,
    /// `D365MCP_MAX_CALLS_IN_FLIGHT` calls already running.
    InFlight,
    /// The edge is draining for shutdown.
    Draining,
    /// The tenant policy does not allow the call.
    Policy,
}

impl Refusal {
    const ALL: [Self; 11] = [
        Self::Auth,
        Self::AuthLimited,
        Self::Origin,
        Self::Guard,
        Self::BodySize,
        Self::RateLimit,
        Self::SessionCap,
        Self::Connections,
        Self::InFlight,
        Self::Draining,
        Self::Policy,
    ];

    /// The label value.
    pub fn name(self) -> &'static str {
        match self {
            Self::Auth => "auth",
            Self::AuthLimited => "auth_limited",
            Self::Origin => "origin",
            Self::Guard => "guard",
            Self::BodySize => "body_size",
            Self::RateLimit => "rate_limit",
            Self::SessionCap => "session_cap",
            Self::Connections => "connections",
            Self::InFlight => "in_flight",
            Self::Draining => "draining",
            Self::Policy => "policy",
        }
    }
}

/// Which rate limit decided (`d365mcp_rate_limit_decisions_total{scope}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateScope {
    Principal,
    Tenant,
    Tool,
}

const RATE_SCOPES: [&str; 3] = ["principal", "tenant", "tool"];
const RATE_RESULTS: [&str; 2] = ["allowed", "limited"];

/// A session as `d365mcp_sessions_*{kind}` counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKind {
    /// A 2025 Streamable HTTP session (`Mcp-Session-Id`).
    Session,
    /// A legacy HTTP+SSE stream (`GET /sse`).
    Legacy,
}

const SESSION_KINDS: [&str; 2] = ["session", "legacy"];

/// Why a session's copy on this edge ended (`d365mcp_sessions_ended_total{reason}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// `DELETE` on this edge.
    Deleted,
    /// Its record was gone from the store: expired, or ended on another edge.
    Expired,
    /// Its stream or worker here stopped: the client went away, it idled out
    /// of this edge's memory (the session may be restored later), shutdown.
    Closed,
}

const END_REASONS: [&str; 3] = ["deleted", "expired", "closed"];

/// An SSE response body being written (`d365mcp_sse_streams_open{kind}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    /// The answer to one request of a 2025 session (or its resumption).
    Request,
    /// A 2025 session's standalone `GET` stream.
    Standalone,
    /// A legacy `GET /sse` stream.
    Legacy,
    /// A 2026-07-28 `subscriptions/listen` stream.
    Listen,
}

const STREAM_KINDS: [&str; 4] = ["request", "standalone", "legacy", "listen"];

/// What became of a legacy POST for a stream held elsewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relay {
    /// Published to the edge holding the stream.
    Delivered,
    /// No edge holds the stream any more.
    NoStream,
}

const RELAY_RESULTS: [&str; 2] = ["delivered", "no_stream"];

/// Every fixed series of the edge, resolved once.
struct Handles {
    refused: [IntCounter; Refusal::ALL.len()],
    rate_limit: [[IntCounter; 2]; 3],
    sessions_active: [IntGauge; 2],
    sessions_created: [IntCounter; 2],
    sessions_ended: [[IntCounter; 3]; 2],
    streams: [IntGauge; 4],
    relays: [IntCounter; 2],
    /// `healthy`, `unhealthy`.
    workers: [IntGauge; 2],
}

static HANDLES: LazyLock<Handles> = LazyLock::new(|| {
    let edge = &get().edge;
    Handles {
        refused: Refusal::ALL.map(|r| edge.refused.with_label_values(&[r.name()])),
        rate_limit: RATE_SCOPES.map(|scope| {
            RATE_RESULTS.map(|result| {
                edge.rate_limit_decisions
                    .with_label_values(&[scope, result])
            })
        }),
        sessions_active: SESSION_KINDS.map(|kind| edge.sessions_active.with_label_values(&[kind])),
        sessions_created: SESSION_KINDS
            .map(|kind| edge.sessions_created.with_label_values(&[kind])),
        sessions_ended: SESSION_KINDS.map(|kind| {
            END_REASONS.map(|reason| edge.sessions_ended.with_label_values(&[kind, reason]))
        }),
        streams: STREAM_KINDS.map(|kind| edge.sse_streams_open.with_label_values(&[kind])),
        relays: RELAY_RESULTS.map(|result| edge.legacy_relays.with_label_values(&[result])),
        workers: ["healthy", "unhealthy"].map(|state| edge.workers.with_label_values(&[state])),
    }
});

/// Creates every known series of the edge at zero (idempotent). The
/// histograms get one likely label set each, which shows the family.
pub fn register() {
    LazyLock::force(&HANDLES);
    operation::register();
    worker_call::register();
    let families = get();
    families.edge.calls_in_flight.add(0);
    for version in ["2024-11-05", "2025-11-25"] {
        families.mcp.session_duration.with_label_values(&[version]);
    }
}

/// Counts a refused request.
pub fn refused(reason: Refusal) {
    HANDLES.refused[reason as usize].inc();
}

/// Counts one rate-limit decision.
pub fn rate_limit(scope: RateScope, allowed: bool) {
    HANDLES.rate_limit[scope as usize][usize::from(!allowed)].inc();
}

/// Counts a legacy relay.
pub fn relay(result: Relay) {
    HANDLES.relays[result as usize].inc();
}

/// Counts a new session (not a copy restored from the store).
pub fn session_created(kind: SessionKind) {
    HANDLES.sessions_created[kind as usize].inc();
}

/// Sets the workers in this edge's ring.
pub fn workers(healthy: usize, unhealthy: usize) {
    let gauge = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
    HANDLES.workers[0].set(gauge(healthy));
    HANDLES.workers[1].set(gauge(unhealthy));
}

/// One healthy worker of the ring found unreachable by a call.
pub fn worker_lost() {
    HANDLES.workers[0].dec();
    HANDLES.workers[1].inc();
}

/// The gauge of tool calls running on this edge.
pub fn calls_in_flight() -> &'static IntGauge {
    &get().edge.calls_in_flight
}

/// The protocol version of a session, learnt after it opened (a legacy
/// stream's `initialize` arrives after the stream does).
pub type SharedVersion = Arc<OnceLock<&'static str>>;

/// A session held open on this edge: counted active while it lives; when it
/// drops, counted ended (with the reason set last) and its duration observed.
#[must_use = "the session counts as active while this lives"]
pub struct SessionOpen {
    kind: SessionKind,
    started: Instant,
    version: SharedVersion,
    reason: EndReason,
}

impl SessionOpen {
    /// A session of `kind` opening now, speaking `version` once known.
    pub fn new(kind: SessionKind, version: SharedVersion) -> Self {
        HANDLES.sessions_active[kind as usize].inc();
        Self {
            kind,
            started: Instant::now(),
            version,
            reason: EndReason::Closed,
        }
    }

    /// Notes its version, once known (the first note wins).
    pub fn set_version(&self, version: &'static str) {
        let _ = self.version.set(version);
    }

    /// Why it ends, when it is not just closed.
    pub fn ends_as(&mut self, reason: EndReason) {
        self.reason = reason;
    }
}

impl Drop for SessionOpen {
    fn drop(&mut self) {
        let kind = self.kind as usize;
        HANDLES.sessions_active[kind].dec();
        HANDLES.sessions_ended[kind][self.reason as usize].inc();
        let version = self.version.get().copied().unwrap_or(OTHER);
        get()
            .mcp
            .session_duration
            .with_label_values(&[version])
            .observe(self.started.elapsed().as_secs_f64());
    }
}

/// An SSE response body being written; dropping it (the body ended or was
/// dropped with its connection) closes it.
#[must_use = "the stream counts as open while this lives"]
pub struct StreamOpen(StreamKind);

impl StreamOpen {
    /// Opens a stream of `kind`.
    pub fn new(kind: StreamKind) -> Self {
        HANDLES.streams[kind as usize].inc();
        Self(kind)
    }
}

impl Drop for StreamOpen {
    fn drop(&mut self) {
        HANDLES.streams[self.0 as usize].dec();
    }
}

/// `stream` counted as an open SSE stream of `kind` until it ends or drops.
pub fn counted<S: futures::Stream>(
    kind: StreamKind,
    stream: S,
) -> impl futures::Stream<Item = S::Item> {
    let open = StreamOpen::new(kind);
    futures::StreamExt::map(stream, move |item| {
        let _open = &open;
        item
    })
}
