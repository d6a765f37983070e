//! Server tools: the cluster's statistics and effective configuration. They
//! run on a worker and answer about that worker; nothing here reaches
//! D365FO.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{Effects, Group, ToolSpec, args::NoArgs, input, output};

/// The arguments of `d365fo_get_performance_stats`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StatsArgs {
    /// `cluster` (the default): every live node of the cluster; `node`: only
    /// the worker that answers.
    #[serde(default)]
    pub scope: Option<Scope>,
}

/// Which nodes statistics cover.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    // Every live node, through the shared store (plain comments: variant
    // docs would make the schema a `oneOf`, which not every client reads).
    #[default]
    Cluster,
    // The answering worker alone.
    Node,
}

/// Tool names of this group.
pub mod names {
    /// Call counts, errors, latencies and cache counters.
    pub const GET_PERFORMANCE_STATS: &str = "d365fo_get_performance_stats";
    /// Zeroes the statistics.
    pub const RESET_PERFORMANCE_STATS: &str = "d365fo_reset_performance_stats";
    /// The effective configuration, secrets redacted.
    pub const GET_SERVER_CONFIG: &str = "d365fo_get_server_config";
}

/// The result of `d365fo_get_performance_stats`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct StatsResult {
    // `cluster` or `node`.
    pub scope: String,
    // The id of the worker that answered.
    pub worker: String,
    // Seconds since that worker started.
    pub uptime_s: u64,
    // How many nodes' metrics the statistics sum.
    pub nodes: usize,
    // When the statistics were last reset (Unix seconds); null if never.
    pub since_reset_unix_s: Option<u64>,
    // Calls, errors by code and latencies: in total, per tool, per
    // environment and per tenant the caller may see.
    #[schemars(with = "Map<String, Value>")]
    pub calls: Value,
    // Requests to D365FO per environment: by status, 429s, retries,
    // writes of unknown outcome.
    #[schemars(with = "Map<String, Value>")]
    pub upstream: Value,
    // The metadata and label cache's hits, misses, fills and evictions by
    // kind and layer.
    #[schemars(with = "Map<String, Value>")]
    pub cache: Value,
}

/// The result of `d365fo_reset_performance_stats`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ResetResult {
    // The id of the worker that answered.
    pub worker: String,
    // Always true: the statistics were zeroed.
    pub reset: bool,
    // How many nodes' statistics were zeroed (all live nodes).
    pub nodes: usize,
}

/// The result of `d365fo_get_server_config`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ConfigResult {
    // The id of the worker that answered.
    pub worker: String,
    // The server's version.
    pub version: String,
    // The environment a call without `environment` addresses.
    pub default_environment: String,
    // The configured D365FO environments.
    pub environments: Vec<EnvironmentConfig>,
    // Timeout of one request to D365FO, in milliseconds.
    pub request_timeout_ms: u64,
    // Timeout of connecting to D365FO, in milliseconds.
    pub connect_timeout_ms: u64,
    // Most rows a query returns per call.
    pub max_rows: usize,
    // Most bytes of row JSON (or of a document) a call returns.
    pub max_result_bytes: usize,
    // The metadata and label cache's settings.
    #[schemars(with = "Map<String, Value>")]
    pub cache: Value,
}

// One configured environment, as the configuration result shows it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct EnvironmentConfig {
    // The name `environment` arguments use.
    pub name: String,
    // The environment's URL.
    pub base_url: String,
    // How the server authenticates to it.
    pub auth: AuthConfig,
    // Whether it is the default environment.
    pub default: bool,
}

/// How the server authenticates to an environment; never the secret.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct AuthConfig {
    // `entra_client_credentials` or `none`.
    pub kind: String,
    // The Entra tenant, with client credentials.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    // The application (client) id, with client credentials.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    // Only whether it is set, e.g. "(set, redacted)".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    // How the application proves who it is: client_secret, certificate,
    // workload_identity, managed_identity or azure_cli.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
    // Whether signed-in users call D365FO as themselves: off, preferred or
    // required.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_behalf_of: Option<String>,
    // The Entra authority host, with client credentials.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authority_host: Option<String>,
}

/// Reads the server's own state.
const LOCAL_READ: Effects = Effects {
    read_only: true,
    destructive: false,
    idempotent: true,
    open_world: false,
};

/// This group's tools, in listing order.
pub fn specs() -> Vec<ToolSpec> {
    vec![
        ToolSpec {
            group: Group::Server,
            name: names::GET_PERFORMANCE_STATS,
            title: "Get server performance statistics",
            description: "Returns this MCP server's own statistics since start-up or the last \
                reset, summed over every node of the cluster (`scope: \"node\"` for the \
                answering worker alone): calls, errors by code and latency (mean and \
                p50/p90/p99 upper bounds in ms) in total, per tool, per environment and per \
                tenant you may see; D365FO requests, 429s and retries; the metadata cache's hit \
                and miss counters. Use it to see which tools are slow or failing; it does not \
                contact D365FO.",
            input_schema: input::<StatsArgs>(),
            output_schema: Some(output::<StatsResult>()),
            examples: &[r#"{}"#, r#"{"scope": "node"}"#],
            effects: LOCAL_READ,
        },
        ToolSpec {
            group: Group::Server,
            name: names::RESET_PERFORMANCE_STATS,
            title: "Reset server performance statistics",
            description: "Zeroes the statistics that d365fo_get_performance_stats reports, on \
                every node of the cluster (cache contents and the Prometheus metrics are kept), \
                e.g. before measuring a workload. Changes nothing in D365FO.",
            input_schema: input::<NoArgs>(),
            output_schema: Some(output::<ResetResult>()),
            examples: &[r#"{}"#],
            effects: Effects {
                read_only: false,
                // Discards the statistics gathered so far.
                destructive: true,
                idempotent: true,
                open_world: false,
            },
        },
        ToolSpec {
            group: Group::Server,
            name: names::GET_SERVER_CONFIG,
            title: "Get server configuration",
            description: "Returns the effective configuration of the worker that answers: the \
                configured D365FO environments (name, URL, how it authenticates; client secrets \
                are never shown), the default environment, timeouts, row limits and cache \
                settings. Use it to find which `environment` names exist.",
            input_schema: input::<NoArgs>(),
            output_schema: Some(output::<ConfigResult>()),
            examples: &[r#"{}"#],
            effects: LOCAL_READ,
        },
    ]
}
