//! Membership flags: how a worker announces itself in the shared store and
//! how often an edge reads who is there.

use std::{net::SocketAddr, time::Duration};

use clap::Args;
use common::config::{self, ConfigError, HeartbeatConfig, membership_keys as keys};
use url::Url;

use super::positive;

/// `worker`: the heartbeat that keeps it in the cluster (with `--redis-url`).
#[derive(Args)]
pub struct HeartbeatArgs {
    /// The gRPC URL edges dial to reach this worker, e.g. http://worker-0:50051.
    /// Default: http://<bound listen address>, unless that is 0.0.0.0 or ::.
    #[arg(long, env = "D365MCP_ADVERTISE_URL")]
    pub advertise_url: Option<String>,
    /// How often the worker renews its membership in the shared store.
    #[arg(long, env = "D365MCP_HEARTBEAT_INTERVAL", default_value = "1s")]
    pub heartbeat_interval: String,
    /// How long a membership lasts without renewal: how soon edges drop a worker that died.
    #[arg(long, env = "D365MCP_HEARTBEAT_TTL", default_value = "5s")]
    pub heartbeat_ttl: String,
}

impl HeartbeatArgs {
    /// The validated heartbeat of a worker listening on `listen`.
    pub fn config(&self, listen: SocketAddr) -> Result<HeartbeatConfig, ConfigError> {
        let config = HeartbeatConfig {
            advertise_url: self
                .advertise_url
                .as_deref()
                .map(config::parse_advertise_url)
                .transpose()?,
            interval: positive(keys::HEARTBEAT_INTERVAL, &self.heartbeat_interval)?,
            ttl: positive(keys::HEARTBEAT_TTL, &self.heartbeat_ttl)?,
        };
        config.validate(listen)?;
        Ok(config)
    }
}

/// `edge`: following the registered workers (with `--redis-url` and no `--workers`).
#[derive(Args)]
pub struct MembersArgs {
    /// How often the edge reads the live workers from the shared store.
    #[arg(long, env = "D365MCP_MEMBERS_REFRESH", default_value = "1s")]
    pub members_refresh: String,
}

impl MembersArgs {
    /// The validated refresh interval.
    pub fn refresh(&self) -> Result<Duration, ConfigError> {
        positive(keys::MEMBERS_REFRESH, &self.members_refresh)
    }
}

/// The edge's static workers from `--workers`; none (follow the registered
/// workers) when it is unset and a Redis is given.
pub fn edge_workers(workers: Option<&str>, redis: bool) -> Result<Vec<Url>, ConfigError> {
    const WORKERS: &str = "D365MCP_WORKERS (--workers)";
    match (workers, redis) {
        (Some(raw), _) => {
            let urls = config::parse_worker_urls(WORKERS, raw)?;
            if urls.is_empty() {
                return Err(ConfigError::new(
                    WORKERS,
                    "names no worker; list their gRPC URLs, e.g. http://127.0.0.1:50051, \
                     or leave it unset to follow the workers registered in D365MCP_REDIS_URL",
                ));
            }
            Ok(urls)
        }
        (None, true) => Ok(Vec::new()),
        (None, false) => Err(ConfigError::new(
            "D365MCP_WORKERS (--workers) or D365MCP_REDIS_URL (--redis-url)",
            "the edge needs workers: list their gRPC URLs, e.g. http://127.0.0.1:50051, \
             or give the Redis the workers register in",
        )),
    }
}
