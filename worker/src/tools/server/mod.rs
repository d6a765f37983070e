//! The server group: this worker's statistics and effective configuration.
//! Nothing here reaches D365FO.

use common::catalogue::{
    args::NoArgs,
    names,
    server::{AuthConfig, ConfigResult, EnvironmentConfig, ResetResult, StatsResult},
};
use serde_json::{Map, Value};

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
    match tool {
        names::GET_PERFORMANCE_STATS => Reply::data(&StatsResult {
            worker: node.id.clone(),
            uptime_s: node.started.elapsed().as_secs(),
            calls: node.stats.snapshot(),
            cache: node.cache.snapshot(),
        }),
        names::RESET_PERFORMANCE_STATS => {
            node.stats.reset();
            Reply::data(&ResetResult {
                worker: node.id.clone(),
                reset: true,
            })
        }
        names::GET_SERVER_CONFIG => Reply::data(&config(ctx)),
        other => Err(unknown_tool(other)),
    }
}

/// The configuration as a person reads it; no secret, not even its length.
fn config(ctx: &Context<'_>) -> ConfigResult {
    let node = ctx.node;
    let config = &node.config;
    let environments = config
        .environments
        .iter()
        .map(|env| {
            let auth = match &env.credentials {
                Some(c) => AuthConfig {
                    kind: "entra_client_credentials".into(),
                    tenant_id: Some(c.tenant_id.clone()),
                    client_id: Some(c.client_id.clone()),
                    client_secret: Some("(set, redacted)".into()),
                    authority_host: Some(
                        c.authority_host.as_str().trim_end_matches('/').to_owned(),
                    ),
                },
                None => AuthConfig {
                    kind: "none".into(),
                    tenant_id: None,
                    client_id: None,
                    client_secret: None,
                    authority_host: None,
                },
            };
            EnvironmentConfig {
                name: env.name.clone(),
                base_url: env.base_url.as_str().trim_end_matches('/').to_owned(),
                auth,
                default: env.name == config.default_environment,
            }
        })
        .collect();
    let millis = |d: std::time::Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    ConfigResult {
        worker: node.id.clone(),
        version: env!("CARGO_PKG_VERSION").into(),
        default_environment: config.default_environment.clone(),
        environments,
        request_timeout_ms: millis(config.request_timeout),
        connect_timeout_ms: millis(config.connect_timeout),
        max_rows: node.max_rows,
        max_result_bytes: node.max_result_bytes,
        cache: node.cache.settings(),
    }
}
