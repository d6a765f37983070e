//! Where a node serves its metrics, and how often it publishes them for the
//! cluster's aggregate.

use std::{net::SocketAddr, time::Duration};

use clap::Args;
use common::config::{self, ConfigError};

const LISTEN: &str = "D365MCP_METRICS_LISTEN (--metrics-listen)";
const INTERVAL: &str = "D365MCP_METRICS_PUBLISH_INTERVAL (--metrics-publish-interval)";

/// The port a worker serves `/metrics` on when no listener is configured
/// (OpenTelemetry's Prometheus exporter port).
pub const WORKER_METRICS_PORT: u16 = 9464;

/// Metrics settings of every serving role.
#[derive(Args)]
pub struct MetricsArgs {
    /// Where /metrics and /metrics/cluster are served, without authentication
    /// (keep it private), e.g. 0.0.0.0:9464; `off` for none. Unset: an edge
    /// serves them on its MCP listener (operator key), a worker on port 9464
    /// of its gRPC address.
    #[arg(long = "metrics-listen", env = "D365MCP_METRICS_LISTEN")]
    pub metrics_listen: Option<String>,
    /// How often this node publishes its metrics to the shared store for
    /// /metrics/cluster and d365fo_get_performance_stats (a dead node ages out
    /// after three intervals).
    #[arg(
        long = "metrics-publish-interval",
        env = "D365MCP_METRICS_PUBLISH_INTERVAL",
        default_value = "5s"
    )]
    pub metrics_publish_interval: String,
}

/// Where a role serves its metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsListen {
    /// On a listener of their own.
    At(SocketAddr),
    /// On the role's own HTTP listener (an edge's).
    Shared,
    /// Nowhere.
    Off,
}

impl MetricsArgs {
    /// The validated listener; `default` when unset.
    pub fn listen(&self, default: MetricsListen) -> Result<MetricsListen, ConfigError> {
        match self.metrics_listen.as_deref().map(str::trim) {
            None | Some("") => Ok(default),
            Some("off") => Ok(MetricsListen::Off),
            Some(raw) => config::parse_listen(LISTEN, raw).map(MetricsListen::At),
        }
    }

    /// The validated publish interval: from 100 ms to 5 minutes.
    pub fn publish_interval(&self) -> Result<Duration, ConfigError> {
        let interval = config::parse_duration(INTERVAL, &self.metrics_publish_interval)?;
        if !(Duration::from_millis(100)..=Duration::from_secs(300)).contains(&interval) {
            return Err(ConfigError::new(
                INTERVAL,
                format!(
                    "`{}` is outside 100ms..=5m",
                    self.metrics_publish_interval.trim()
                ),
            ));
        }
        Ok(interval)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(listen: Option<&str>, interval: &str) -> MetricsArgs {
        MetricsArgs {
            metrics_listen: listen.map(str::to_owned),
            metrics_publish_interval: interval.into(),
        }
    }

    #[test]
    fn the_listener_is_an_address_off_or_the_default() {
        let default = MetricsListen::Shared;
        assert_eq!(args(None, "5s").listen(default), Ok(default));
        assert_eq!(
            args(Some("off"), "5s").listen(default),
            Ok(MetricsListen::Off)
        );
        assert_eq!(
            args(Some("127.0.0.1:0"), "5s").listen(default),
            Ok(MetricsListen::At(SocketAddr::from(([127, 0, 0, 1], 0))))
        );
        let err = args(Some("nowhere"), "5s").listen(default).unwrap_err();
        assert!(err.key.contains("D365MCP_METRICS_LISTEN"), "{err}");
    }

    #[test]
    fn the_publish_interval_is_bounded() {
        assert_eq!(
            args(None, "250ms").publish_interval(),
            Ok(Duration::from_millis(250))
        );
        for bad in ["0", "10ms", "1h", "often"] {
            let err = args(None, bad).publish_interval().unwrap_err();
            assert!(err.key.contains("PUBLISH_INTERVAL"), "{bad}: {err}");
        }
    }
}
