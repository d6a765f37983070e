//! The edge→worker hop's settings: the shared secret that signs each call
//! (`crate::assertion`), and when a worker may run without one.

use std::net::SocketAddr;

use super::ConfigError;
use crate::assertion::InternalSecret;

/// The secret's settings, as an operator spells them.
pub const SECRET: &str = "D365MCP_INTERNAL_SECRET (--internal-secret)";
/// The secret file's setting.
pub const SECRET_FILE: &str = "D365MCP_INTERNAL_SECRET_FILE (--internal-secret-file)";
/// The worker's explicit opt-out.
pub const INSECURE: &str = "D365MCP_INSECURE_INTERNAL_HOP (--insecure-internal-hop)";

/// The secret from its value or its file (one of them, or neither).
pub fn secret(
    value: Option<&str>,
    file: Option<&str>,
) -> Result<Option<InternalSecret>, ConfigError> {
    match (value, file) {
        (Some(_), Some(_)) => Err(ConfigError::new(
            SECRET,
            format!("set either it or {SECRET_FILE}, not both"),
        )),
        (Some(value), None) => InternalSecret::new(value)
            .map(Some)
            .map_err(|why| ConfigError::new(SECRET, why)),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path.trim()).map_err(|e| {
                ConfigError::new(SECRET_FILE, format!("cannot read `{}`: {e}", path.trim()))
            })?;
            InternalSecret::new(&text)
                .map(Some)
                .map_err(|why| ConfigError::new(SECRET_FILE, format!("`{}`: {why}", path.trim())))
        }
        (None, None) => Ok(None),
    }
}

/// Refuses a worker that would serve unsigned calls beyond this machine:
/// one listening on a non-loopback address needs the secret, unless the
/// operator opted out (`insecure`), trusting the network to keep everything
/// but the edges away from the port.
pub fn check_worker(
    listen: SocketAddr,
    secret: Option<&InternalSecret>,
    insecure: bool,
) -> Result<(), ConfigError> {
    if secret.is_some() || insecure || listen.ip().is_loopback() {
        return Ok(());
    }
    Err(ConfigError::new(
        SECRET,
        format!(
            "a worker listening on {listen} (beyond loopback) needs the secret its edges sign \
             calls with: set {SECRET} or {SECRET_FILE} on the workers and the edges (e.g. \
             `openssl rand -hex 32`), or set {INSECURE}=true to accept unsigned calls from \
             anything that reaches the port"
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn the_secret_comes_from_one_place() {
        assert!(secret(None, None).unwrap().is_none());
        assert!(secret(Some(LONG), None).unwrap().is_some());
        let both = secret(Some(LONG), Some("/x")).unwrap_err();
        assert!(both.reason.contains("not both"), "{both}");
        let short = secret(Some("abc"), None).unwrap_err();
        assert!(short.key.contains("D365MCP_INTERNAL_SECRET") && short.reason.contains("32"));
        let missing = secret(None, Some("/nonexistent/secret")).unwrap_err();
        assert!(missing.key.contains("_FILE") && missing.reason.contains("cannot read"));
        let path = std::env::temp_dir().join(format!("d365mcp-secret-{}", std::process::id()));
        std::fs::write(&path, format!("{LONG}\n")).unwrap();
        assert!(secret(None, path.to_str()).unwrap().is_some());
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn a_worker_beyond_loopback_needs_the_secret_or_an_opt_out() {
        let local: SocketAddr = "127.0.0.1:50051".parse().unwrap();
        let public: SocketAddr = "0.0.0.0:50051".parse().unwrap();
        let key = InternalSecret::new(LONG).unwrap();
        assert!(check_worker(local, None, false).is_ok());
        assert!(check_worker(public, Some(&key), false).is_ok());
        assert!(check_worker(public, None, true).is_ok());
        let refused = check_worker(public, None, false).unwrap_err();
        assert!(
            refused.reason.contains("D365MCP_INSECURE_INTERNAL_HOP"),
            "{refused}"
        );
    }
}
