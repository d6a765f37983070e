//! `loadtest` flags: each has a `D365MCP_LOADTEST_*` twin; `loadtest`
//! validates them (errors name the flag and the variable).

use std::path::PathBuf;

use clap::Args;

/// `d365mcp loadtest`: MCP load against running targets.
#[derive(Args)]
pub struct LoadtestArgs {
    /// An MCP endpoint, e.g. http://127.0.0.1:8080/mcp; repeat (or comma-separate) for round robin.
    #[arg(
        long = "target",
        env = "D365MCP_LOADTEST_TARGET",
        value_delimiter = ','
    )]
    pub targets: Vec<String>,
    /// The scenario file (TOML), e.g. loadtest/scenarios/mixed.toml.
    #[arg(long, env = "D365MCP_LOADTEST_SCENARIO")]
    pub scenario: Option<PathBuf>,
    /// Protocol era instead of the scenario's: 2026-07-28, 2025-11-25 or 2024-11-05.
    #[arg(long, env = "D365MCP_LOADTEST_ERA")]
    pub era: Option<String>,
    /// `closed` (N clients back to back; the default) or `open` (a fixed arrival rate).
    #[arg(long, env = "D365MCP_LOADTEST_MODE")]
    pub mode: Option<String>,
    /// Open loop: arrivals a second.
    #[arg(long, env = "D365MCP_LOADTEST_RATE")]
    pub rate: Option<f64>,
    /// Closed loop: clients (default 8). Open loop: most requests in flight (default 512).
    #[arg(long, env = "D365MCP_LOADTEST_CONCURRENCY")]
    pub concurrency: Option<usize>,
    /// How long to measure after the warm-up, e.g. 20s (the default).
    #[arg(long, env = "D365MCP_LOADTEST_DURATION")]
    pub duration: Option<String>,
    /// Load before measuring, left out of the results; default 3s.
    #[arg(long, env = "D365MCP_LOADTEST_WARMUP")]
    pub warmup: Option<String>,
    /// Stop after this many measured requests.
    #[arg(long, env = "D365MCP_LOADTEST_REQUESTS")]
    pub requests: Option<u64>,
    /// Longest wait for one reply; default 30s.
    #[arg(long, env = "D365MCP_LOADTEST_TIMEOUT")]
    pub timeout: Option<String>,
    /// API key sent as `Authorization: Bearer`.
    #[arg(long, env = "D365MCP_LOADTEST_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Write the JSON report here.
    #[arg(long, env = "D365MCP_LOADTEST_OUT")]
    pub out: Option<PathBuf>,
    /// Write the Markdown summary here (it is printed either way).
    #[arg(long, env = "D365MCP_LOADTEST_MARKDOWN")]
    pub markdown: Option<PathBuf>,
    /// Write the SVG plot here.
    #[arg(long, env = "D365MCP_LOADTEST_SVG")]
    pub svg: Option<PathBuf>,
    /// No live progress line on stderr.
    #[arg(long, env = "D365MCP_LOADTEST_QUIET")]
    pub quiet: bool,
    /// Start a local cluster for the run and stop it afterwards, instead of
    /// --target: e.g. `edges=2,workers=2,redis,sim-latency-ms=5`.
    #[arg(long, env = "D365MCP_LOADTEST_SPAWN")]
    pub spawn: Option<String>,
}

impl LoadtestArgs {
    /// The settings as given, for `loadtest` to validate.
    /// (`spawn` is not among them: the caller starts the cluster and fills
    /// `targets` first.)
    pub fn settings(self) -> loadtest::Settings {
        loadtest::Settings {
            targets: self.targets,
            scenario: self.scenario,
            era: self.era,
            mode: self.mode,
            rate: self.rate,
            concurrency: self.concurrency,
            duration: self.duration,
            warmup: self.warmup,
            requests: self.requests,
            timeout: self.timeout,
            api_key: self.api_key,
            out: self.out,
            markdown: self.markdown,
            svg: self.svg,
            quiet: self.quiet,
        }
    }
}
