//! Membership settings: how a worker announces itself, how often an edge
//! looks. Only used with a shared store (`D365MCP_REDIS_URL`).

use std::{net::SocketAddr, time::Duration};

use url::Url;

use super::ConfigError;

/// The settings, as an operator spells them.
pub mod membership_keys {
    /// The URL a worker advertises.
    pub const ADVERTISE_URL: &str = "D365MCP_ADVERTISE_URL (--advertise-url)";
    /// How often a worker renews its lease.
    pub const HEARTBEAT_INTERVAL: &str = "D365MCP_HEARTBEAT_INTERVAL (--heartbeat-interval)";
    /// A worker's lease.
    pub const HEARTBEAT_TTL: &str = "D365MCP_HEARTBEAT_TTL (--heartbeat-ttl)";
    /// How often an edge reads the live workers.
    pub const MEMBERS_REFRESH: &str = "D365MCP_MEMBERS_REFRESH (--members-refresh)";
}

use membership_keys as keys;

/// How a worker keeps its membership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatConfig {
    /// The gRPC URL edges dial; `None` derives it from the bound address.
    pub advertise_url: Option<Url>,
    /// How often the lease is renewed.
    pub interval: Duration,
    /// How long a lease lasts: how soon edges drop a worker that died.
    pub ttl: Duration,
}

impl HeartbeatConfig {
    /// Checks the settings against each other and against `listen`, the
    /// address the worker will bind.
    pub fn validate(&self, listen: SocketAddr) -> Result<(), ConfigError> {
        if self.ttl < self.interval * 2 {
            return Err(ConfigError::new(
                keys::HEARTBEAT_TTL,
                format!(
                    "{:?} must be at least twice the heartbeat interval ({:?}), or one late \
                     heartbeat drops a live worker",
                    self.ttl, self.interval
                ),
            ));
        }
        if self.advertise_url.is_none() && listen.ip().is_unspecified() {
            return Err(ConfigError::new(
                keys::ADVERTISE_URL,
                format!(
                    "required when listening on {listen}: edges cannot dial an unspecified \
                     address; set the URL they reach this worker at, e.g. http://worker-0:{}",
                    listen.port()
                ),
            ));
        }
        Ok(())
    }

    /// The URL to advertise once bound to `bound`.
    pub fn advertise_url(&self, bound: SocketAddr) -> Result<Url, ConfigError> {
        match &self.advertise_url {
            Some(url) => Ok(url.clone()),
            None => Url::parse(&format!("http://{bound}")).map_err(|e| {
                ConfigError::new(keys::ADVERTISE_URL, format!("cannot derive it: {e}"))
            }),
        }
    }
}

/// Parses `--advertise-url`: one `http(s)://host:port` URL.
pub fn parse_advertise_url(raw: &str) -> Result<Url, ConfigError> {
    let urls = super::parse_worker_urls(keys::ADVERTISE_URL, raw)?;
    match urls.as_slice() {
        [url] if url.path() == "/" => Ok(url.clone()),
        [_] => Err(ConfigError::new(
            keys::ADVERTISE_URL,
            format!("`{raw}` must have no path: gRPC is served at the root"),
        )),
        _ => Err(ConfigError::new(
            keys::ADVERTISE_URL,
            format!("`{raw}` must be exactly one URL, e.g. http://worker-0:50051"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(advertise: Option<&str>, interval_ms: u64, ttl_ms: u64) -> HeartbeatConfig {
        HeartbeatConfig {
            advertise_url: advertise.map(|u| parse_advertise_url(u).unwrap()),
            interval: Duration::from_millis(interval_ms),
            ttl: Duration::from_millis(ttl_ms),
        }
    }

    #[test]
    fn the_url_is_derived_from_a_specific_bound_address() {
        let loopback: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let c = config(None, 1000, 5000);
        assert!(c.validate(loopback).is_ok());
        let bound: SocketAddr = "127.0.0.1:50051".parse().unwrap();
        assert_eq!(
            c.advertise_url(bound).unwrap().as_str(),
            "http://127.0.0.1:50051/"
        );
        let v6: SocketAddr = "[::1]:7".parse().unwrap();
        assert_eq!(c.advertise_url(v6).unwrap().as_str(), "http://[::1]:7/");
    }

    #[test]
    fn an_unspecified_listen_address_needs_an_advertised_url() {
        for any in ["0.0.0.0:50051", "[::]:50051"] {
            let listen: SocketAddr = any.parse().unwrap();
            let err = config(None, 1000, 5000).validate(listen).unwrap_err();
            assert_eq!(err.key, keys::ADVERTISE_URL, "{any}");
            let c = config(Some("http://worker-0:50051"), 1000, 5000);
            assert!(c.validate(listen).is_ok());
            assert_eq!(
                c.advertise_url(listen).unwrap().as_str(),
                "http://worker-0:50051/"
            );
        }
    }

    #[test]
    fn a_lease_shorter_than_two_heartbeats_is_refused() {
        let listen: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let err = config(None, 1000, 1999).validate(listen).unwrap_err();
        assert_eq!(err.key, keys::HEARTBEAT_TTL);
        assert!(config(None, 1000, 2000).validate(listen).is_ok());
    }

    #[test]
    fn advertised_urls_are_single_dialable_urls() {
        assert!(parse_advertise_url("https://w.example.com:443").is_ok());
        for bad in [
            "",
            "w:1",
            "ftp://w:1",
            "http://a:1,http://b:2",
            "http://w:1/grpc",
        ] {
            let err = parse_advertise_url(bad).unwrap_err();
            assert_eq!(err.key, keys::ADVERTISE_URL, "{bad:?}");
        }
    }
}
