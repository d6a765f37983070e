//! Every metric family a node exports, registered once per process.
//!
//! Names follow the OpenTelemetry MCP semantic conventions where they define
//! one (`mcp_server_*`, with their attribute names as labels and their
//! bucket boundaries), and carry the `d365mcp_` prefix otherwise. Labels are
//! bounded: tool names come from the catalogue (anything else is
//! [`OTHER`]), environments and tenants from configuration, methods and
//! reasons from the code. No session id, record key or principal is ever a
//! label.

use prometheus::{Gauge, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Registry};

/// The label value of anything outside a bounded set (an unknown tool or
/// method), as the semantic conventions name it.
pub const OTHER: &str = "_OTHER";

/// Bucket boundaries of `mcp.server.operation.duration` in the MCP semantic
/// conventions, in seconds; used for every call-sized duration.
pub const MCP_DURATION_BUCKETS: [f64; 14] = [
    0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

/// Bucket boundaries of one request to D365FO, in seconds.
pub const UPSTREAM_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];

/// Bucket boundaries of one shared-store operation, in seconds.
pub const STORE_BUCKETS: [f64; 12] = [
    0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
];

/// Bucket boundaries of one edge→worker call (gRPC), in seconds.
pub const WORKER_CALL_BUCKETS: [f64; 15] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 30.0, 120.0,
];

/// The families of the MCP semantic conventions (edge).
pub struct Mcp {
    /// `mcp_server_operation_duration_seconds{mcp_method_name,
    /// gen_ai_tool_name, error_type, mcp_protocol_version}`: one MCP request
    /// as the edge handled it. `gen_ai_tool_name` is empty outside
    /// `tools/call`; `error_type` is empty on success, `tool_error` for a
    /// result with `isError`, else the JSON-RPC error's name.
    pub operation_duration: HistogramVec,
    /// `mcp_server_session_duration_seconds{mcp_protocol_version}`: how long
    /// a 2025 session or a legacy stream lived, recorded when it ends.
    pub session_duration: HistogramVec,
}

/// Tool calls as the worker ran them (what `d365fo_get_performance_stats`
/// aggregates).
pub struct Tools {
    /// `d365mcp_tool_calls_total{tool, tenant, environment, error_type}`;
    /// `error_type` is empty on success, else the error code's name.
    pub calls: IntCounterVec,
    /// `d365mcp_tool_call_duration_seconds{tool, environment}`.
    pub duration: HistogramVec,
}

/// Requests to D365FO (worker).
pub struct Upstream {
    /// `d365mcp_upstream_requests_total{environment, method, status}`;
    /// `status` is the HTTP status, or `timeout` / `connection` when none came.
    pub requests: IntCounterVec,
    /// `d365mcp_upstream_request_duration_seconds{environment, method}`.
    pub duration: HistogramVec,
    /// `d365mcp_upstream_throttled_total{environment}`: 429 answers.
    pub throttled: IntCounterVec,
    /// `d365mcp_upstream_throttle_windows_total{environment}`: throttle
    /// windows this node opened or learnt of from another node.
    pub throttle_windows: IntCounterVec,
    /// `d365mcp_upstream_throttle_window_open{environment}`: 1 while this
    /// node holds back requests to the environment, else 0.
    pub throttle_window_open: IntGaugeVec,
    /// `d365mcp_upstream_retries_total{environment, reason}`; `reason` is
    /// `throttled`, `unavailable`, `timeout`, `connection` or `auth`.
    pub retries: IntCounterVec,
    /// `d365mcp_upstream_outcome_unknown_total{environment}`: writes whose
    /// effect could not be known (see docs/RELIABILITY.md); which tools, is
    /// in `d365mcp_tool_calls_total{error_type="outcome_unknown"}`.
    pub outcome_unknown: IntCounterVec,
    /// `d365mcp_write_claims_total{result}`: keyed writes; `result` is
    /// `claimed`, `replayed`, `in_progress`, `conflict` or `refused`.
    pub write_claims: IntCounterVec,
    /// `d365mcp_breaker_open{environment}`: 1 while the circuit breaker
    /// refuses calls to the environment, else 0.
    pub breaker_open: IntGaugeVec,
    /// `d365mcp_breaker_transitions_total{environment, to}`; `to` is
    /// `open`, `half_open` or `closed`.
    pub breaker_transitions: IntCounterVec,
}

/// The metadata and label cache (worker).
pub struct Cache {
    /// `d365mcp_cache_requests_total{kind, layer, result}`; `layer` is `l1`
    /// or `l2`, `result` is `hit` or `miss`.
    pub requests: IntCounterVec,
    /// `d365mcp_cache_fills_total{kind}`: values fetched from D365FO and stored.
    pub fills: IntCounterVec,
    /// `d365mcp_cache_evictions_total{kind, layer}`.
    pub evictions: IntCounterVec,
}

/// The shared store (every node with one).
pub struct Store {
    /// `d365mcp_store_operation_duration_seconds{store, operation}`;
    /// `store` is `regional` (`D365MCP_REDIS_URL`) or `global`
    /// (`D365MCP_GLOBAL_REDIS_URL`, a worker's write claims and throttle
    /// windows across regions).
    pub duration: HistogramVec,
    /// `d365mcp_store_errors_total{store, operation, kind}`; `kind` is
    /// `unavailable` or `protocol`.
    pub errors: IntCounterVec,
    /// `d365mcp_store_up{store}`: 1 while the last operation reached the
    /// store.
    pub up: IntGaugeVec,
}

/// The edge's own view.
pub struct Edge {
    /// `d365mcp_rate_limit_decisions_total{scope, result}`; `scope` is
    /// `principal`, `tenant` or `tool`, `result` `allowed` or `limited`.
    pub rate_limit_decisions: IntCounterVec,
    /// `d365mcp_sessions_active{kind}`: sessions this edge holds open;
    /// `kind` is `session` (2025) or `legacy` (HTTP+SSE).
    pub sessions_active: IntGaugeVec,
    /// `d365mcp_sessions_created_total{kind}`.
    pub sessions_created: IntCounterVec,
    /// `d365mcp_sessions_ended_total{kind, reason}`; `reason` is `deleted`,
    /// `expired` or `closed`.
    pub sessions_ended: IntCounterVec,
    /// `d365mcp_sse_streams_open{kind}`: SSE responses this edge is
    /// writing; `kind` is `request`, `standalone`, `legacy` or `listen`.
    pub sse_streams_open: IntGaugeVec,
    /// `d365mcp_legacy_relays_total{result}`: legacy POSTs handed to the
    /// edge holding the stream; `result` is `delivered` or `no_stream`.
    pub legacy_relays: IntCounterVec,
    /// `d365mcp_requests_refused_total{reason}`; `reason` is `auth`,
    /// `auth_limited`, `origin`, `guard`, `body_size`, `rate_limit`,
    /// `session_cap`, `connections`, `in_flight`, `draining` or `policy`.
    pub refused: IntCounterVec,
    /// `d365mcp_calls_in_flight`: tool calls running on this edge.
    pub calls_in_flight: IntGauge,
    /// `d365mcp_worker_call_duration_seconds{result}`: one call to a worker
    /// over gRPC (or in process), from dispatch to its final event;
    /// `result` is `ok` or the error code's name.
    pub worker_call_duration: HistogramVec,
    /// `d365mcp_workers{state}`: workers in this edge's ring; `state` is
    /// `healthy` or `unhealthy`.
    pub workers: IntGaugeVec,
}

/// The node itself.
pub struct Node {
    /// `d365mcp_build_info{version, commit, role}`: always 1.
    pub build_info: IntGaugeVec,
    /// `d365mcp_metrics_publish_failures_total`: snapshots this node could
    /// not publish to the shared store.
    pub publish_failures: IntCounter,
    /// `d365mcp_uptime_seconds`: seconds since the process started.
    pub uptime: Gauge,
}

/// All families of this process, registered in [`Families::registry`]
/// (built in `register.rs`).
pub struct Families {
    /// Where every family below is registered.
    pub registry: Registry,
    /// MCP semantic conventions.
    pub mcp: Mcp,
    /// Tool calls on the worker.
    pub tools: Tools,
    /// D365FO requests.
    pub upstream: Upstream,
    /// The metadata and label cache.
    pub cache: Cache,
    /// The shared store.
    pub store: Store,
    /// The edge.
    pub edge: Edge,
    /// The node.
    pub node: Node,
}
