//! `d365mcp sim`: the simulator's flags and their validation.

use std::net::SocketAddr;

use clap::Args;
use common::config::ConfigError;

use super::listen;

/// `d365mcp sim`.
#[derive(Args)]
pub struct SimArgs {
    /// Where the simulator serves D365FO's HTTP API.
    #[arg(long, env = "D365MCP_LISTEN", default_value = "127.0.0.1:8090")]
    pub listen: String,
    /// Largest page of rows before @odata.nextLink paging (D365FO: 10,000).
    #[arg(long, env = "SIM_MAX_PAGE_SIZE", default_value_t = 10_000)]
    pub max_page_size: usize,
    /// Seed of the generated data set.
    #[arg(long, env = "SIM_SEED", default_value_t = 365)]
    pub seed: u64,
    /// How much data: small, medium, large (about 1,000,000 rows) or a row count such as 250k.
    #[arg(long, env = "SIM_SCALE", default_value = "small")]
    pub scale: String,
    /// Bearer tokens on /data, /Metadata and /api: none, any-token or required.
    #[arg(long, env = "SIM_AUTH", default_value = "none")]
    pub auth: String,
    /// Tenant (directory) id the token endpoint serves.
    #[arg(long, env = "SIM_TENANT_ID", default_value = sim::auth::DEFAULT_TENANT_ID)]
    pub tenant_id: String,
    /// Registered clients as CLIENT_ID:SECRET, comma-separated (default: the documented test client).
    #[arg(
        long = "client",
        env = "SIM_CLIENTS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub clients: Vec<String>,
    /// Scopes the clients' APIs expose, as CLIENT_ID=APP_ID_URI/SCOPE, comma-separated
    /// (default: the test client exposes api://d365mcp/mcp.tools).
    #[arg(long = "expose", env = "SIM_EXPOSE", value_delimiter = ',')]
    pub exposed: Vec<String>,
    /// Directory users who are D365FO users, as UPN=ROLE or UPN=ROLE:PASSWORD (ROLE: reader,
    /// writer or admin), comma-separated (default: alice@contoso.com=writer, bob@contoso.com=reader).
    #[arg(
        long = "user",
        env = "SIM_USERS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub users: Vec<String>,
    /// Latency added to every D365FO request, in milliseconds.
    #[arg(long, env = "SIM_LATENCY_MS", default_value_t = 0)]
    pub latency_ms: u64,
    /// Random latency on top: none, uniform:MAX_MS, exp:MEAN_MS or lognormal:MEAN_MS:SIGMA.
    #[arg(long, env = "SIM_LATENCY_JITTER", default_value = "none")]
    pub latency_jitter: String,
    /// Per-caller request limit as REQUESTS/WINDOW_SECS (D365FO: 6000/300); 429 beyond it.
    #[arg(long, env = "SIM_THROTTLE_RATE")]
    pub throttle_rate: Option<String>,
    /// Per-caller concurrent-request limit (D365FO: 52); 429 beyond it.
    #[arg(long, env = "SIM_THROTTLE_CONCURRENCY")]
    pub throttle_concurrency: Option<u32>,
    /// Retry-After of a caller's first 429, in seconds; it grows while the caller keeps pushing.
    #[arg(long, env = "SIM_THROTTLE_RETRY_AFTER", default_value_t = 5)]
    pub throttle_retry_after: u64,
    /// Share of D365FO requests answered 500 (0.0-1.0).
    #[arg(long = "fail-500", env = "SIM_FAIL_500", default_value_t = 0.0)]
    pub fail_500: f64,
    /// Share answered 502 with an HTML gateway page (0.0-1.0).
    #[arg(long = "fail-502", env = "SIM_FAIL_502", default_value_t = 0.0)]
    pub fail_502: f64,
    /// Share answered 503 (0.0-1.0).
    #[arg(long = "fail-503", env = "SIM_FAIL_503", default_value_t = 0.0)]
    pub fail_503: f64,
    /// Share of connections closed without a response (0.0-1.0).
    #[arg(long, env = "SIM_DROP_RATE", default_value_t = 0.0)]
    pub drop_rate: f64,
    /// Seed of the draws that pick faults and jitter.
    #[arg(long, env = "SIM_FAULT_SEED", default_value_t = 0)]
    pub fault_seed: u64,
    /// Finish a request whose caller went away, as D365FO does, instead of
    /// dropping it (so a write cut off by its caller is still applied).
    #[arg(long, env = "SIM_FINISH_ABANDONED", default_value_t = false)]
    pub finish_abandoned: bool,
    /// Record every write D365FO's handlers answer, for `GET /_sim/journal`
    /// (what a chaos run audits). Bounded: the newest 100,000 writes.
    #[arg(long, env = "SIM_JOURNAL", default_value_t = false)]
    pub journal: bool,
}

impl SimArgs {
    /// The validated simulator configuration.
    pub fn config(&self) -> Result<(SocketAddr, sim::SimConfig), ConfigError> {
        if !(1..=10_000_000).contains(&self.max_page_size) {
            return Err(ConfigError::new(
                "SIM_MAX_PAGE_SIZE (--max-page-size)",
                format!("{} is out of range 1..=10000000", self.max_page_size),
            ));
        }
        let scale = self
            .scale
            .parse()
            .map_err(|e| ConfigError::new("SIM_SCALE (--scale)", e))?;
        let mut auth = sim::auth::AuthConfig {
            mode: self
                .auth
                .parse()
                .map_err(|e| ConfigError::new("SIM_AUTH (--auth)", e))?,
            tenant_id: self.tenant_id.trim().to_owned(),
            ..sim::auth::AuthConfig::default()
        };
        if !self.clients.is_empty() {
            auth.clients = self
                .clients
                .iter()
                .map(|c| c.parse())
                .collect::<Result<_, _>>()
                .map_err(|e| ConfigError::new("SIM_CLIENTS (--client)", e))?;
        }
        if !self.exposed.is_empty() {
            // Named scopes replace the test client's default exposure.
            for client in &mut auth.clients {
                client.app_id_uri = None;
                client.scopes.clear();
            }
            for exposed in &self.exposed {
                exposed
                    .parse::<sim::auth::Exposure>()
                    .and_then(|e| e.apply(&mut auth.clients))
                    .map_err(|e| ConfigError::new("SIM_EXPOSE (--expose)", e))?;
            }
        }
        if !self.users.is_empty() {
            auth.users = self
                .users
                .iter()
                .map(|u| u.parse())
                .collect::<Result<_, _>>()
                .map_err(|e| ConfigError::new("SIM_USERS (--user)", e))?;
        }
        let mut faults = sim::faults::FaultConfig {
            error_500_rate: self.fail_500,
            error_502_rate: self.fail_502,
            error_503_rate: self.fail_503,
            drop_rate: self.drop_rate,
            seed: self.fault_seed,
            ..sim::faults::FaultConfig::default()
        };
        faults.latency.fixed_ms = self.latency_ms;
        faults.latency.random = self
            .latency_jitter
            .parse()
            .map_err(|e| ConfigError::new("SIM_LATENCY_JITTER (--latency-jitter)", e))?;
        if let Some(rate) = &self.throttle_rate {
            let (requests, window_secs) = sim::faults::parse_rate(rate)
                .map_err(|e| ConfigError::new("SIM_THROTTLE_RATE (--throttle-rate)", e))?;
            faults.throttle.requests = Some(requests);
            faults.throttle.window_secs = window_secs;
        }
        faults.throttle.concurrency = self.throttle_concurrency;
        faults.throttle.retry_after_secs = self.throttle_retry_after;
        faults.validate().map_err(|e| {
            ConfigError::new(
                "SIM_* fault settings (--latency-ms, --fail-*, --drop-rate, --throttle-*)",
                e,
            )
        })?;
        let config = sim::SimConfig {
            max_page_size: self.max_page_size,
            seed: self.seed,
            scale,
            auth,
            faults,
            finish_abandoned: self.finish_abandoned,
            journal: self.journal,
            ..sim::SimConfig::default()
        };
        Ok((listen(&self.listen)?, config))
    }
}
