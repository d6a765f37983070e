//! The command line: every flag has an environment-variable twin, and every
//! value is validated into `common::config` types before anything starts.
//! No type here derives `Debug`: they hold the raw client secret.

mod auth;
mod bounds;
mod chaos;
mod hop;
mod loadtest;
mod membership;
mod metrics;
mod redis;
mod sim;
mod stdio;
mod surface;
mod tuning;

pub use auth::AuthArgs;
pub use bounds::BoundsArgs;
pub use hop::{HopArgs, WorkerGuardArgs};
pub use sim::SimArgs;
pub use stdio::StdioArgs;
pub use surface::SurfaceArgs;
pub use tuning::WorkerTuning;

use std::{net::SocketAddr, time::Duration};

use clap::{Args, Parser, Subcommand};
use common::config::{
    self, ConfigError, D365Config, D365Settings, EdgeConfig, Environments, LogFormat, WorkerConfig,
};

pub use chaos::ChaosArgs;
pub use loadtest::LoadtestArgs;
pub use membership::{HeartbeatArgs, MembersArgs};
pub use metrics::{MetricsArgs, MetricsListen, WORKER_METRICS_PORT};
pub use redis::{GlobalRedisArgs, RedisArgs};

/// d365mcp: MCP for Microsoft Dynamics 365 Finance & Operations, as a cluster.
#[derive(Parser)]
#[command(name = "d365mcp", version, about, long_about = None)]
pub struct Cli {
    /// Log format: `text` or `json`.
    #[arg(
        long,
        env = "D365MCP_LOG_FORMAT",
        default_value = "text",
        global = true
    )]
    pub log_format: String,
    /// Log filter when RUST_LOG is unset, e.g. `info` or `edge=debug,info`.
    #[arg(long, env = "D365MCP_LOG_LEVEL", default_value = "info", global = true)]
    pub log_level: String,
    /// OTLP/gRPC collector to export trace spans to, e.g. http://localhost:4317; off when unset.
    #[arg(long, env = "D365MCP_OTLP_ENDPOINT", global = true)]
    pub otlp_endpoint: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

/// The roles.
#[derive(Subcommand)]
pub enum Command {
    /// Everything in one process: simulator (unless D365FO_BASE_URL is set), worker and edge.
    Dev(DevArgs),
    /// An edge node: MCP over HTTP, dispatching tool calls to workers over gRPC.
    Edge(EdgeArgs),
    /// A worker node: executes tools against D365FO, serves gRPC.
    Worker(WorkerArgs),
    /// The D365FO simulator.
    Sim(SimArgs),
    /// MCP on stdin and stdout for a local client (Claude Desktop, VS Code), with the worker in this process.
    Stdio(StdioArgs),
    /// MCP load against running targets, with JSON, Markdown and SVG reports.
    Loadtest(LoadtestArgs),
    /// Faults (kill -9, SIGTERM, Redis restart) injected into a local cluster under load; audits every write.
    Chaos(ChaosArgs),
    /// Probes a node on this host over plain HTTP (the container image's HEALTHCHECK): exit 0 on a 2xx.
    Healthcheck(crate::healthcheck::HealthcheckArgs),
}

/// The D365FO connection, named as d365fo-client users know it.
#[derive(Clone, Args)]
pub struct D365Args {
    /// D365FO environment URL, e.g. https://contoso.operations.dynamics.com.
    #[arg(long = "d365fo-base-url", env = "D365FO_BASE_URL")]
    pub base_url: Option<String>,
    /// Entra ID application (client) id.
    #[arg(long = "d365fo-client-id", env = "D365FO_CLIENT_ID")]
    pub client_id: Option<String>,
    /// Entra ID client secret.
    #[arg(
        long = "d365fo-client-secret",
        env = "D365FO_CLIENT_SECRET",
        hide_env_values = true
    )]
    pub client_secret: Option<String>,
    /// Entra ID directory (tenant) id.
    #[arg(long = "d365fo-tenant-id", env = "D365FO_TENANT_ID")]
    pub tenant_id: Option<String>,
    /// Entra authority host (sovereign clouds); default https://login.microsoftonline.com.
    #[arg(long = "d365fo-authority-host", env = "D365FO_AUTHORITY_HOST")]
    pub authority_host: Option<String>,
    /// Name of this D365FO environment inside the cluster (tools' `environment` argument).
    #[arg(
        long = "environment-name",
        env = "D365MCP_ENVIRONMENT",
        default_value = "default"
    )]
    pub environment: String,
    /// A TOML file naming several D365FO environments (see README); instead of the D365FO_* settings.
    #[arg(long = "environments-file", env = "D365MCP_ENVIRONMENTS_FILE")]
    pub environments_file: Option<String>,
    /// Where the application's credentials come from: `environment` (the settings above) or `keyvault`.
    #[arg(long = "d365fo-credential-source", env = "D365FO_CREDENTIAL_SOURCE")]
    pub credential_source: Option<String>,
    /// Azure Key Vault holding the credentials, e.g. https://contoso-d365.vault.azure.net.
    #[arg(long = "d365fo-keyvault-url", env = "D365FO_KEYVAULT_URL")]
    pub keyvault_url: Option<String>,
    /// Name of the vault's secret holding the application (client) id.
    #[arg(
        long = "d365fo-keyvault-client-id-secret",
        env = "D365FO_KEYVAULT_CLIENT_ID_SECRET"
    )]
    pub keyvault_client_id_secret: Option<String>,
    /// Name of the vault's secret holding the client secret.
    #[arg(
        long = "d365fo-keyvault-client-secret-secret",
        env = "D365FO_KEYVAULT_CLIENT_SECRET_SECRET"
    )]
    pub keyvault_client_secret_secret: Option<String>,
    /// Name of the vault's secret holding the directory (tenant) id.
    #[arg(
        long = "d365fo-keyvault-tenant-id-secret",
        env = "D365FO_KEYVAULT_TENANT_ID_SECRET"
    )]
    pub keyvault_tenant_id_secret: Option<String>,
    /// Token audience of the vault; default from its host (https://vault.azure.net in Azure's public cloud).
    #[arg(long = "d365fo-keyvault-audience", env = "D365FO_KEYVAULT_AUDIENCE")]
    pub keyvault_audience: Option<String>,
    /// Identity reading the vault: `managed_identity` or `workload_identity` (default: workload identity in a pod that has one).
    #[arg(long = "d365fo-keyvault-identity", env = "D365FO_KEYVAULT_IDENTITY")]
    pub keyvault_identity: Option<String>,
}

impl D365Args {
    /// Every configured environment: from the environments file, or the one
    /// the `D365FO_*` settings describe; `None` when neither is set.
    pub fn environments(&self) -> Result<Option<Environments>, ConfigError> {
        let Some(path) = self.environments_file.as_deref().map(str::trim) else {
            return Ok(self.config()?.map(|d365| Environments {
                default: d365.name.clone(),
                all: vec![d365],
            }));
        };
        if self.base_url.is_some() {
            return Err(ConfigError::new(
                config::environments::KEY,
                "set either the environments file or D365FO_BASE_URL (--d365fo-base-url), not both",
            ));
        }
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::new(
                config::environments::KEY,
                format!("cannot read `{path}`: {e}"),
            )
        })?;
        config::environments::parse(&text, |var| std::env::var(var).ok()).map(Some)
    }

    fn settings(&self) -> D365Settings {
        D365Settings {
            base_url: self.base_url.clone(),
            client_id: self.client_id.clone(),
            client_secret: self.client_secret.clone(),
            tenant_id: self.tenant_id.clone(),
            authority_host: self.authority_host.clone(),
        }
    }

    fn keyvault(&self) -> config::keyvault::KeyVaultKeys {
        config::keyvault::KeyVaultKeys {
            url: self.keyvault_url.clone(),
            client_id_secret: self.keyvault_client_id_secret.clone(),
            client_secret_secret: self.keyvault_client_secret_secret.clone(),
            tenant_id_secret: self.keyvault_tenant_id_secret.clone(),
            audience: self.keyvault_audience.clone(),
            identity: self.keyvault_identity.clone(),
        }
    }

    /// The validated connection; `None` when no base URL is set.
    pub fn config(&self) -> Result<Option<D365Config>, ConfigError> {
        let name = self.environment.trim();
        config::environments::check_name("D365MCP_ENVIRONMENT (--environment-name)", name)?;
        const SOURCE: &str = "D365FO_CREDENTIAL_SOURCE (--d365fo-credential-source)";
        let source = self.credential_source.as_deref().map(str::trim);
        match source.map(str::to_ascii_lowercase).as_deref() {
            Some("keyvault") => {
                config::keyvault::d365_config(name, &self.settings(), &self.keyvault(), &|var| {
                    std::env::var(var).ok()
                })
                .map(Some)
            }
            None | Some("" | "environment") => match self.keyvault().first_given() {
                Some(key) => Err(ConfigError::new(
                    config::keyvault::env_key(key),
                    "is for D365FO_CREDENTIAL_SOURCE=keyvault, which is not set",
                )),
                None => D365Config::from_settings(name, &self.settings()),
            },
            Some(other) => Err(ConfigError::new(
                SOURCE,
                format!("`{other}` is not one of {}", config::keyvault::SOURCES),
            )),
        }
    }
}

/// `d365mcp dev`.
#[derive(Args)]
pub struct DevArgs {
    /// Where MCP is served (at /mcp).
    #[arg(long, env = "D365MCP_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    #[command(flatten)]
    pub auth: AuthArgs,
    #[command(flatten)]
    pub surface: SurfaceArgs,
    #[command(flatten)]
    pub d365: D365Args,
    #[command(flatten)]
    pub tuning: WorkerTuning,
    #[command(flatten)]
    pub metrics: MetricsArgs,
}

impl DevArgs {
    /// The validated configuration of the in-process edge: loopback-only
    /// defaults, no rate limits, and the same API keys as an `edge`.
    pub fn edge_config(&self) -> Result<EdgeConfig, ConfigError> {
        let mut config = EdgeConfig::local(listen(&self.listen)?);
        self.auth.apply(&mut config)?;
        self.surface.apply(&mut config)?;
        config.metrics_on_listener =
            self.metrics.listen(MetricsListen::Shared)? == MetricsListen::Shared;
        Ok(config)
    }
}

/// `d365mcp edge`.
#[derive(Args)]
pub struct EdgeArgs {
    /// Where MCP is served (at /mcp).
    #[arg(long, env = "D365MCP_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// gRPC URLs of the workers, comma-separated, e.g. http://worker-0:50051,http://worker-1:50051.
    /// Optional with --redis-url: the edge then follows the workers registered there.
    #[arg(long, env = "D365MCP_WORKERS")]
    pub workers: Option<String>,
    /// Host header values accepted, comma-separated (DNS-rebinding protection). `*` accepts any.
    #[arg(
        long,
        env = "D365MCP_ALLOWED_HOSTS",
        default_value = "localhost,127.0.0.1,::1"
    )]
    pub allowed_hosts: String,
    /// Browser origins accepted besides the server's own, comma-separated, e.g. https://app.example.com:443.
    #[arg(long, env = "D365MCP_ALLOWED_ORIGINS", default_value = "")]
    pub allowed_origins: String,
    /// Longest a tool call may run.
    #[arg(long, env = "D365MCP_CALL_TIMEOUT", default_value = "120s")]
    pub call_timeout: String,
    /// How often each worker's health is checked.
    #[arg(long, env = "D365MCP_HEALTH_INTERVAL", default_value = "2s")]
    pub health_interval: String,
    /// Largest accepted request body, in bytes.
    #[arg(long, env = "D365MCP_MAX_BODY_BYTES", default_value_t = 4 * 1024 * 1024)]
    pub max_body_bytes: usize,
    #[command(flatten)]
    pub auth: AuthArgs,
    #[command(flatten)]
    pub surface: SurfaceArgs,
    /// A session unused this long ends on every edge (sliding).
    #[arg(long, env = "D365MCP_SESSION_IDLE_TIMEOUT", default_value = "30m")]
    pub session_idle_timeout: String,
    /// This edge's in-memory copy of a session unused this long (with no
    /// stream open) is evicted, and restored from the store when used again.
    #[arg(long, env = "D365MCP_SESSION_EVICT_AFTER", default_value = "60s")]
    pub session_evict_after: String,
    /// After SIGTERM, how long calls in flight may take to finish.
    #[arg(long, env = "D365MCP_DRAIN_TIMEOUT", default_value = "25s")]
    pub drain_timeout: String,
    /// Most tool calls running on this edge at once; more are refused with
    /// 503 and Retry-After.
    #[arg(long, env = "D365MCP_MAX_CALLS_IN_FLIGHT", default_value_t = 1024)]
    pub max_calls_in_flight: usize,
    /// How long a write in a session is remembered under the key derived
    /// from its session, JSON-RPC id and arguments, so a resend is answered
    /// from the first attempt; 0 turns derived keys off. At most 24h.
    #[arg(long, env = "D365MCP_RETRY_WINDOW", default_value = "10m")]
    pub retry_window: String,
    /// TOML file of rate limits per API key, tenant and tool (see README).
    /// Without it generous defaults apply.
    #[arg(long = "rate-limits-file", env = "D365MCP_RATE_LIMITS_FILE")]
    pub rate_limits_file: Option<String>,
    /// While Redis cannot decide a rate limit: `open` (limit with this
    /// edge's own buckets) or `closed` (refuse with 503).
    #[arg(
        long = "rate-limit-on-store-error",
        env = "D365MCP_RATE_LIMIT_ON_STORE_ERROR",
        default_value = "open"
    )]
    pub rate_limit_on_store_error: String,
    #[command(flatten)]
    pub bounds: BoundsArgs,
    #[command(flatten)]
    pub redis: RedisArgs,
    #[command(flatten)]
    pub members: MembersArgs,
    #[command(flatten)]
    pub hop: HopArgs,
    #[command(flatten)]
    pub metrics: MetricsArgs,
}

/// `d365mcp worker`.
#[derive(Args)]
pub struct WorkerArgs {
    /// Where the gRPC service listens.
    #[arg(long, env = "D365MCP_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: String,
    #[command(flatten)]
    pub d365: D365Args,
    #[command(flatten)]
    pub tuning: WorkerTuning,
    #[command(flatten)]
    pub redis: RedisArgs,
    #[command(flatten)]
    pub global: GlobalRedisArgs,
    #[command(flatten)]
    pub heartbeat: HeartbeatArgs,
    #[command(flatten)]
    pub guard: WorkerGuardArgs,
    #[command(flatten)]
    pub metrics: MetricsArgs,
    /// After SIGTERM, how long calls in flight may take to finish before
    /// they are stopped; keep it below the pod's termination grace period.
    #[arg(long, env = "D365MCP_DRAIN_TIMEOUT", default_value = "25s")]
    pub drain_timeout: String,
}

const LISTEN: &str = "D365MCP_LISTEN (--listen)";

impl Cli {
    /// The validated log format.
    pub fn log_format(&self) -> Result<LogFormat, ConfigError> {
        LogFormat::parse("D365MCP_LOG_FORMAT (--log-format)", &self.log_format)
    }

    /// Where spans are exported, as `d365mcp-<role>`; `None` when no
    /// endpoint is set (or it is set empty).
    pub fn otlp(&self) -> Result<Option<common::telemetry::Otlp>, ConfigError> {
        let Some(endpoint) = self
            .otlp_endpoint
            .as_deref()
            .filter(|e| !e.trim().is_empty())
        else {
            return Ok(None);
        };
        let role = match self.command {
            Command::Dev(_) => "dev",
            Command::Edge(_) => "edge",
            Command::Worker(_) => "worker",
            Command::Sim(_) => "sim",
            Command::Stdio(_) => "stdio",
            Command::Loadtest(_) => "loadtest",
            Command::Chaos(_) => "chaos",
            // A probe every few seconds has no spans worth exporting.
            Command::Healthcheck(_) => return Ok(None),
        };
        common::telemetry::Otlp::new(endpoint, &format!("d365mcp-{role}")).map(Some)
    }
}

/// Parses `--listen`.
pub fn listen(raw: &str) -> Result<SocketAddr, ConfigError> {
    config::parse_listen(LISTEN, raw)
}

impl EdgeArgs {
    /// The validated edge configuration.
    pub fn config(&self) -> Result<EdgeConfig, ConfigError> {
        let mut config = EdgeConfig::local(listen(&self.listen)?);
        config.workers =
            membership::edge_workers(self.workers.as_deref(), self.redis.redis_url.is_some())?;
        config.members_refresh = self.members.refresh()?;
        let hosts = config::parse_list(&self.allowed_hosts);
        config.allowed_hosts = if hosts.iter().any(|h| h == "*") {
            Vec::new()
        } else {
            hosts
        };
        config.allowed_origins = config::parse_list(&self.allowed_origins);
        for origin in &config.allowed_origins {
            if let Some(reason) = edge::origin::invalid_origin(origin) {
                return Err(ConfigError::new(
                    "D365MCP_ALLOWED_ORIGINS (--allowed-origins)",
                    reason,
                ));
            }
        }
        config.call_timeout =
            positive("D365MCP_CALL_TIMEOUT (--call-timeout)", &self.call_timeout)?;
        config.health_interval = positive(
            "D365MCP_HEALTH_INTERVAL (--health-interval)",
            &self.health_interval,
        )?;
        config.max_body_bytes = max_body_bytes(self.max_body_bytes)?;
        config.session_idle_timeout = positive(
            "D365MCP_SESSION_IDLE_TIMEOUT (--session-idle-timeout)",
            &self.session_idle_timeout,
        )?;
        config.session_evict_after = positive(
            "D365MCP_SESSION_EVICT_AFTER (--session-evict-after)",
            &self.session_evict_after,
        )?;
        config.drain_timeout = config::parse_duration(
            "D365MCP_DRAIN_TIMEOUT (--drain-timeout)",
            &self.drain_timeout,
        )?;
        if !(1..=1_000_000).contains(&self.max_calls_in_flight) {
            return Err(ConfigError::new(
                "D365MCP_MAX_CALLS_IN_FLIGHT (--max-calls-in-flight)",
                format!("{} is out of range 1..=1000000", self.max_calls_in_flight),
            ));
        }
        config.max_calls_in_flight = self.max_calls_in_flight;
        config.retry_window = EdgeConfig::parse_retry_window(&self.retry_window)?;
        self.bounds.apply(&mut config)?;
        self.auth.apply(&mut config)?;
        self.surface.apply(&mut config)?;
        config.rate_limits = match &self.rate_limits_file {
            Some(path) => config::limits::load(path)?,
            None => config::RateLimits::defaults(),
        };
        config.rate_limits.on_store_error =
            config::StoreErrorPolicy::parse(&self.rate_limit_on_store_error)?;
        config.rate_limits.check_principals(&config.api_keys)?;
        self.hop.apply_edge(&mut config)?;
        config.metrics_on_listener =
            self.metrics.listen(MetricsListen::Shared)? == MetricsListen::Shared;
        Ok(config)
    }
}

impl WorkerArgs {
    /// The validated worker configuration.
    pub fn config(&self) -> Result<WorkerConfig, ConfigError> {
        let Some(environments) = self.d365.environments()? else {
            return Err(ConfigError::new(
                common::config::keys::BASE_URL,
                "required for a worker: set it to the environment URL (or a simulator's, e.g. \
                 http://127.0.0.1:8090), or name several environments in D365MCP_ENVIRONMENTS_FILE",
            ));
        };
        let Some(first) = environments.all.first().cloned() else {
            return Err(ConfigError::new(
                config::environments::KEY,
                "names no environment",
            ));
        };
        let config =
            WorkerConfig::new(listen(&self.listen)?, first).with_environments(environments);
        let mut config = self.tuning.apply(config)?;
        self.guard.apply(&mut config)?;
        config.drain_timeout = config::parse_duration(
            "D365MCP_DRAIN_TIMEOUT (--drain-timeout)",
            &self.drain_timeout,
        )?;
        Ok(config)
    }
}

/// Validates `--max-body-bytes`.
pub(crate) fn max_body_bytes(bytes: usize) -> Result<usize, ConfigError> {
    if bytes < 1024 {
        return Err(ConfigError::new(
            "D365MCP_MAX_BODY_BYTES (--max-body-bytes)",
            "must be at least 1024",
        ));
    }
    Ok(bytes)
}

pub(crate) fn positive(key: &str, raw: &str) -> Result<Duration, ConfigError> {
    let d = config::parse_duration(key, raw)?;
    if d.is_zero() {
        return Err(ConfigError::new(key, "must be greater than zero"));
    }
    Ok(d)
}
