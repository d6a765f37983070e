//! Worker tuning shared by `worker` and `dev`: D365FO timeouts, row limits,
//! the metadata cache and the circuit breaker.

use clap::Args;
use common::config::{self, ConfigError, WorkerConfig};

use super::positive;

/// Worker tuning shared by `worker` and `dev`.
#[derive(Clone, Args)]
pub struct WorkerTuning {
    /// Timeout of one HTTP request to D365FO.
    #[arg(long, env = "D365MCP_REQUEST_TIMEOUT", default_value = "60s")]
    pub request_timeout: String,
    /// Most rows one query call returns before handing back a cursor.
    #[arg(long, env = "D365MCP_MAX_ROWS", default_value_t = 1000)]
    pub max_rows: usize,
    /// Life of a metadata or label cache entry in the shared store.
    #[arg(long, env = "D365MCP_CACHE_TTL", default_value = "24h")]
    pub cache_ttl: String,
    /// Life of a cached "does not exist" answer.
    #[arg(long, env = "D365MCP_CACHE_NEGATIVE_TTL", default_value = "5m")]
    pub cache_negative_ttl: String,
    /// Life of a cache entry in a worker's memory.
    #[arg(long, env = "D365MCP_CACHE_L1_TTL", default_value = "10m")]
    pub cache_l1_ttl: String,
    /// Most bytes of cache entries a worker keeps in memory.
    #[arg(long, env = "D365MCP_CACHE_L1_BYTES", default_value_t = 128 * 1024 * 1024)]
    pub cache_l1_bytes: u64,
    /// How often an environment's installed modules (its version) are read again.
    #[arg(long, env = "D365MCP_CACHE_VERSION_REFRESH", default_value = "10m")]
    pub cache_version_refresh: String,
    /// Warm the metadata cache of every environment at start: true or false.
    #[arg(long, env = "D365MCP_CACHE_WARM_UP", default_value_t = true, action = clap::ArgAction::Set)]
    pub cache_warm_up: bool,
    /// Failures of one D365FO environment (connection errors, timeouts, 5xx), with no
    /// success between them, within --breaker-window that stop every worker sending to
    /// it; 0 turns the circuit breaker off.
    #[arg(long, env = "D365MCP_BREAKER_THRESHOLD", default_value_t = 20)]
    pub breaker_threshold: u32,
    /// The window of --breaker-threshold.
    #[arg(long, env = "D365MCP_BREAKER_WINDOW", default_value = "10s")]
    pub breaker_window: String,
    /// How long a failing environment is first not sent to; each failed probe doubles it.
    #[arg(long, env = "D365MCP_BREAKER_OPEN", default_value = "5s")]
    pub breaker_open: String,
    /// The longest a failing environment is not sent to at a time.
    #[arg(long, env = "D365MCP_BREAKER_MAX_OPEN", default_value = "60s")]
    pub breaker_max_open: String,
}

impl WorkerTuning {
    /// Applies the tuning to `config`.
    pub fn apply(&self, mut config: WorkerConfig) -> Result<WorkerConfig, ConfigError> {
        config.request_timeout = positive(
            "D365MCP_REQUEST_TIMEOUT (--request-timeout)",
            &self.request_timeout,
        )?;
        if !(1..=10_000).contains(&self.max_rows) {
            return Err(ConfigError::new(
                "D365MCP_MAX_ROWS (--max-rows)",
                format!("{} is out of range 1..=10000", self.max_rows),
            ));
        }
        config.max_rows = self.max_rows;
        config.cache = config::CacheConfig {
            ttl: positive(config::cache_keys::TTL, &self.cache_ttl)?,
            negative_ttl: positive(config::cache_keys::NEGATIVE_TTL, &self.cache_negative_ttl)?,
            l1_ttl: positive(config::cache_keys::L1_TTL, &self.cache_l1_ttl)?,
            l1_capacity_bytes: self.cache_l1_bytes,
            version_refresh: positive(
                config::cache_keys::VERSION_REFRESH,
                &self.cache_version_refresh,
            )?,
            warm_up: self.cache_warm_up,
            ..config::CacheConfig::default()
        };
        config.cache.validate()?;
        config.breaker = config::BreakerConfig {
            threshold: self.breaker_threshold,
            window: positive(config::breaker_keys::WINDOW, &self.breaker_window)?,
            open_for: positive(config::breaker_keys::OPEN, &self.breaker_open)?,
            max_open_for: positive(config::breaker_keys::MAX_OPEN, &self.breaker_max_open)?,
        };
        config.breaker.validate()?;
        Ok(config)
    }
}
