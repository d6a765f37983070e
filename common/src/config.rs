//! Typed configuration of every role, validated once at start-up.
//!
//! The command line (flags with environment-variable twins) is parsed in the
//! binary; the raw strings land here, and every constructor returns a
//! [`ConfigError`] that names the setting at fault, so an operator reads
//! `invalid configuration: D365FO_BASE_URL (--d365fo-base-url): ...` and knows
//! what to fix.

use std::{
    fmt,
    net::{SocketAddr, ToSocketAddrs},
    time::Duration,
};

use url::Url;

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

/// Entra ID client credentials for one D365FO environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCredentials {
    /// Directory (tenant) id.
    pub tenant_id: String,
    /// Application (client) id.
    pub client_id: String,
    /// Client secret.
    pub client_secret: Secret,
    /// The Entra authority, `https://login.microsoftonline.com` unless
    /// overridden (sovereign clouds, or the simulator's token endpoint).
    pub authority_host: Url,
}

/// The D365FO settings as given, before validation.
#[derive(Debug, Clone, Default)]
pub struct D365Settings {
    /// `D365FO_BASE_URL`.
    pub base_url: Option<String>,
    /// `D365FO_CLIENT_ID`.
    pub client_id: Option<String>,
    /// `D365FO_CLIENT_SECRET`.
    pub client_secret: Option<String>,
    /// `D365FO_TENANT_ID`.
    pub tenant_id: Option<String>,
    /// `D365FO_AUTHORITY_HOST`.
    pub authority_host: Option<String>,
}

/// Setting names, shared by validation messages and the CLI.
pub mod keys {
    /// D365FO environment URL.
    pub const BASE_URL: &str = "D365FO_BASE_URL (--d365fo-base-url)";
    /// Entra application id.
    pub const CLIENT_ID: &str = "D365FO_CLIENT_ID (--d365fo-client-id)";
    /// Entra client secret.
    pub const CLIENT_SECRET: &str = "D365FO_CLIENT_SECRET (--d365fo-client-secret)";
    /// Entra tenant id.
    pub const TENANT_ID: &str = "D365FO_TENANT_ID (--d365fo-tenant-id)";
    /// Entra authority host.
    pub const AUTHORITY_HOST: &str = "D365FO_AUTHORITY_HOST (--d365fo-authority-host)";
}

/// One D365FO environment a worker talks to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct D365Config {
    /// The environment's name inside this cluster (the hash-ring key and the
    /// `environment` argument of tools).
    pub name: String,
    /// Environment URL without a trailing slash, e.g.
    /// `https://contoso.operations.dynamics.com`.
    pub base_url: Url,
    /// `None`: send no token (a simulator or a gateway that adds one).
    pub credentials: Option<ClientCredentials>,
}

impl D365Config {
    /// The default authority host of Entra ID.
    pub const DEFAULT_AUTHORITY: &'static str = "https://login.microsoftonline.com";

    /// Validates `settings`. Returns `Ok(None)` when no base URL is set (then
    /// `dev` uses its built-in simulator and `worker` refuses to start).
    pub fn from_settings(name: &str, s: &D365Settings) -> Result<Option<Self>, ConfigError> {
        fn given(v: &Option<String>) -> Option<&str> {
            v.as_deref().map(str::trim).filter(|v| !v.is_empty())
        }
        let (client_id, secret, tenant) = (
            given(&s.client_id),
            given(&s.client_secret),
            given(&s.tenant_id),
        );
        let Some(raw_url) = given(&s.base_url) else {
            if client_id.is_some() || secret.is_some() || tenant.is_some() {
                return Err(ConfigError::new(
                    keys::BASE_URL,
                    "required when client credentials are given: set it to the environment URL, \
                     e.g. https://contoso.operations.dynamics.com",
                ));
            }
            return Ok(None);
        };
        let base_url = parse_base_url(keys::BASE_URL, raw_url)?;
        let credentials = match (client_id, secret, tenant) {
            (None, None, None) => None,
            (Some(client_id), Some(secret), Some(tenant)) => {
                let authority_host = match given(&s.authority_host) {
                    Some(raw) => parse_base_url(keys::AUTHORITY_HOST, raw)?,
                    None => Url::parse(Self::DEFAULT_AUTHORITY).map_err(|e| {
                        ConfigError::new(keys::AUTHORITY_HOST, format!("built-in default: {e}"))
                    })?,
                };
                Some(ClientCredentials {
                    tenant_id: tenant.to_owned(),
                    client_id: client_id.to_owned(),
                    client_secret: Secret::new(secret),
                    authority_host,
                })
            }
            (client_id, secret, tenant) => {
                let missing = [
                    (client_id.is_none(), keys::CLIENT_ID),
                    (secret.is_none(), keys::CLIENT_SECRET),
                    (tenant.is_none(), keys::TENANT_ID),
                ];
                let first = missing
                    .iter()
                    .find(|(is_missing, _)| *is_missing)
                    .map(|(_, key)| *key)
                    .unwrap_or(keys::CLIENT_ID);
                return Err(ConfigError::new(
                    first,
                    "missing: client credentials need D365FO_CLIENT_ID, D365FO_CLIENT_SECRET \
                     and D365FO_TENANT_ID together (or none of them, to send no token)",
                ));
            }
        };
        Ok(Some(Self {
            name: name.to_owned(),
            base_url,
            credentials,
        }))
    }

    /// The OAuth scope for this environment: `{base}/.default`.
    pub fn scope(&self) -> String {
        format!("{}/.default", self.base_url.as_str().trim_end_matches('/'))
    }

    /// `{base}/{path}` with exactly one slash between them.
    pub fn url(&self, path: &str) -> String {
        format!(
            "{}/{}",
            self.base_url.as_str().trim_end_matches('/'),
            path.trim_start_matches('/')
        )
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

/// Parses a duration written as a number and a unit: `250ms`, `30s`, `5m`,
/// `1h`. A bare number is seconds.
pub fn parse_duration(key: &str, raw: &str) -> Result<Duration, ConfigError> {
    let raw = raw.trim();
    let split = raw
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(raw.len());
    let (number, unit) = raw.split_at(split);
    let bad = || {
        ConfigError::new(
            key,
            format!("`{raw}` is not a duration; write e.g. 250ms, 30s, 5m or 1h"),
        )
    };
    let value: f64 = number.parse().map_err(|_| bad())?;
    let seconds = match unit.trim() {
        "ms" => value / 1000.0,
        "" | "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(bad()),
    };
    if !seconds.is_finite() || !(0.0..=365.0 * 86_400.0).contains(&seconds) {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// Configuration of an edge node.
#[derive(Debug, Clone)]
pub struct EdgeConfig {
    /// Where MCP is served.
    pub listen: SocketAddr,
    /// gRPC endpoints of the workers.
    pub workers: Vec<Url>,
    /// `Host` header values accepted (DNS-rebinding protection).
    pub allowed_hosts: Vec<String>,
    /// Browser `Origin`s accepted; empty accepts requests without a foreign origin only.
    pub allowed_origins: Vec<String>,
    /// Longest a tool call may run before it is cancelled.
    pub call_timeout: Duration,
    /// How often each worker's health is checked.
    pub health_interval: Duration,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Name of the D365FO environment used when a call names none.
    pub default_environment: String,
}

impl EdgeConfig {
    /// The defaults of a loopback-only edge with no workers yet.
    pub fn local(listen: SocketAddr) -> Self {
        Self {
            listen,
            workers: Vec::new(),
            allowed_hosts: vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
            allowed_origins: Vec::new(),
            call_timeout: Duration::from_secs(120),
            health_interval: Duration::from_secs(2),
            max_body_bytes: 4 * 1024 * 1024,
            default_environment: "default".into(),
        }
    }
}

/// Configuration of a worker node.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Where the gRPC service listens.
    pub listen: SocketAddr,
    /// The D365FO environment this worker serves.
    pub d365: D365Config,
    /// Timeout of one HTTP request to D365FO.
    pub request_timeout: Duration,
    /// Timeout to open a connection to D365FO.
    pub connect_timeout: Duration,
    /// Most rows a query tool returns in one call before handing back a cursor.
    pub max_rows: usize,
}

impl WorkerConfig {
    /// Sensible defaults for `d365` on `listen`.
    pub fn new(listen: SocketAddr, d365: D365Config) -> Self {
        Self {
            listen,
            d365,
            request_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            max_rows: 1000,
        }
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
        for bad in ["", "s", "-1s", "1d", "1e999s", "NaNs"] {
            assert!(parse_duration("K", bad).is_err(), "{bad}");
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
