//! Who may call an edge: the flags `dev` and `edge` share, so that both
//! read the API keys file and the OAuth settings, refuse a non-loopback
//! address that checks no one, and throttle failed authentication the same
//! way.

use std::net::SocketAddr;

use clap::Args;
use common::config::{self, ConfigError, EdgeConfig, FailureLimit, OAuthSettings, exposure};

/// API keys, OAuth access tokens, and how failed authentication is throttled.
#[derive(Clone, Args)]
pub struct AuthArgs {
    /// TOML file of accepted API keys (SHA-256 digests, principal names,
    /// tenants). Without it every caller is `anonymous`.
    #[arg(long = "api-keys-file", env = "D365MCP_API_KEYS_FILE")]
    pub api_keys_file: Option<String>,
    /// Serve a non-loopback --listen address without API keys (every caller
    /// `anonymous`): only when something in front authenticates callers.
    #[arg(long = "allow-anonymous", env = "D365MCP_ALLOW_ANONYMOUS", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub allow_anonymous: bool,
    /// Failed authentications one client address may make within
    /// --auth-failure-window before it is refused (429) until the window
    /// ends; 0 turns this off.
    #[arg(long, env = "D365MCP_AUTH_FAILURE_LIMIT", default_value_t = 20)]
    pub auth_failure_limit: u32,
    /// The window of --auth-failure-limit, started by an address's first failure.
    #[arg(long, env = "D365MCP_AUTH_FAILURE_WINDOW", default_value = "1m")]
    pub auth_failure_window: String,
    /// Accept OAuth access tokens of this issuer, exactly as tokens carry
    /// it in `iss` (Entra ID: https://login.microsoftonline.com/{tenant}/v2.0).
    /// Off without it.
    #[arg(long, env = "D365MCP_OAUTH_ISSUER")]
    pub oauth_issuer: Option<String>,
    /// This server's resource identifier, published in its metadata (Entra
    /// ID: the Application ID URI, also its scopes' prefix); https.
    #[arg(long, env = "D365MCP_OAUTH_RESOURCE")]
    pub oauth_resource: Option<String>,
    /// Accepted token audiences, comma-separated (default: the resource;
    /// Entra ID v2 tokens carry the application's client id).
    #[arg(long, env = "D365MCP_OAUTH_AUDIENCES")]
    pub oauth_audiences: Option<String>,
    /// The issuer's key set, when not from its
    /// /.well-known/openid-configuration.
    #[arg(long, env = "D365MCP_OAUTH_JWKS_URL")]
    pub oauth_jwks_url: Option<String>,
    /// The tenant every token of the issuer belongs to.
    #[arg(long, env = "D365MCP_OAUTH_TENANT")]
    pub oauth_tenant: Option<String>,
    /// The scope (or app role) that gives the tools that change nothing.
    #[arg(long, env = "D365MCP_OAUTH_READ_SCOPE")]
    pub oauth_read_scope: Option<String>,
    /// The scope (or app role) that gives every tool.
    #[arg(long, env = "D365MCP_OAUTH_WRITE_SCOPE")]
    pub oauth_write_scope: Option<String>,
}

impl AuthArgs {
    /// Reads the keys into `config` and checks that an edge listening on
    /// `config.listen` may serve them (or no one in particular).
    pub fn apply(&self, config: &mut EdgeConfig) -> Result<(), ConfigError> {
        if let Some(path) = &self.api_keys_file {
            let file = config::auth::load_file(path.trim())?;
            config.api_keys = file.keys;
            config.policy = file.policy;
        }
        let window =
            config::parse_duration(exposure::FAILURE_WINDOW_KEY, &self.auth_failure_window)?;
        config.auth_failures = FailureLimit::new(self.auth_failure_limit, window)?;
        config.oauth = config::OAuthConfig::from_settings(&OAuthSettings {
            issuer: self.oauth_issuer.clone(),
            resource: self.oauth_resource.clone(),
            audiences: self.oauth_audiences.clone(),
            jwks_url: self.oauth_jwks_url.clone(),
            tenant: self.oauth_tenant.clone(),
            read_scope: self.oauth_read_scope.clone(),
            write_scope: self.oauth_write_scope.clone(),
        })?;
        if let Some(oauth) = &config.oauth {
            oauth.check_policy(&config.policy)?;
        }
        // Tokens are checked too: an edge with OAuth on serves no one anonymously.
        let checks_someone = self.allow_anonymous || config.oauth.is_some();
        exposure::check(config.listen, &config.api_keys, checks_someone)
    }

    /// Warns, once at start, about an edge serving every caller as anonymous.
    pub fn warn_if_open(config: &EdgeConfig, bound: SocketAddr) {
        if !config.api_keys.is_empty() || config.oauth.is_some() {
            return;
        }
        if bound.ip().is_loopback() {
            tracing::warn!(
                "no API keys configured (D365MCP_API_KEYS_FILE): every caller is anonymous"
            );
        } else {
            tracing::warn!(
                listen = %bound,
                "NO AUTHENTICATION: no API keys configured (D365MCP_API_KEYS_FILE) and \
                 D365MCP_ALLOW_ANONYMOUS is set: every caller on the network is served as \
                 anonymous"
            );
        }
    }
}
