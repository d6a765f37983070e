//! Who may call an edge: the flags `dev` and `edge` share, so that both
//! read the API keys file, refuse a keyless non-loopback address, and
//! throttle failed authentication the same way.

use std::net::SocketAddr;

use clap::Args;
use common::config::{self, ConfigError, EdgeConfig, FailureLimit, exposure};

/// API keys and how failed authentication is throttled.
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
        exposure::check(config.listen, &config.api_keys, self.allow_anonymous)
    }

    /// Warns, once at start, about an edge serving every caller as anonymous.
    pub fn warn_if_open(config: &EdgeConfig, bound: SocketAddr) {
        if !config.api_keys.is_empty() {
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
