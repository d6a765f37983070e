//! The server group: the cluster's statistics (`stats`) and this worker's
//! effective configuration. Nothing here reaches D365FO.

mod stats;

use common::catalogue::{
    args::NoArgs,
    names,
    server::{AuthConfig, ConfigResult, EnvironmentConfig, ResetResult, StatsArgs, StatsResult},
};
use serde_json::{Map, Value};

use super::{Context, Reply, args, unknown_tool};
use crate::error::WorkerError;
use common::config::{CredentialKind, OnBehalfOf};

/// Runs one tool of this group.
pub async fn run(
    ctx: &Context<'_>,
    tool: &str,
    args: Map<String, Value>,
) -> Result<Reply, WorkerError> {
    let node = ctx.node;
    if tool == names::GET_PERFORMANCE_STATS {
        let StatsArgs { scope } = args::parse(tool, args)?;
        let scope = scope.unwrap_or_default();
        let (nodes, since, calls, upstream, cache) = stats::read(ctx, scope).await;
        return Reply::data(&StatsResult {
            scope: match scope {
                common::catalogue::server::Scope::Cluster => "cluster".into(),
                common::catalogue::server::Scope::Node => "node".into(),
            },
            worker: node.id.clone(),
            uptime_s: node.started.elapsed().as_secs(),
            nodes,
            since_reset_unix_s: since,
            calls,
            upstream,
            cache,
        });
    }
    let NoArgs {} = args::parse(tool, args)?;
    match tool {
        names::RESET_PERFORMANCE_STATS => {
            let nodes = stats::reset(ctx).await?;
            Reply::data(&ResetResult {
                worker: node.id.clone(),
                reset: true,
                nodes,
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
                    client_secret: matches!(c.kind, CredentialKind::ClientSecret(_))
                        .then(|| "(set, redacted)".into()),
                    credential: Some(c.kind.name().into()),
                    on_behalf_of: Some(
                        match c.on_behalf_of {
                            OnBehalfOf::Off => "off",
                            OnBehalfOf::Preferred => "preferred",
                            OnBehalfOf::Required => "required",
                        }
                        .into(),
                    ),
                    authority_host: Some(
                        c.authority_host.as_str().trim_end_matches('/').to_owned(),
                    ),
                },
                None => AuthConfig {
                    kind: "none".into(),
                    tenant_id: None,
                    client_id: None,
                    client_secret: None,
                    credential: None,
                    on_behalf_of: None,
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
