//! Building every family of [`Families`] and registering it in the
//! process's registry: names, help texts and label names, in one place.

use prometheus::{
    Gauge, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry,
};

use super::families::{
    Cache, Edge, Families, MCP_DURATION_BUCKETS, Mcp, Node, STORE_BUCKETS, Store, Tools,
    UPSTREAM_BUCKETS, Upstream, WORKER_CALL_BUCKETS,
};

/// Creates and registers a family; a name clash is a bug in this file,
/// caught by the unit test that builds every family.
macro_rules! family {
    ($registry:expr, $kind:ident, $opts:expr) => {{
        let family = match $kind::with_opts($opts) {
            Ok(family) => family,
            Err(e) => panic!("metric family definition: {e}"),
        };
        if let Err(e) = $registry.register(Box::new(family.clone())) {
            panic!("metric family registration: {e}");
        }
        family
    }};
    ($registry:expr, $kind:ident, $opts:expr, $labels:expr) => {{
        let family = match $kind::new($opts, $labels) {
            Ok(family) => family,
            Err(e) => panic!("metric family definition: {e}"),
        };
        if let Err(e) = $registry.register(Box::new(family.clone())) {
            panic!("metric family registration: {e}");
        }
        family
    }};
}

fn opts(name: &str, help: &str) -> Opts {
    Opts::new(name, help)
}

fn histogram(name: &str, help: &str, buckets: &[f64]) -> HistogramOpts {
    HistogramOpts::new(name, help).buckets(buckets.to_vec())
}

impl Families {
    /// Builds and registers every family. Panics only on a definition error
    /// in this file (a duplicate or invalid name), never on input.
    #[allow(clippy::too_many_lines)]
    pub(super) fn new() -> Self {
        let r = Registry::new();
        let mcp = Mcp {
            operation_duration: family!(
                r,
                HistogramVec,
                histogram(
                    "mcp_server_operation_duration_seconds",
                    "MCP request duration as the server observed it (OpenTelemetry MCP semantic conventions)",
                    &MCP_DURATION_BUCKETS
                ),
                &[
                    "mcp_method_name",
                    "gen_ai_tool_name",
                    "error_type",
                    "mcp_protocol_version"
                ]
            ),
            session_duration: family!(
                r,
                HistogramVec,
                histogram(
                    "mcp_server_session_duration_seconds",
                    "MCP session duration (OpenTelemetry MCP semantic conventions)",
                    &[
                        1.0, 10.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 14400.0, 86400.0
                    ]
                ),
                &["mcp_protocol_version"]
            ),
        };
        let tools = Tools {
            calls: family!(
                r,
                IntCounterVec,
                opts("d365mcp_tool_calls_total", "Tool calls run by this worker"),
                &["tool", "tenant", "environment", "error_type"]
            ),
            duration: family!(
                r,
                HistogramVec,
                histogram(
                    "d365mcp_tool_call_duration_seconds",
                    "Tool call duration on the worker",
                    &MCP_DURATION_BUCKETS
                ),
                &["tool", "environment"]
            ),
        };
        let upstream = Upstream {
            requests: family!(
                r,
                IntCounterVec,
                opts("d365mcp_upstream_requests_total", "HTTP requests to D365FO"),
                &["environment", "method", "status"]
            ),
            duration: family!(
                r,
                HistogramVec,
                histogram(
                    "d365mcp_upstream_request_duration_seconds",
                    "Duration of one HTTP request to D365FO",
                    &UPSTREAM_BUCKETS
                ),
                &["environment", "method"]
            ),
            throttled: family!(
                r,
                IntCounterVec,
                opts(
                    "d365mcp_upstream_throttled_total",
                    "429 answers from D365FO"
                ),
                &["environment"]
            ),
            throttle_windows: family!(
                r,
                IntCounterVec,
                opts(
                    "d365mcp_upstream_throttle_windows_total",
                    "Throttle windows opened or learnt of"
                ),
                &["environment"]
            ),
            throttle_window_open: family!(
                r,
                IntGaugeVec,
                opts(
                    "d365mcp_upstream_throttle_window_open",
                    "1 while requests to the environment are held back"
                ),
                &["environment"]
            ),
            retries: family!(
                r,
                IntCounterVec,
                opts(
                    "d365mcp_upstream_retries_total",
                    "Requests to D365FO sent again"
                ),
                &["environment", "reason"]
            ),
            outcome_unknown: family!(
                r,
                IntCounterVec,
                opts(
                    "d365mcp_upstream_outcome_unknown_total",
                    "Writes whose effect on D365FO could not be known"
                ),
                &["environment"]
            ),
            write_claims: family!(
                r,
                IntCounterVec,
                opts(
                    "d365mcp_write_claims_total",
                    "Keyed write attempts by outcome"
                ),
                &["result"]
            ),
            breaker_open: family!(
                r,
                IntGaugeVec,
                opts(
                    "d365mcp_breaker_open",
                    "1 while the circuit breaker refuses calls to the environment"
                ),
                &["environment"]
            ),
            breaker_transitions: family!(
                r,
                IntCounterVec,
                opts(
                    "d365mcp_breaker_transitions_total",
                    "Circuit breaker state changes"
                ),
                &["environment", "to"]
            ),
        };
        let cache = Cache {
            requests: family!(
                r,
                IntCounterVec,
                opts(
                    "d365mcp_cache_requests_total",
                    "Metadata and label cache lookups"
                ),
                &["kind", "layer", "result"]
            ),
            fills: family!(
                r,
                IntCounterVec,
                opts(
                    "d365mcp_cache_fills_total",
                    "Cache values fetched from D365FO and stored"
                ),
                &["kind"]
            ),
            evictions: family!(
                r,
                IntCounterVec,
                opts("d365mcp_cache_evictions_total", "Cache values evicted"),
                &["kind", "layer"]
            ),
        };
        let store = Store {
            duration: family!(
                r,
                HistogramVec,
                histogram(
                    "d365mcp_store_operation_duration_seconds",
                    "Shared store operation duration",
                    &STORE_BUCKETS
                ),
                &["store", "operation"]
            ),
            errors: family!(
                r,
                IntCounterVec,
                opts(
                    "d365mcp_store_errors_total",
                    "Failed shared store operations"
                ),
                &["store", "operation", "kind"]
            ),
            up: family!(
                r,
                IntGaugeVec,
                opts(
                    "d365mcp_store_up",
                    "1 while the shared store answers this node"
                ),
                &["store"]
            ),
        };
        let edge = Edge {
            rate_limit_decisions: family!(
                r,
                IntCounterVec,
                opts(
                    "d365mcp_rate_limit_decisions_total",
                    "Rate limit decisions by scope"
                ),
                &["scope", "result"]
            ),
            sessions_active: family!(
                r,
                IntGaugeVec,
                opts("d365mcp_sessions_active", "Sessions this edge holds open"),
                &["kind"]
            ),
            sessions_created: family!(
                r,
                IntCounterVec,
                opts(
                    "d365mcp_sessions_created_total",
                    "Sessions created on this edge"
                ),
                &["kind"]
            ),
            sessions_ended: family!(
                r,
                IntCounterVec,
                opts(
                    "d365mcp_sessions_ended_total",
                    "Sessions ended on this edge"
                ),
                &["kind", "reason"]
            ),
            sse_streams_open: family!(
                r,
                IntGaugeVec,
                opts("d365mcp_sse_streams_open", "SSE responses being written"),
                &["kind"]
            ),
            legacy_relays: family!(
                r,
                IntCounterVec,
                opts(
                    "d365mcp_legacy_relays_total",
                    "Legacy HTTP+SSE POSTs relayed to the stream's edge"
                ),
                &["result"]
            ),
            refused: family!(
                r,
                IntCounterVec,
                opts(
                    "d365mcp_requests_refused_total",
                    "Requests refused, by reason"
                ),
                &["reason"]
            ),
            calls_in_flight: family!(
                r,
                IntGauge,
                opts("d365mcp_calls_in_flight", "Tool calls running on this edge")
            ),
            worker_call_duration: family!(
                r,
                HistogramVec,
                histogram(
                    "d365mcp_worker_call_duration_seconds",
                    "One call from this edge to a worker",
                    &WORKER_CALL_BUCKETS
                ),
                &["result"]
            ),
            workers: family!(
                r,
                IntGaugeVec,
                opts("d365mcp_workers", "Workers in this edge's ring"),
                &["state"]
            ),
        };
        let node = Node {
            build_info: family!(
                r,
                IntGaugeVec,
                opts(
                    "d365mcp_build_info",
                    "Version and commit of this node; always 1"
                ),
                &["version", "commit", "role"]
            ),
            publish_failures: family!(
                r,
                IntCounter,
                opts(
                    "d365mcp_metrics_publish_failures_total",
                    "Metric snapshots not published to the shared store"
                )
            ),
            uptime: family!(
                r,
                Gauge,
                opts("d365mcp_uptime_seconds", "Seconds since this node started")
            ),
        };
        Self {
            registry: r,
            mcp,
            tools,
            upstream,
            cache,
            store,
            edge,
            node,
        }
    }
}
