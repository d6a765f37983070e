//! Server tools: the cluster's statistics and effective configuration. They
//! run on a worker and answer about that worker; nothing here reaches
//! D365FO.

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Map, Value};

use super::{Effects, Group, ToolSpec, args::NoArgs, input, output};

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
    // The id of the worker that answered.
    pub worker: String,
    // Seconds since that worker started.
    pub uptime_s: u64,
    // Calls, errors by code and latencies, per tool and in total.
    #[schemars(with = "Map<String, Value>")]
    pub calls: Value,
    // The metadata and label cache's counters.
    #[schemars(with = "Map<String, Value>")]
    pub cache: Value,
}

/// The result of `d365fo_reset_performance_stats`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ResetResult {
    // The id of the worker whose statistics were zeroed.
    pub worker: String,
    // Always true: the statistics were zeroed.
    pub reset: bool,
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
                reset, as measured on the worker that answers: calls, errors by code and \
                latency (mean, max and p50/p90/p99 upper bounds in ms) per tool and in total, \
                plus the metadata and label cache's hit and miss counters. Use it to see which \
                tools are slow or failing; it does not contact D365FO.",
            input_schema: input::<NoArgs>(),
            output_schema: Some(output::<StatsResult>()),
            examples: &[r#"{}"#],
            effects: LOCAL_READ,
        },
        ToolSpec {
            group: Group::Server,
            name: names::RESET_PERFORMANCE_STATS,
            title: "Reset server performance statistics",
            description: "Zeroes the call statistics that d365fo_get_performance_stats reports \
                on the answering worker (cache contents are kept), e.g. before measuring a \
                workload. Changes nothing in D365FO.",
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
