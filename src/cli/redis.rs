//! The shared stores: the region's (`--redis-url`), which every role can
//! share, and the global one (`--global-redis-url`) that a worker shares
//! with the workers of every region for what guards D365FO across regions
//! (see `worker::node`).

use clap::Args;
use common::{config::ConfigError, store::RedisStore};

/// The shared store, for the roles that can share one.
#[derive(Args)]
pub struct RedisArgs {
    /// Redis holding the cluster's shared state, redis://[user:password@]host:port[/db]
    /// or rediss:// (TLS); for a Redis Cluster, the URLs of one or more of its
    /// nodes separated by commas (with --redis-cluster). Without it each
    /// process keeps its own in-memory store.
    #[arg(long = "redis-url", env = "D365MCP_REDIS_URL")]
    pub redis_url: Option<String>,
    /// --redis-url names a Redis Cluster (its seed nodes): true or false.
    #[arg(long = "redis-cluster", env = "D365MCP_REDIS_CLUSTER", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub redis_cluster: bool,
    /// Put before every Redis key and channel, so that several deployments
    /// share one Redis apart, e.g. `prod-eu:` (1-64 visible characters, no braces).
    #[arg(long = "redis-key-prefix", env = "D365MCP_REDIS_KEY_PREFIX")]
    pub redis_key_prefix: Option<String>,
}

/// The global store of a deployment in several regions.
#[derive(Args)]
pub struct GlobalRedisArgs {
    /// Redis shared by the workers of every region, for write claims, the
    /// records of keyed writes and D365FO's throttle windows: a write
    /// resent in another region is then not applied twice, and a 429 seen
    /// in one region holds back the others. Same forms as --redis-url.
    /// Without it these live in the regional store (one region).
    #[arg(long = "global-redis-url", env = "D365MCP_GLOBAL_REDIS_URL")]
    pub url: Option<String>,
    /// --global-redis-url names a Redis Cluster: true or false.
    #[arg(long = "global-redis-cluster", env = "D365MCP_GLOBAL_REDIS_CLUSTER", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub cluster: bool,
    /// Put before every key and channel of the global store, e.g. `prod:`;
    /// the same in every region of one deployment.
    #[arg(
        long = "global-redis-key-prefix",
        env = "D365MCP_GLOBAL_REDIS_KEY_PREFIX"
    )]
    pub key_prefix: Option<String>,
}

/// How the store's own advice says to turn the regional cluster setting on.
const CLUSTER_ON: &str = "D365MCP_REDIS_CLUSTER=true (--redis-cluster)";

/// The setting names a store's errors report.
struct Names {
    url: &'static str,
    cluster: &'static str,
    /// How to turn `cluster` on, as the store's advice says it.
    cluster_on: &'static str,
    prefix: &'static str,
}

impl RedisArgs {
    /// The Redis store when a URL is set. Connects lazily (the process
    /// starts while Redis is down); needs a Tokio runtime.
    pub fn store(&self) -> Result<Option<RedisStore>, ConfigError> {
        let names = Names {
            url: "D365MCP_REDIS_URL (--redis-url)",
            cluster: "D365MCP_REDIS_CLUSTER (--redis-cluster)",
            cluster_on: CLUSTER_ON,
            prefix: "D365MCP_REDIS_KEY_PREFIX (--redis-key-prefix)",
        };
        open(
            self.redis_url.as_deref(),
            self.redis_cluster,
            self.redis_key_prefix.as_deref(),
            &names,
        )
    }
}

impl GlobalRedisArgs {
    /// The global store when a URL is set, lazy like [`RedisArgs::store`];
    /// its metrics carry `store="global"`.
    pub fn store(&self) -> Result<Option<RedisStore>, ConfigError> {
        let names = Names {
            url: "D365MCP_GLOBAL_REDIS_URL (--global-redis-url)",
            cluster: "D365MCP_GLOBAL_REDIS_CLUSTER (--global-redis-cluster)",
            cluster_on: "D365MCP_GLOBAL_REDIS_CLUSTER=true (--global-redis-cluster)",
            prefix: "D365MCP_GLOBAL_REDIS_KEY_PREFIX (--global-redis-key-prefix)",
        };
        let store = open(
            self.url.as_deref(),
            self.cluster,
            self.key_prefix.as_deref(),
            &names,
        )?;
        Ok(store.map(RedisStore::global))
    }
}

fn open(
    url: Option<&str>,
    cluster: bool,
    prefix: Option<&str>,
    names: &Names,
) -> Result<Option<RedisStore>, ConfigError> {
    let Some(url) = url else {
        if prefix.is_some() {
            return Err(ConfigError::new(
                names.prefix,
                format!("a key prefix needs a Redis in {}", names.url),
            ));
        }
        if cluster {
            return Err(ConfigError::new(
                names.cluster,
                format!(
                    "a Redis Cluster needs the URL of at least one of its nodes in {}",
                    names.url
                ),
            ));
        }
        return Ok(None);
    };
    let store = RedisStore::open_setting(url, cluster).map_err(|e| {
        // The store's own advice names the regional setting.
        ConfigError::new(names.url, e.0.replace(CLUSTER_ON, names.cluster_on))
    })?;
    match prefix {
        Some(prefix) => store
            .with_prefix(prefix)
            .map_err(|e| ConfigError::new(names.prefix, e.0))
            .map(Some),
        None => Ok(Some(store)),
    }
}
