//! Typed configuration of every role, validated once at start-up.
//!
//! The command line (flags with environment-variable twins) is parsed in the
//! binary; the raw strings land here, and every constructor returns a
//! [`ConfigError`] that names the setting at fault, so an operator reads
//! `invalid configuration: D365FO_BASE_URL (--d365fo-base-url): ...` and knows
//! what to fix.

pub mod auth;
mod bounds;
mod breaker;
mod cache;
pub mod credentials;
mod d365;
pub mod environments;
pub mod exposure;
pub mod internal;
pub mod keyvault;
pub mod limits;
mod membership;
pub mod oauth;
pub mod policy;
mod policy_listing;
mod policy_sets;
mod policy_writes;
mod roles;

use std::{
    fmt,
    net::{SocketAddr, ToSocketAddrs},
    time::Duration,
};

use url::Url;

pub use auth::ApiKey;
pub use bounds::{ConnectionLimits, MAX_CAP, SessionCaps, bounds_keys};
pub use breaker::{BreakerConfig, breaker_keys};
pub use cache::{CacheConfig, cache_keys};
pub use credentials::{CredentialKind, OnBehalfOf};
pub use d365::{ClientCredentials, D365Config, D365Settings, keys};
pub use environments::Environments;
pub use exposure::FailureLimit;
pub use keyvault::{KeyVaultSource, VaultIdentity};
pub use limits::{RateLimits, StoreErrorPolicy};
pub use membership::{HeartbeatConfig, membership_keys, parse_advertise_url};
pub use oauth::{OAuthConfig, OAuthSettings};
pub use policy::Policy;
pub use roles::{EdgeConfig, WorkerConfig};

/// A setting is missing, malformed or inconsistent with another.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration: {key}: {reason}")]
pub struct ConfigError {
    /// The setting, as an operator spells it (environment variable and flag).
    pub key: String,
    /// What is wrong and what would be right.
    pub reason: String,
}

impl ConfigError {
    /// An error about `key`.
    pub fn new(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

/// A secret value: usable, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

impl LogFormat {
    /// Parses `text` or `json`.
    pub fn parse(key: &str, value: &str) -> Result<Self, ConfigError> {
        match value.trim().to_ascii_lowercase().as_str() {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            other => Err(ConfigError::new(
                key,
                format!("`{other}` is not a log format; use `text` or `json`"),
            )),
        }
    }
}

/// Parses an `http`/`https` base URL with a host and no query or fragment.
pub fn parse_base_url(key: &str, raw: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(raw.trim())
        .map_err(|e| ConfigError::new(key, format!("`{raw}` is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ConfigError::new(
            key,
            format!("`{raw}` must start with https:// (or http:// for a local simulator)"),
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(ConfigError::new(key, format!("`{raw}` has no host")));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ConfigError::new(
            key,
            format!("`{raw}` must not carry a query or fragment"),
        ));
    }
    Ok(url)
}

/// Parses `HOST:PORT` (an IP address or a resolvable name).
pub fn parse_listen(key: &str, raw: &str) -> Result<SocketAddr, ConfigError> {
    let raw = raw.trim();
    if let Ok(addr) = raw.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let bad = |why: String| ConfigError::new(key, format!("`{raw}` is not HOST:PORT: {why}"));
    if raw.rsplit_once(':').is_none() {
        return Err(bad("no port".into()));
    }
    raw.to_socket_addrs()
        .map_err(|e| bad(e.to_string()))?
        .next()
        .ok_or_else(|| bad("the host resolves to no address".into()))
}

/// Parses a comma-separated list of gRPC worker URLs (`http://host:port`).
pub fn parse_worker_urls(key: &str, raw: &str) -> Result<Vec<Url>, ConfigError> {
    let mut urls = Vec::new();
    for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let url = parse_base_url(key, part)?;
        if url.port_or_known_default().is_none() {
            return Err(ConfigError::new(key, format!("`{part}` has no port")));
        }
        if !urls.contains(&url) {
            urls.push(url);
        }
    }
    Ok(urls)
}

/// Splits a comma-separated list, dropping empty entries.
pub fn parse_list(raw: &str) -> Vec<String> {
    raw.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Parses a duration as [`humantime`] reads it: a number and a unit
/// (`250ms`, `1.5s`, `30s`, `5m`, `1h`, `2days`), or several (`1h 30m`).
/// A bare number is seconds, as it has always been here. At most a year.
pub fn parse_duration(key: &str, raw: &str) -> Result<Duration, ConfigError> {
    const MAX: Duration = Duration::from_secs(365 * 86_400);
    let raw = raw.trim();
    // humantime reads `M` as months: too easily meant as minutes.
    if raw.contains('M') {
        return Err(ConfigError::new(
            key,
            format!("`{raw}`: `M` would mean months; write `m` for minutes, or days (`d`)"),
        ));
    }
    let parsed = if !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        humantime::parse_duration(&format!("{raw}s"))
    } else {
        humantime::parse_duration(raw)
    };
    match parsed {
        Ok(duration) if duration <= MAX => Ok(duration),
        Ok(_) => Err(ConfigError::new(
            key,
            format!("`{raw}` is longer than a year"),
        )),
        Err(why) => Err(ConfigError::new(
            key,
            format!("`{raw}` is not a duration ({why}); write e.g. 250ms, 30s, 5m or 1h"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn settings(
        url: Option<&str>,
        id: Option<&str>,
        secret: Option<&str>,
        tenant: Option<&str>,
    ) -> D365Settings {
        D365Settings {
            base_url: url.map(Into::into),
            client_id: id.map(Into::into),
            client_secret: secret.map(Into::into),
            tenant_id: tenant.map(Into::into),
            authority_host: None,
        }
    }

    #[test]
    fn no_url_and_no_credentials_means_simulator() {
        assert_eq!(
            D365Config::from_settings("default", &settings(None, None, None, None)),
            Ok(None)
        );
    }

    #[test]
    fn credentials_without_url_name_the_url() {
        let err =
            D365Config::from_settings("d", &settings(None, Some("id"), None, None)).unwrap_err();
        assert!(err.key.contains("D365FO_BASE_URL"), "{err}");
    }

    #[test]
    fn partial_credentials_name_the_missing_one() {
        let err = D365Config::from_settings(
            "d",
            &settings(
                Some("https://x.operations.dynamics.com"),
                Some("id"),
                None,
                Some("t"),
            ),
        )
        .unwrap_err();
        assert!(err.key.contains("D365FO_CLIENT_SECRET"), "{err}");
    }

    #[test]
    fn full_credentials_build_scope_and_urls() {
        let cfg = D365Config::from_settings(
            "d",
            &settings(
                Some("https://x.operations.dynamics.com/"),
                Some("id"),
                Some("s"),
                Some("t"),
            ),
        )
        .unwrap()
        .unwrap();
        assert_eq!(cfg.scope(), "https://x.operations.dynamics.com/.default");
        assert_eq!(
            cfg.url("/data/CustomersV3"),
            "https://x.operations.dynamics.com/data/CustomersV3"
        );
        assert!(
            !format!("{cfg:?}").contains("\"s\""),
            "secret leaked in Debug"
        );
    }

    #[test]
    fn credentials_need_tls_except_on_loopback() {
        let remote = D365Config::from_settings(
            "d",
            &settings(
                Some("http://x.operations.dynamics.com"),
                Some("id"),
                Some("s"),
                Some("t"),
            ),
        )
        .unwrap_err();
        assert!(
            remote.key.contains("D365FO_BASE_URL") && remote.reason.contains("https"),
            "{remote}"
        );
        let local = D365Config::from_settings(
            "d",
            &settings(
                Some("http://127.0.0.1:8090"),
                Some("id"),
                Some("s"),
                Some("t"),
            ),
        );
        assert!(local.is_ok(), "{local:?}");
        let mut plain_authority = settings(
            Some("https://x.operations.dynamics.com"),
            Some("id"),
            Some("s"),
            Some("t"),
        );
        plain_authority.authority_host = Some("http://login.example.com".into());
        let err = D365Config::from_settings("d", &plain_authority).unwrap_err();
        assert!(err.key.contains("D365FO_AUTHORITY_HOST"), "{err}");
        let no_credentials = D365Config::from_settings(
            "d",
            &settings(Some("http://gateway.internal"), None, None, None),
        );
        assert!(
            no_credentials.is_ok(),
            "no token, nothing to protect: {no_credentials:?}"
        );
    }

    #[test]
    fn bad_urls_are_refused() {
        for bad in ["ftp://x", "not a url", "https://x/?a=b", "http://"] {
            assert!(parse_base_url("K", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn listen_and_worker_lists() {
        assert_eq!(parse_listen("K", "127.0.0.1:8080").unwrap().port(), 8080);
        assert_eq!(parse_listen("K", "localhost:0").unwrap().port(), 0);
        assert!(parse_listen("K", "127.0.0.1").is_err());
        assert!(parse_listen("K", "nonsense:port").is_err());
        let urls = parse_worker_urls(
            "K",
            "http://127.0.0.1:1, http://127.0.0.1:2,,http://127.0.0.1:1",
        )
        .unwrap();
        assert_eq!(urls.len(), 2);
        assert!(parse_worker_urls("K", "127.0.0.1:1").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(
            parse_duration("K", "250ms").unwrap(),
            Duration::from_millis(250)
        );
        assert_eq!(parse_duration("K", "30").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("K", "2m").unwrap(), Duration::from_secs(120));
        // Every form the hand-written parser took before humantime.
        for (raw, ms) in [
            ("1.5s", 1_500),
            ("1.5", 1_500),
            ("0.5m", 30_000),
            ("1h", 3_600_000),
            (" 2 m ", 120_000),
            ("0s", 0),
            ("0", 0),
        ] {
            assert_eq!(
                parse_duration("K", raw).unwrap(),
                Duration::from_millis(ms),
                "{raw}"
            );
        }
        // And what humantime adds.
        assert_eq!(
            parse_duration("K", "1h 30m").unwrap(),
            Duration::from_secs(5_400)
        );
        assert_eq!(
            parse_duration("K", "2days").unwrap(),
            Duration::from_secs(2 * 86_400)
        );
        for bad in [
            "", "s", "-1s", "1x", "1e999s", "NaNs", "1.2.3", "366d", "5M", "1Min",
        ] {
            let err = parse_duration("K", bad).unwrap_err().to_string();
            assert!(err.contains('K') && err.contains(bad), "{bad}: {err}");
        }
    }

    proptest! {
        #[test]
        fn duration_parser_never_panics(s in "\\PC{0,16}") {
            let _ = parse_duration("K", &s);
        }

        #[test]
        fn durations_round_trip_in_millis(ms in 0u64..10_000_000) {
            prop_assert_eq!(parse_duration("K", &format!("{ms}ms")).unwrap(), Duration::from_millis(ms));
        }
    }
}
