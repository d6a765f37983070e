//! Who an edge without API keys would serve, and how failed authentication
//! is throttled.
//!
//! An edge with no keys file serves every caller as `anonymous`: fine on a
//! loopback address, where only this machine reaches it, and dangerous on
//! any other, where the network does. `dev` and `edge` refuse to start that
//! way unless the operator says so ([`ALLOW_ANONYMOUS_KEY`]): a forgotten
//! keys file fails loudly at start instead of serving D365FO to anyone.

use std::{net::SocketAddr, time::Duration};

use super::{ApiKey, ConfigError};

/// The setting that lets an edge without keys serve a non-loopback address.
pub const ALLOW_ANONYMOUS_KEY: &str = "D365MCP_ALLOW_ANONYMOUS (--allow-anonymous)";

/// The settings of [`FailureLimit`], as an operator spells them.
pub const FAILURES_KEY: &str = "D365MCP_AUTH_FAILURE_LIMIT (--auth-failure-limit)";
/// The window of [`FailureLimit`].
pub const FAILURE_WINDOW_KEY: &str = "D365MCP_AUTH_FAILURE_WINDOW (--auth-failure-window)";

/// Refuses an edge that would serve `listen`, a non-loopback address, to
/// anonymous callers (no `keys`) unless `allow_anonymous`.
pub fn check(
    listen: SocketAddr,
    keys: &[ApiKey],
    allow_anonymous: bool,
) -> Result<(), ConfigError> {
    if !keys.is_empty() || allow_anonymous || listen.ip().is_loopback() {
        return Ok(());
    }
    Err(ConfigError::new(
        super::auth::KEY,
        format!(
            "no API keys are configured and D365MCP_LISTEN ({listen}) is not a loopback \
             address: every caller on the network would be served as `anonymous`. Give the \
             keys file, listen on 127.0.0.1, or set {ALLOW_ANONYMOUS_KEY} when something in \
             front of the edge authenticates callers"
        ),
    ))
}

/// How many failed authentications one client address may make in a
/// window before it is refused (429, before its key is even checked) until
/// the window ends. `max == 0` turns the limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureLimit {
    /// Failures admitted per window; the next request is refused.
    pub max: u32,
    /// The window, started by an address's first failure.
    pub window: Duration,
}

impl Default for FailureLimit {
    /// 20 failures a minute: far above a client with a mistyped key
    /// retrying, far below what guessing needs.
    fn default() -> Self {
        Self {
            max: 20,
            window: Duration::from_secs(60),
        }
    }
}

impl FailureLimit {
    /// The limit from its settings: a window of at least a second and at
    /// most a day.
    pub fn new(max: u32, window: Duration) -> Result<Self, ConfigError> {
        if max > 1_000_000 {
            return Err(ConfigError::new(
                FAILURES_KEY,
                format!("{max} is out of range 0..=1000000"),
            ));
        }
        if !(Duration::from_secs(1)..=Duration::from_secs(86_400)).contains(&window) {
            return Err(ConfigError::new(
                FAILURE_WINDOW_KEY,
                "must be between 1s and 24h",
            ));
        }
        Ok(Self { max, window })
    }

    /// Whether failures are never throttled.
    pub fn is_off(&self) -> bool {
        self.max == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> ApiKey {
        ApiKey {
            name: "k".into(),
            tenant: "t".into(),
            sha256: [0; 32],
        }
    }

    #[test]
    fn only_a_keyless_edge_on_the_network_is_refused() {
        let open: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        let lan: SocketAddr = "[2001:db8::1]:8080".parse().unwrap();
        for local in ["127.0.0.1:0", "[::1]:8080", "127.0.0.2:1"] {
            assert!(check(local.parse().unwrap(), &[], false).is_ok(), "{local}");
        }
        for addr in [open, lan] {
            let err = check(addr, &[], false).unwrap_err();
            assert!(err.key.contains("D365MCP_API_KEYS_FILE"), "{err}");
            assert!(err.reason.contains("D365MCP_ALLOW_ANONYMOUS"), "{err}");
            assert!(check(addr, &[key()], false).is_ok());
            assert!(check(addr, &[], true).is_ok());
        }
    }

    #[test]
    fn a_failure_limit_is_bounded() {
        let minute = Duration::from_secs(60);
        assert_eq!(FailureLimit::new(20, minute), Ok(FailureLimit::default()));
        assert!(FailureLimit::new(0, minute).unwrap().is_off());
        assert!(FailureLimit::new(2_000_000, minute).is_err());
        for bad in [Duration::ZERO, Duration::from_secs(90_000)] {
            let err = FailureLimit::new(5, bad).unwrap_err();
            assert!(err.key.contains("WINDOW"), "{err}");
        }
    }
}
