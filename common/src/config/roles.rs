//! Per-role configuration, validated by the CLI before a role starts.

use std::{net::SocketAddr, time::Duration};

use url::Url;

use super::{ApiKey, BreakerConfig, CacheConfig, D365Config, FailureLimit, RateLimits};

/// Configuration of an edge node.
#[derive(Debug, Clone)]
pub struct EdgeConfig {
    /// Where MCP is served.
    pub listen: SocketAddr,
    /// gRPC endpoints of the workers; empty to follow the workers that
    /// register in the shared store instead.
    pub workers: Vec<Url>,
    /// How often the live workers are read from the shared store (when
    /// `workers` is empty).
    pub members_refresh: Duration,
    /// `Host` header values accepted (DNS-rebinding protection).
    pub allowed_hosts: Vec<String>,
    /// Browser `Origin`s accepted besides the server's own; a request without `Origin` is always accepted.
    pub allowed_origins: Vec<String>,
    /// Longest a tool call may run before it is cancelled.
    pub call_timeout: Duration,
    /// How often each worker's health is checked.
    pub health_interval: Duration,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Accepted API keys; empty accepts every caller as `anonymous`.
    pub api_keys: Vec<ApiKey>,
    /// Which environments and tools each key may use (from the keys file).
    pub policy: super::Policy,
    /// OAuth bearer tokens accepted besides the keys; `None` (off) by default.
    pub oauth: Option<super::OAuthConfig>,
    /// Signs each call to a worker (`D365MCP_INTERNAL_SECRET`); without it
    /// calls go unsigned, which only a worker without the secret accepts.
    pub internal_secret: Option<crate::assertion::InternalSecret>,
    /// Failed authentications one client address may make before it is
    /// refused for the rest of the window.
    pub auth_failures: FailureLimit,
    /// Header-read and idle timeouts, and most connections at once.
    pub connections: super::ConnectionLimits,
    /// Most sessions and legacy streams per API key and per tenant.
    pub session_caps: super::SessionCaps,
    /// A session unused this long ends (on every edge).
    pub session_idle_timeout: Duration,
    /// An edge's in-memory copy of a session unused this long, with no
    /// stream open, is evicted; the session's next request restores it from
    /// the store (on any edge).
    pub session_evict_after: Duration,
    /// After SIGTERM, how long tool calls in flight may take to finish
    /// before they are answered as abandoned.
    pub drain_timeout: Duration,
    /// Most tool calls running on this edge at once; one more is refused
    /// with 503 and `Retry-After` rather than queued.
    pub max_calls_in_flight: usize,
    /// How long a write in a session is remembered under the key derived
    /// from it (session, JSON-RPC id, tool and arguments), so that a resend
    /// is answered from the first attempt; zero derives no keys.
    pub retry_window: Duration,
    /// Rate limits per principal, tenant and tool (off in `local`).
    pub rate_limits: RateLimits,
    /// The toolsets `tools/list` shows a caller whose key or tenant chooses
    /// none in the keys file (`D365MCP_TOOLSETS`).
    pub toolsets: crate::catalogue::Toolsets,
    /// Whether `tools/list` carries each tool's `outputSchema`
    /// (`D365MCP_TOOL_OUTPUT_SCHEMAS`); results carry `structuredContent`
    /// either way.
    pub output_schemas: bool,
    /// Whether changes to existing data wait for the user's confirmation,
    /// for a caller whose key or tenant says nothing (`D365MCP_CONFIRM_WRITES`).
    pub writes: super::policy::Writes,
    /// Longest a call waits for its user's confirmation.
    pub confirm_timeout: Duration,
    /// Whether `/metrics` and `/metrics/cluster` are served on `listen`
    /// (behind an operator key); false when they have a listener of their
    /// own (`D365MCP_METRICS_LISTEN`).
    pub metrics_on_listener: bool,
}

impl EdgeConfig {
    /// The defaults of a loopback-only edge with no workers yet, and no
    /// rate limits (the `edge` command applies `RateLimits::defaults`).
    pub fn local(listen: SocketAddr) -> Self {
        Self {
            listen,
            workers: Vec::new(),
            members_refresh: Duration::from_secs(1),
            allowed_hosts: vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
            allowed_origins: Vec::new(),
            call_timeout: Duration::from_secs(120),
            health_interval: Duration::from_secs(2),
            max_body_bytes: 4 * 1024 * 1024,
            api_keys: Vec::new(),
            policy: super::Policy::default(),
            oauth: None,
            internal_secret: None,
            auth_failures: FailureLimit::default(),
            connections: super::ConnectionLimits::default(),
            session_caps: super::SessionCaps::default(),
            session_idle_timeout: Duration::from_secs(30 * 60),
            session_evict_after: Duration::from_secs(60),
            // Inside Kubernetes' default 30 s grace period, with room to exit.
            drain_timeout: Duration::from_secs(25),
            max_calls_in_flight: 1024,
            retry_window: Duration::from_secs(10 * 60),
            rate_limits: RateLimits::off(),
            metrics_on_listener: true,
            toolsets: crate::catalogue::Toolsets::DEFAULT,
            output_schemas: false,
            writes: super::policy::Writes::Auto,
            confirm_timeout: Duration::from_secs(300),
        }
    }

    /// Parses `D365MCP_RETRY_WINDOW`: a duration of at most
    /// [`MAX_RETRY_WINDOW`]; `0` turns derived keys off.
    pub fn parse_retry_window(raw: &str) -> Result<Duration, super::ConfigError> {
        const KEY: &str = "D365MCP_RETRY_WINDOW (--retry-window)";
        let window = super::parse_duration(KEY, raw)?;
        if window > MAX_RETRY_WINDOW {
            return Err(super::ConfigError::new(
                KEY,
                format!(
                    "`{}` is longer than the workers keep a write's records (24h)",
                    raw.trim()
                ),
            ));
        }
        Ok(window)
    }
}

/// Longest retry window: the workers keep a write's records (its claim, its
/// keyed attempt) a day.
pub const MAX_RETRY_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);

#[cfg(test)]
mod retry_window_tests {
    use super::*;

    #[test]
    fn a_retry_window_is_a_duration_of_at_most_a_day() {
        let parse = EdgeConfig::parse_retry_window;
        assert_eq!(parse("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse("0"), Ok(Duration::ZERO), "off");
        assert_eq!(parse("24h"), Ok(MAX_RETRY_WINDOW));
        for bad in ["25h", "soon", "-1s"] {
            let err = parse(bad).unwrap_err();
            assert!(err.key.contains("D365MCP_RETRY_WINDOW"), "{bad}: {err}");
        }
    }
}

/// Configuration of a worker node.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Where the gRPC service listens.
    pub listen: SocketAddr,
    /// The D365FO environments this worker serves (at least one).
    pub environments: Vec<D365Config>,
    /// The environment of calls that name none.
    pub default_environment: String,
    /// Timeout of one HTTP request to D365FO.
    pub request_timeout: Duration,
    /// Timeout to open a connection to D365FO.
    pub connect_timeout: Duration,
    /// Most rows a query tool returns in one call before handing back a cursor.
    pub max_rows: usize,
    /// The metadata and label cache.
    pub cache: CacheConfig,
    /// When a failing D365FO environment stops being sent to.
    pub breaker: BreakerConfig,
    /// Which environments and tools each key may use: checked again here,
    /// from the principal and tenant each call carries.
    pub policy: super::Policy,
    /// Calls over gRPC must carry an assertion signed with it; `None`
    /// accepts unsigned calls.
    pub internal_secret: Option<crate::assertion::InternalSecret>,
    /// After SIGTERM, how long calls in flight (and keyed writes whose
    /// callers left) may take before the worker stops them.
    pub drain_timeout: Duration,
}

impl WorkerConfig {
    /// Sensible defaults for one environment, `d365`, on `listen`.
    pub fn new(listen: SocketAddr, d365: D365Config) -> Self {
        Self {
            listen,
            default_environment: d365.name.clone(),
            environments: vec![d365],
            request_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            max_rows: 1000,
            cache: CacheConfig::default(),
            breaker: BreakerConfig::default(),
            policy: super::Policy::default(),
            internal_secret: None,
            // Inside Kubernetes' default 30 s grace period, as the edge's.
            drain_timeout: Duration::from_secs(25),
        }
    }

    /// The same configuration serving `environments` instead.
    pub fn with_environments(mut self, environments: super::Environments) -> Self {
        self.environments = environments.all;
        self.default_environment = environments.default;
        self
    }
}
