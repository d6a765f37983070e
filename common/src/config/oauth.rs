//! OAuth 2.1 at the edge: which bearer access tokens it accepts besides API
//! keys, and what each lets its holder do.
//!
//! Off unless [`ISSUER_KEY`] is set. The edge is then a protected resource
//! (RFC 9728): it publishes its metadata, and accepts RS256 tokens of that
//! one issuer whose audience is this server. With Entra ID v2 the issuer is
//! `https://login.microsoftonline.com/{tenant}/v2.0`, the resource the
//! application's Application ID URI (also the prefix of its scopes), and
//! the audience of a v2 token the application's client id — so list both.
//!
//! Every token of the issuer belongs to one tenant of the cluster
//! ([`TENANT_KEY`]): an exact issuer already names one Entra tenant, so
//! mapping by `tid` would add nothing but a second place to get it wrong.
//! What a token may do comes from its scopes (`scp`, delegated) or app
//! roles (`roles`, app-only): [`READ_SCOPE_KEY`] gives the tools that change
//! nothing, [`WRITE_SCOPE_KEY`] every tool.

use url::Url;

use super::{ConfigError, Policy};

/// The issuer, exactly as tokens carry it in `iss`; OAuth is off without it.
pub const ISSUER_KEY: &str = "D365MCP_OAUTH_ISSUER (--oauth-issuer)";
/// The resource identifier, published in the metadata.
pub const RESOURCE_KEY: &str = "D365MCP_OAUTH_RESOURCE (--oauth-resource)";
/// The accepted `aud` values.
pub const AUDIENCES_KEY: &str = "D365MCP_OAUTH_AUDIENCES (--oauth-audiences)";
/// Where the signing keys are, when not from the issuer's discovery document.
pub const JWKS_URL_KEY: &str = "D365MCP_OAUTH_JWKS_URL (--oauth-jwks-url)";
/// The tenant every token of the issuer belongs to.
pub const TENANT_KEY: &str = "D365MCP_OAUTH_TENANT (--oauth-tenant)";
/// The scope (or app role) that gives the read-only tools.
pub const READ_SCOPE_KEY: &str = "D365MCP_OAUTH_READ_SCOPE (--oauth-read-scope)";
/// The scope (or app role) that gives every tool.
pub const WRITE_SCOPE_KEY: &str = "D365MCP_OAUTH_WRITE_SCOPE (--oauth-write-scope)";

/// Most audiences accepted.
const MAX_AUDIENCES: usize = 8;
/// Longest tenant, scope or audience name.
const MAX_NAME: usize = 256;

/// The settings as given; empty strings count as absent.
#[derive(Debug, Clone, Default)]
pub struct OAuthSettings {
    /// [`ISSUER_KEY`].
    pub issuer: Option<String>,
    /// [`RESOURCE_KEY`].
    pub resource: Option<String>,
    /// [`AUDIENCES_KEY`], comma-separated; defaults to the resource.
    pub audiences: Option<String>,
    /// [`JWKS_URL_KEY`].
    pub jwks_url: Option<String>,
    /// [`TENANT_KEY`]; defaults to `default`.
    pub tenant: Option<String>,
    /// [`READ_SCOPE_KEY`]; defaults to `mcp.read`.
    pub read_scope: Option<String>,
    /// [`WRITE_SCOPE_KEY`]; defaults to `mcp.write`.
    pub write_scope: Option<String>,
}

/// The validated OAuth settings of an edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthConfig {
    /// The exact `iss` accepted.
    pub issuer: String,
    /// The resource identifier, as configured (tokens compare it as a string).
    pub resource: String,
    /// The accepted `aud` values: every one a token carries must be here.
    pub audiences: Vec<String>,
    /// The signing keys' URL; `None` to read it from the issuer's
    /// `/.well-known/openid-configuration`.
    pub jwks_url: Option<Url>,
    /// The tenant of every token.
    pub tenant: String,
    /// The scope (or role) of the read-only tools.
    pub read_scope: String,
    /// The scope (or role) of every tool.
    pub write_scope: String,
    resource_url: Url,
}

impl OAuthConfig {
    /// The configuration of `settings`, `None` when OAuth is off (no issuer).
    pub fn from_settings(settings: &OAuthSettings) -> Result<Option<Self>, ConfigError> {
        let given = |value: &Option<String>| {
            value
                .as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let Some(issuer) = given(&settings.issuer) else {
            let stray = [
                (&settings.resource, RESOURCE_KEY),
                (&settings.audiences, AUDIENCES_KEY),
                (&settings.jwks_url, JWKS_URL_KEY),
            ]
            .into_iter()
            .find(|(value, _)| given(value).is_some());
            return match stray {
                Some((_, key)) => Err(ConfigError::new(
                    ISSUER_KEY,
                    format!("{key} is set but OAuth is off; set the issuer to turn it on"),
                )),
                None => Ok(None),
            };
        };
        parse_url(ISSUER_KEY, &issuer)?;
        let resource = given(&settings.resource).ok_or_else(|| {
            ConfigError::new(
                RESOURCE_KEY,
                "OAuth is on (D365MCP_OAUTH_ISSUER) and needs this server's resource \
                 identifier, e.g. https://mcp.contoso.com/mcp (for Entra ID the Application ID \
                 URI)",
            )
        })?;
        let resource_url = parse_url(RESOURCE_KEY, &resource)?;
        let audiences = match given(&settings.audiences) {
            None => vec![resource.clone()],
            Some(list) => super::parse_list(&list),
        };
        if audiences.is_empty() || audiences.len() > MAX_AUDIENCES {
            return Err(ConfigError::new(
                AUDIENCES_KEY,
                format!("give 1 to {MAX_AUDIENCES} audiences, comma-separated"),
            ));
        }
        for audience in &audiences {
            name(AUDIENCES_KEY, audience)?;
        }
        let jwks_url = given(&settings.jwks_url)
            .map(|raw| parse_url(JWKS_URL_KEY, &raw))
            .transpose()?;
        let tenant = given(&settings.tenant).unwrap_or_else(|| super::auth::DEFAULT_TENANT.into());
        name(TENANT_KEY, &tenant)?;
        let read_scope = given(&settings.read_scope).unwrap_or_else(|| "mcp.read".into());
        let write_scope = given(&settings.write_scope).unwrap_or_else(|| "mcp.write".into());
        for (key, scope) in [
            (READ_SCOPE_KEY, &read_scope),
            (WRITE_SCOPE_KEY, &write_scope),
        ] {
            name(key, scope)?;
        }
        if read_scope == write_scope {
            return Err(ConfigError::new(
                WRITE_SCOPE_KEY,
                format!("`{write_scope}` is also the read scope; the two must differ"),
            ));
        }
        Ok(Some(Self {
            issuer,
            resource,
            audiences,
            jwks_url,
            tenant,
            read_scope,
            write_scope,
            resource_url,
        }))
    }

    /// Where the protected resource metadata is served (RFC 9728 §3.1: the
    /// well-known path inserted between the resource's host and its path).
    pub fn metadata_url(&self) -> String {
        let url = &self.resource_url;
        let mut origin = url.origin().ascii_serialization();
        origin.push_str("/.well-known/oauth-protected-resource");
        origin.push_str(url.path().trim_end_matches('/'));
        origin
    }

    /// `name` (a scope) as a client asks for it: prefixed by the resource,
    /// as Entra ID expects (`{Application ID URI}/{scope}`).
    pub fn full_scope(&self, name: &str) -> String {
        format!("{}/{name}", self.resource.trim_end_matches('/'))
    }

    /// Refuses a tenant policy without a table for the tokens' tenant: a
    /// token's caller is no key, so its tenant's table is all it has.
    pub fn check_policy(&self, policy: &Policy) -> Result<(), ConfigError> {
        if policy.is_configured() && !policy.has_tenant(&self.tenant) {
            return Err(ConfigError::new(
                TENANT_KEY,
                format!(
                    "the API keys file configures a tenant policy but no [tenants.{}] table; \
                     OAuth callers get that table's rules, so add one (an empty table allows \
                     everything)",
                    self.tenant
                ),
            ));
        }
        Ok(())
    }
}

/// An `https` URL (or `http` on a loopback host, for local tests) with a
/// host and no query or fragment.
fn parse_url(key: &str, raw: &str) -> Result<Url, ConfigError> {
    let url = super::parse_base_url(key, raw)?;
    let loopback = match url.host() {
        Some(url::Host::Domain(host)) => host == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    if url.scheme() != "https" && !loopback {
        return Err(ConfigError::new(
            key,
            format!("`{raw}` must be an https:// URL (http:// only on a loopback host)"),
        ));
    }
    Ok(url)
}

/// A name that fits in a header's quoted string and a log line.
fn name(key: &str, value: &str) -> Result<(), ConfigError> {
    let fits = !value.is_empty()
        && value.len() <= MAX_NAME
        && value
            .chars()
            .all(|c| c.is_ascii_graphic() && c != '"' && c != '\\' && c != ',');
    if fits {
        return Ok(());
    }
    Err(ConfigError::new(
        key,
        format!(
            "`{}` must be 1 to {MAX_NAME} printable ASCII characters without spaces, quotes, \
             backslashes or commas",
            crate::clip::clip(value)
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(issuer: &str, resource: &str) -> OAuthSettings {
        OAuthSettings {
            issuer: Some(issuer.into()),
            resource: Some(resource.into()),
            ..OAuthSettings::default()
        }
    }

    const ENTRA: &str = "https://login.microsoftonline.com/0000-1111/v2.0";

    #[test]
    fn off_without_an_issuer_and_loud_when_half_configured() {
        assert_eq!(
            OAuthConfig::from_settings(&OAuthSettings::default()),
            Ok(None)
        );
        let half = OAuthSettings {
            resource: Some("https://mcp.contoso.com/mcp".into()),
            ..OAuthSettings::default()
        };
        let error = OAuthConfig::from_settings(&half).unwrap_err();
        assert_eq!(error.key, ISSUER_KEY);
        let no_resource = OAuthSettings {
            issuer: Some(ENTRA.into()),
            ..OAuthSettings::default()
        };
        assert_eq!(
            OAuthConfig::from_settings(&no_resource).unwrap_err().key,
            RESOURCE_KEY
        );
    }

    #[test]
    fn defaults_and_the_metadata_url() {
        let config = OAuthConfig::from_settings(&settings(ENTRA, "https://mcp.contoso.com/mcp"))
            .unwrap()
            .unwrap();
        assert_eq!(config.audiences, ["https://mcp.contoso.com/mcp"]);
        assert_eq!(config.tenant, "default");
        assert_eq!(
            (config.read_scope.as_str(), config.write_scope.as_str()),
            ("mcp.read", "mcp.write")
        );
        assert_eq!(
            config.metadata_url(),
            "https://mcp.contoso.com/.well-known/oauth-protected-resource/mcp"
        );
        assert_eq!(
            config.full_scope("mcp.read"),
            "https://mcp.contoso.com/mcp/mcp.read"
        );
        let bare = OAuthConfig::from_settings(&settings(ENTRA, "https://mcp.contoso.com"))
            .unwrap()
            .unwrap();
        assert_eq!(bare.resource, "https://mcp.contoso.com", "kept as given");
        assert_eq!(
            bare.metadata_url(),
            "https://mcp.contoso.com/.well-known/oauth-protected-resource"
        );
    }

    #[test]
    fn bad_settings_name_themselves() {
        let cases = [
            (
                settings("http://idp.example.com", "https://r.example.com"),
                ISSUER_KEY,
            ),
            (settings(ENTRA, "http://r.example.com"), RESOURCE_KEY),
            (settings(ENTRA, "https://r.example.com/#x"), RESOURCE_KEY),
            (
                OAuthSettings {
                    audiences: Some("a b".into()),
                    ..settings(ENTRA, "https://r.example.com")
                },
                AUDIENCES_KEY,
            ),
            (
                OAuthSettings {
                    jwks_url: Some("ftp://x".into()),
                    ..settings(ENTRA, "https://r.example.com")
                },
                JWKS_URL_KEY,
            ),
            (
                OAuthSettings {
                    read_scope: Some("mcp.write".into()),
                    ..settings(ENTRA, "https://r.example.com")
                },
                WRITE_SCOPE_KEY,
            ),
            (
                OAuthSettings {
                    read_scope: Some("a\"b".into()),
                    ..settings(ENTRA, "https://r.example.com")
                },
                READ_SCOPE_KEY,
            ),
        ];
        for (settings, key) in cases {
            assert_eq!(
                OAuthConfig::from_settings(&settings).unwrap_err().key,
                key,
                "{settings:?}"
            );
        }
        let local = settings("http://127.0.0.1:9000/t/v2.0", "http://localhost:8080/mcp");
        assert!(OAuthConfig::from_settings(&local).unwrap().is_some());
    }

    #[test]
    fn a_tenant_policy_needs_a_table_for_the_tokens_tenant() {
        let config = OAuthConfig::from_settings(&settings(ENTRA, "https://r.example.com"))
            .unwrap()
            .unwrap();
        assert_eq!(config.check_policy(&Policy::default()), Ok(()));
        let file = crate::config::auth::parse_file(
            "[tenants.contoso]\n[keys.app]\n\
             sha256 = \"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\"\n\
             tenant = \"contoso\"\n",
        )
        .unwrap();
        assert_eq!(
            config.check_policy(&file.policy).unwrap_err().key,
            TENANT_KEY
        );
        let contoso = OAuthConfig {
            tenant: "contoso".into(),
            ..config
        };
        assert_eq!(contoso.check_policy(&file.policy), Ok(()));
    }
}
