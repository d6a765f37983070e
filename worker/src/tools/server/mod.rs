//! The server group: this worker's statistics and effective configuration.
//! Nothing here reaches D365FO.

use common::catalogue::{args::NoArgs, names};
use serde_json::{Map, Value, json};

use super::{Context, Reply, args, unknown_tool};
use crate::error::WorkerError;

/// Runs one tool of this group.
pub async fn run(
    ctx: &Context<'_>,
    tool: &str,
    args: Map<String, Value>,
) -> Result<Reply, WorkerError> {
    let NoArgs {} = args::parse(tool, args)?;
    let node = ctx.node;
    let value = match tool {
        names::GET_PERFORMANCE_STATS => json!({
            "worker": node.id,
            "uptime_s": node.started.elapsed().as_secs(),
            "calls": node.stats.snapshot(),
            "cache": node.cache.snapshot(),
        }),
        names::RESET_PERFORMANCE_STATS => {
            node.stats.reset();
            json!({ "worker": node.id, "reset": true })
        }
        names::GET_SERVER_CONFIG => config(ctx),
        other => return Err(unknown_tool(other)),
    };
    Ok(Reply::Data(value))
}

/// The configuration as a person reads it; no secret, not even its length.
fn config(ctx: &Context<'_>) -> Value {
    let node = ctx.node;
    let config = &node.config;
    let environments: Vec<Value> = config
        .environments
        .iter()
        .map(|env| {
            let auth = match &env.credentials {
                Some(c) => json!({
                    "kind": "entra_client_credentials",
                    "tenant_id": c.tenant_id,
                    "client_id": c.client_id,
                    "client_secret": "(set, redacted)",
                    "authority_host": c.authority_host.as_str().trim_end_matches('/'),
                }),
                None => json!({ "kind": "none" }),
            };
            json!({
                "name": env.name,
                "base_url": env.base_url.as_str().trim_end_matches('/'),
                "auth": auth,
                "default": env.name == config.default_environment,
            })
        })
        .collect();
    json!({
        "worker": node.id,
        "version": env!("CARGO_PKG_VERSION"),
        "default_environment": config.default_environment,
        "environments": environments,
        "request_timeout_ms": config.request_timeout.as_millis(),
        "connect_timeout_ms": config.connect_timeout.as_millis(),
        "max_rows": node.max_rows,
        "max_result_bytes": node.max_result_bytes,
        "cache": node.cache.settings(),
    })
}
