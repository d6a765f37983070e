//! `d365mcp healthcheck`: the container image's HEALTHCHECK. The runtime
//! image has no shell and no curl, so the binary probes the node beside
//! it: one plain HTTP/1.1 GET, healthy on a 2xx answer (exit code 0),
//! unhealthy on anything else (1), a bad URL refused as any bad setting (2).
//!
//! Deliberately not reqwest: a probe of the container's own address needs
//! no TLS, proxy or CA bundle, and must not fail where those are missing
//! (reqwest's client refuses to build without a CA bundle).

use anyhow::{Context, bail};
use clap::Args;
use common::config::ConfigError;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use url::{Position, Url};

use crate::roles::RunError;

const URL_KEY: &str = "D365MCP_HEALTHCHECK_URL (--url)";
const TIMEOUT_KEY: &str = "D365MCP_HEALTHCHECK_TIMEOUT (--timeout)";

/// `d365mcp healthcheck`.
#[derive(Args)]
pub struct HealthcheckArgs {
    /// What to probe: an edge's or dev's /health (the default); for a worker
    /// its metrics listener, http://127.0.0.1:9464/metrics; for the
    /// simulator http://127.0.0.1:8090/_sim/faults. Plain http only.
    #[arg(
        long,
        env = "D365MCP_HEALTHCHECK_URL",
        default_value = "http://127.0.0.1:8080/health"
    )]
    pub url: String,
    /// Longest the probe may take, connecting included.
    #[arg(long, env = "D365MCP_HEALTHCHECK_TIMEOUT", default_value = "3s")]
    pub timeout: String,
}

/// Where the probe goes, validated.
#[derive(Debug, PartialEq)]
struct Target {
    /// `host:port`, for connecting and for the Host header.
    authority: String,
    /// Path and query.
    path: String,
}

impl HealthcheckArgs {
    fn target(&self) -> Result<Target, ConfigError> {
        let raw = self.url.trim();
        let url =
            Url::parse(raw).map_err(|e| ConfigError::new(URL_KEY, format!("`{raw}`: {e}")))?;
        if url.scheme() != "http" {
            return Err(ConfigError::new(
                URL_KEY,
                format!(
                    "`{raw}`: only http:// (the probe asks the node beside it, on its own \
                     plain listener)"
                ),
            ));
        }
        let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
            return Err(ConfigError::new(URL_KEY, format!("`{raw}`: no host")));
        };
        Ok(Target {
            authority: format!("{host}:{port}"),
            path: url[Position::BeforePath..Position::AfterQuery].to_owned(),
        })
    }
}

/// Probes once; `Ok` when the answer is a 2xx.
pub async fn run(args: HealthcheckArgs) -> Result<(), RunError> {
    let target = args.target()?;
    let timeout = crate::cli::positive(TIMEOUT_KEY, &args.timeout)?;
    let url = args.url.trim();
    let status = tokio::time::timeout(timeout, probe(&target))
        .await
        .with_context(|| format!("healthcheck: {url}: no answer within {timeout:?}"))?
        .with_context(|| format!("healthcheck: {url}"))?;
    if !(200..300).contains(&status) {
        return Err(anyhow::anyhow!("healthcheck: {url}: answered {status}").into());
    }
    println!("d365mcp healthcheck: {url}: answered {status}");
    Ok(())
}

/// Sends the GET and reads the status code off the status line.
async fn probe(target: &Target) -> anyhow::Result<u16> {
    let mut stream = TcpStream::connect(target.authority.as_str()).await?;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: d365mcp-healthcheck\r\n\
         Connection: close\r\n\r\n",
        target.path, target.authority
    );
    stream.write_all(request.as_bytes()).await?;
    let mut head = Vec::with_capacity(256);
    let mut chunk = [0u8; 256];
    while !head.windows(2).any(|w| w == b"\r\n") && head.len() < 1024 {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&chunk[..n]);
    }
    match status_code(&head) {
        Some(status) => Ok(status),
        None => bail!("not an HTTP answer"),
    }
}

/// The code of an HTTP/1.x status line, `HTTP/1.1 200 OK`.
fn status_code(head: &[u8]) -> Option<u16> {
    let line = head.split(|&b| b == b'\r').next()?;
    let mut words = std::str::from_utf8(line).ok()?.split(' ');
    let version = words.next()?;
    let code = words.next()?;
    if !version.starts_with("HTTP/1.") || code.len() != 3 {
        return None;
    }
    code.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(url: &str) -> HealthcheckArgs {
        HealthcheckArgs {
            url: url.into(),
            timeout: "3s".into(),
        }
    }

    #[test]
    fn the_target_is_a_plain_http_url() {
        assert_eq!(
            args("http://127.0.0.1:8080/health").target(),
            Ok(Target {
                authority: "127.0.0.1:8080".into(),
                path: "/health".into(),
            })
        );
        assert_eq!(
            args(" http://[::1]/metrics?x=1 ").target(),
            Ok(Target {
                authority: "[::1]:80".into(),
                path: "/metrics?x=1".into(),
            })
        );
        for bad in [
            "https://127.0.0.1/health",
            "127.0.0.1:8080",
            "",
            "unix:/run/x",
        ] {
            let err = args(bad).target().unwrap_err();
            assert!(err.key.contains("D365MCP_HEALTHCHECK_URL"), "{bad}: {err}");
        }
    }

    #[test]
    fn the_status_comes_from_the_status_line_only() {
        assert_eq!(
            status_code(b"HTTP/1.1 200 OK\r\ncontent-length: 2"),
            Some(200)
        );
        assert_eq!(
            status_code(b"HTTP/1.0 503 Service Unavailable\r\n"),
            Some(503)
        );
        assert_eq!(status_code(b"HTTP/1.1 204 No Content"), Some(204));
        for bad in [
            &b""[..],
            b"SSH-2.0-OpenSSH\r\n",
            b"HTTP/1.1 20 OK\r\n",
            b"\x00\x00\x12",
        ] {
            assert_eq!(status_code(bad), None, "{bad:?}");
        }
    }
}
