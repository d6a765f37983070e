//! Server tools: the cluster's statistics and effective configuration. They
//! run on a worker and answer about that worker; nothing here reaches
//! D365FO.

use serde_json::json;

use super::{Effects, Group, ToolSpec, args::NoArgs, input};

/// Tool names of this group.
pub mod names {
    /// Call counts, errors, latencies and cache counters.
    pub const GET_PERFORMANCE_STATS: &str = "d365fo_get_performance_stats";
    /// Zeroes the statistics.
    pub const RESET_PERFORMANCE_STATS: &str = "d365fo_reset_performance_stats";
    /// The effective configuration, secrets redacted.
    pub const GET_SERVER_CONFIG: &str = "d365fo_get_server_config";
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
            output_schema: Some(json!({
                "type": "object",
                "properties": {
                    "worker": { "type": "string" },
                    "uptime_s": { "type": "number" },
                    "calls": { "type": "object" },
                    "cache": { "type": "object" }
                },
                "required": ["worker", "uptime_s", "calls", "cache"]
            })),
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
            output_schema: Some(json!({
                "type": "object",
                "properties": {
                    "worker": { "type": "string" },
                    "reset": { "type": "boolean" }
                },
                "required": ["worker", "reset"]
            })),
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
            output_schema: Some(json!({
                "type": "object",
                "properties": {
                    "worker": { "type": "string" },
                    "version": { "type": "string" },
                    "default_environment": { "type": "string" },
                    "environments": { "type": "array", "items": { "type": "object" } }
                },
                "required": ["worker", "version", "default_environment", "environments"]
            })),
            examples: &[r#"{}"#],
            effects: LOCAL_READ,
        },
    ]
}
