//! `chaos` flags: each has a `D365MCP_CHAOS_*` twin; validated into
//! `loadtest::chaos::Settings` (errors name the flag and the variable).

use std::path::PathBuf;

use clap::Args;
use common::config::ConfigError;

/// `d365mcp chaos`: faults injected into a local cluster under load, and an
/// audit of every write.
#[derive(Args)]
pub struct ChaosArgs {
    /// Seeds, comma-separated: one run each (call mix, edges, fault timing).
    #[arg(
        long,
        env = "D365MCP_CHAOS_SEEDS",
        value_delimiter = ',',
        default_value = "1,2,3"
    )]
    pub seeds: Vec<u64>,
    /// Calls started per second.
    #[arg(long, env = "D365MCP_CHAOS_RATE", default_value_t = 30.0)]
    pub rate: f64,
    /// Length of each phase (a baseline, then one per fault).
    #[arg(long, env = "D365MCP_CHAOS_PHASE", default_value = "12s")]
    pub phase: String,
    /// How long a killed node stays down before it is restarted.
    #[arg(long, env = "D365MCP_CHAOS_DOWN", default_value = "1s")]
    pub down: String,
    /// How long one call may keep retrying.
    #[arg(long, env = "D365MCP_CHAOS_BUDGET", default_value = "30s")]
    pub budget: String,
    /// Latency the simulator adds to each D365FO request.
    #[arg(long, env = "D365MCP_CHAOS_SIM_LATENCY_MS", default_value_t = 100)]
    pub sim_latency_ms: u64,
    /// Run on a Redis Cluster of three masters (and lose one of them)
    /// instead of one Redis.
    #[arg(long, env = "D365MCP_CHAOS_REDIS_CLUSTER")]
    pub redis_cluster: bool,
    /// A rolling restart instead of the faults: SIGTERM each edge, then each
    /// worker, one at a time, each started again once it has drained.
    #[arg(long, env = "D365MCP_CHAOS_ROLLING")]
    pub rolling: bool,
    /// Write the JSON report here.
    #[arg(long, env = "D365MCP_CHAOS_OUT")]
    pub out: Option<PathBuf>,
    /// Write the Markdown tables here (they are printed either way).
    #[arg(long, env = "D365MCP_CHAOS_MARKDOWN")]
    pub markdown: Option<PathBuf>,
}

/// Most seeds one run takes (each is a cluster and a few minutes).
const MAX_SEEDS: usize = 20;

impl ChaosArgs {
    /// The validated settings, for the `d365mcp` binary at `binary`.
    pub fn settings(&self, binary: PathBuf) -> Result<loadtest::chaos::Settings, ConfigError> {
        let duration = |key: &'static str, text: &str, lo: f64, hi: f64| {
            let d = common::config::parse_duration(key, text)?;
            if !(lo..=hi).contains(&d.as_secs_f64()) {
                return Err(ConfigError::new(
                    key,
                    format!("{text} is out of range: between {lo} s and {hi} s"),
                ));
            }
            Ok(d)
        };
        if self.seeds.is_empty() || self.seeds.len() > MAX_SEEDS {
            return Err(ConfigError::new(
                "D365MCP_CHAOS_SEEDS (--seeds)",
                format!("give 1 to {MAX_SEEDS} seeds"),
            ));
        }
        if !(self.rate.is_finite() && (0.1..=1000.0).contains(&self.rate)) {
            return Err(ConfigError::new(
                "D365MCP_CHAOS_RATE (--rate)",
                format!("{} is out of range: 0.1 to 1000 calls/s", self.rate),
            ));
        }
        if self.sim_latency_ms > 10_000 {
            return Err(ConfigError::new(
                "D365MCP_CHAOS_SIM_LATENCY_MS (--sim-latency-ms)",
                "at most 10000",
            ));
        }
        Ok(loadtest::chaos::Settings {
            binary,
            seeds: self.seeds.clone(),
            rate: self.rate,
            phase: duration("D365MCP_CHAOS_PHASE (--phase)", &self.phase, 2.0, 3600.0)?,
            down: duration("D365MCP_CHAOS_DOWN (--down)", &self.down, 0.0, 60.0)?,
            budget: duration("D365MCP_CHAOS_BUDGET (--budget)", &self.budget, 1.0, 600.0)?,
            sim_latency_ms: self.sim_latency_ms,
            redis_cluster: self.redis_cluster,
            rolling: self.rolling,
            ..loadtest::chaos::Settings::default()
        })
    }
}
