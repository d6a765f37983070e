//! The D365FO connection: URL, Entra ID credentials, and their validation.

use url::Url;

use super::{
    ConfigError, Secret,
    credentials::{CredentialKind, OnBehalfOf},
    parse_base_url,
};

/// The Entra ID identity a worker uses for one D365FO environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCredentials {
    /// Directory (tenant) id; may be empty for a managed identity and the
    /// Azure CLI, which know their own.
    pub tenant_id: String,
    /// Application (client) id; may be empty for a system-assigned managed
    /// identity and the Azure CLI.
    pub client_id: String,
    /// How the application proves who it is.
    pub kind: CredentialKind,
    /// The Entra authority, `https://login.microsoftonline.com` unless
    /// overridden (sovereign clouds, or the simulator's token endpoint).
    pub authority_host: Url,
    /// Whether calls of signed-in users go to D365FO as those users.
    pub on_behalf_of: OnBehalfOf,
}

impl ClientCredentials {
    /// Client-secret credentials, calling as the application only.
    pub fn client_secret(
        tenant_id: impl Into<String>,
        client_id: impl Into<String>,
        secret: Secret,
        authority_host: Url,
    ) -> Self {
        Self {
            tenant_id: tenant_id.into(),
            client_id: client_id.into(),
            kind: CredentialKind::ClientSecret(secret),
            authority_host,
            on_behalf_of: OnBehalfOf::Off,
        }
    }

    /// The client secret, when that is the kind.
    pub fn secret(&self) -> Option<&Secret> {
        match &self.kind {
            CredentialKind::ClientSecret(secret) => Some(secret),
            _ => None,
        }
    }

    /// The token endpoint of the tenant:
    /// `{authority}/{tenant}/oauth2/v2.0/token`.
    pub fn token_endpoint(&self) -> String {
        format!(
            "{}/{}/oauth2/v2.0/token",
            self.authority_host.as_str().trim_end_matches('/'),
            self.tenant_id
        )
    }
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
                // A token or a client secret must never cross a network in clear text.
                require_tls_off_loopback(keys::BASE_URL, &base_url)?;
                require_tls_off_loopback(keys::AUTHORITY_HOST, &authority_host)?;
                Some(ClientCredentials::client_secret(
                    tenant,
                    client_id,
                    Secret::new(secret),
                    authority_host,
                ))
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

/// Refuses `http://` for a host that is not this machine.
pub(super) fn require_tls_off_loopback(key: &str, url: &Url) -> Result<(), ConfigError> {
    if url.scheme() == "https" {
        return Ok(());
    }
    let loopback = match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    if loopback {
        return Ok(());
    }
    Err(ConfigError::new(
        key,
        format!(
            "`{url}` must use https:// when client credentials are set: tokens and secrets are \
             never sent in clear text (http:// is allowed only for a loopback simulator)"
        ),
    ))
}
