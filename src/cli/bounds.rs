//! What one client may hold of an edge: the flags of
//! `common::config::bounds` (connections, sessions, legacy streams).

use clap::Args;
use common::config::{self, ConfigError, ConnectionLimits, EdgeConfig, SessionCaps, bounds_keys};

/// Connection timeouts and limit, and the session and stream caps.
#[derive(Clone, Args)]
pub struct BoundsArgs {
    /// Longest a client may take to send a request's headers, from the
    /// accept or its previous request; slower (or idle HTTP/1.1) connections
    /// are closed.
    #[arg(long, env = "D365MCP_HEADER_READ_TIMEOUT", default_value = "10s")]
    pub header_read_timeout: String,
    /// An HTTP/2 connection with no request in flight this long is closed.
    #[arg(long, env = "D365MCP_IDLE_TIMEOUT", default_value = "60s")]
    pub idle_timeout: String,
    /// Most connections open at once (lowered to fit the open-file limit);
    /// one more is answered 503 and closed.
    #[arg(long, env = "D365MCP_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,
    /// Most 2025 sessions open at once per API key, cluster-wide.
    #[arg(long, env = "D365MCP_MAX_SESSIONS_PER_KEY", default_value_t = 256)]
    pub max_sessions_per_key: u32,
    /// Most 2025 sessions open at once per tenant, cluster-wide.
    #[arg(long, env = "D365MCP_MAX_SESSIONS_PER_TENANT", default_value_t = 2048)]
    pub max_sessions_per_tenant: u32,
    /// Most legacy GET /sse streams open at once per API key, on one edge.
    #[arg(long, env = "D365MCP_MAX_STREAMS_PER_KEY", default_value_t = 64)]
    pub max_streams_per_key: u32,
    /// Most legacy GET /sse streams open at once per tenant, on one edge.
    #[arg(long, env = "D365MCP_MAX_STREAMS_PER_TENANT", default_value_t = 512)]
    pub max_streams_per_tenant: u32,
}

impl BoundsArgs {
    /// Sets `config`'s connection limits and caps, validated.
    pub fn apply(&self, config: &mut EdgeConfig) -> Result<(), ConfigError> {
        let connections = ConnectionLimits {
            header_read_timeout: config::parse_duration(
                bounds_keys::HEADER_READ_TIMEOUT,
                &self.header_read_timeout,
            )?,
            idle_timeout: config::parse_duration(bounds_keys::IDLE_TIMEOUT, &self.idle_timeout)?,
            max_connections: self.max_connections,
        };
        connections.validate()?;
        let caps = SessionCaps {
            per_key: self.max_sessions_per_key,
            per_tenant: self.max_sessions_per_tenant,
            streams_per_key: self.max_streams_per_key,
            streams_per_tenant: self.max_streams_per_tenant,
        };
        caps.validate()?;
        config.connections = connections;
        config.session_caps = caps;
        Ok(())
    }
}
