//! What one client may hold of an edge: connections (and how long an idle
//! or slow one is kept), sessions and legacy streams.
//!
//! Each bound is a setting with an environment variable and a flag (README,
//! *Settings*); the defaults let a busy client through and stop a flood.

use std::time::Duration;

use super::ConfigError;

/// Connection-level limits of an edge's HTTP listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Longest a client may take to send a request's headers, counted from
    /// the accept or the end of its previous request; slower connections
    /// are closed (an idle HTTP/1.1 keep-alive connection too).
    pub header_read_timeout: Duration,
    /// A connection with no request in flight for this long is closed: what
    /// bounds an idle HTTP/2 connection.
    pub idle_timeout: Duration,
    /// Most connections open at once; one more is answered 503 and closed.
    /// Lowered at start to fit the process's open-file limit.
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 10_000,
        }
    }
}

/// Setting names, for error messages and docs.
pub mod bounds_keys {
    /// [`super::ConnectionLimits::header_read_timeout`].
    pub const HEADER_READ_TIMEOUT: &str = "D365MCP_HEADER_READ_TIMEOUT (--header-read-timeout)";
    /// [`super::ConnectionLimits::idle_timeout`].
    pub const IDLE_TIMEOUT: &str = "D365MCP_IDLE_TIMEOUT (--idle-timeout)";
    /// [`super::ConnectionLimits::max_connections`].
    pub const MAX_CONNECTIONS: &str = "D365MCP_MAX_CONNECTIONS (--max-connections)";
    /// [`super::SessionCaps::per_key`].
    pub const SESSIONS_PER_KEY: &str = "D365MCP_MAX_SESSIONS_PER_KEY (--max-sessions-per-key)";
    /// [`super::SessionCaps::per_tenant`].
    pub const SESSIONS_PER_TENANT: &str =
        "D365MCP_MAX_SESSIONS_PER_TENANT (--max-sessions-per-tenant)";
    /// [`super::SessionCaps::streams_per_key`].
    pub const STREAMS_PER_KEY: &str = "D365MCP_MAX_STREAMS_PER_KEY (--max-streams-per-key)";
    /// [`super::SessionCaps::streams_per_tenant`].
    pub const STREAMS_PER_TENANT: &str =
        "D365MCP_MAX_STREAMS_PER_TENANT (--max-streams-per-tenant)";
}

/// Most sessions and legacy streams one API key and one tenant may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionCaps {
    /// 2025 sessions open at once per API key (principal), cluster-wide.
    pub per_key: u32,
    /// 2025 sessions open at once per tenant, cluster-wide.
    pub per_tenant: u32,
    /// Legacy `GET /sse` streams open at once per API key, on one edge.
    pub streams_per_key: u32,
    /// Legacy `GET /sse` streams open at once per tenant, on one edge.
    pub streams_per_tenant: u32,
}

impl Default for SessionCaps {
    fn default() -> Self {
        Self {
            per_key: 256,
            per_tenant: 2048,
            streams_per_key: 64,
            streams_per_tenant: 512,
        }
    }
}

/// Largest value of any of the caps.
pub const MAX_CAP: u32 = 1_000_000;

impl ConnectionLimits {
    /// Checks the limits, naming the bad setting.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.header_read_timeout.is_zero() {
            return Err(ConfigError::new(
                bounds_keys::HEADER_READ_TIMEOUT,
                "must be longer than zero",
            ));
        }
        if self.idle_timeout.is_zero() {
            return Err(ConfigError::new(
                bounds_keys::IDLE_TIMEOUT,
                "must be longer than zero",
            ));
        }
        if !(1..=MAX_CAP as usize).contains(&self.max_connections) {
            return Err(ConfigError::new(
                bounds_keys::MAX_CONNECTIONS,
                format!("{} is out of range 1..={MAX_CAP}", self.max_connections),
            ));
        }
        Ok(())
    }
}

impl SessionCaps {
    /// Checks the caps, naming the bad setting.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (key, value) in [
            (bounds_keys::SESSIONS_PER_KEY, self.per_key),
            (bounds_keys::SESSIONS_PER_TENANT, self.per_tenant),
            (bounds_keys::STREAMS_PER_KEY, self.streams_per_key),
            (bounds_keys::STREAMS_PER_TENANT, self.streams_per_tenant),
        ] {
            if !(1..=MAX_CAP).contains(&value) {
                return Err(ConfigError::new(
                    key,
                    format!("{value} is out of range 1..={MAX_CAP}"),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid_and_zero_is_refused_by_name() {
        assert!(ConnectionLimits::default().validate().is_ok());
        assert!(SessionCaps::default().validate().is_ok());
        let zero = SessionCaps {
            streams_per_tenant: 0,
            ..SessionCaps::default()
        };
        assert!(
            zero.validate()
                .unwrap_err()
                .key
                .contains("STREAMS_PER_TENANT")
        );
        let idle = ConnectionLimits {
            idle_timeout: Duration::ZERO,
            ..ConnectionLimits::default()
        };
        assert!(idle.validate().unwrap_err().key.contains("IDLE_TIMEOUT"));
    }
}
