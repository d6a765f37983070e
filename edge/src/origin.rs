//! `Host` and `Origin` checks for every MCP route (`/mcp`, `/sse`, `/message`).
//!
//! The transport spec says a server MUST validate `Origin` and answer a
//! present, invalid one with 403, and SHOULD guard against DNS rebinding.
//! One middleware does both for all three routes, so the modern and the
//! legacy transport refuse the same requests with the same JSON-RPC body:
//!
//! - `Host` (or HTTP/2's `:authority`) must be one of the configured hosts
//!   (`D365MCP_ALLOWED_HOSTS`; loopback names by default, any when empty).
//!   An entry without a port accepts every port.
//! - `Origin`, when present, must be the server's own (the host and port the
//!   request was sent to, which the `Host` check has vetted) or one of the
//!   configured origins (`D365MCP_ALLOWED_ORIGINS`): no other site's page may
//!   call the server unless the operator says so — not even one on the same
//!   machine, such as the MCP Inspector's UI (`http://localhost:6274`), which
//!   an operator lists to use it. A request without `Origin` (every
//!   non-browser client) passes.
//!
//! rmcp's own checks are switched off (`http::app`), so this is the one place
//! that decides.

use std::sync::Arc;

use axum::{
    extract::{Request, State},
    http::{HeaderMap, Uri, header},
    middleware::Next,
    response::Response,
};
use common::{ErrorCode, Failure};

/// What the operator allows, parsed once.
#[derive(Debug, Clone, Default)]
pub struct Allowed {
    /// Accepted hosts, lower-case, each with an optional port; empty accepts any.
    hosts: Vec<(String, Option<u16>)>,
    /// Accepted origins besides the server's own, as `scheme://host[:port]`,
    /// lower-case.
    origins: Vec<Origin>,
}

/// An origin: scheme, host, and port (`None`: any port).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Origin {
    scheme: String,
    host: String,
    port: Option<u16>,
}

impl Allowed {
    /// From the configured lists (`EdgeConfig::allowed_hosts` and
    /// `allowed_origins`). Entries that cannot be parsed are dropped with a
    /// warning; the CLI refuses such origins at start-up ([`invalid_origin`]).
    pub fn new(hosts: &[String], origins: &[String]) -> Arc<Self> {
        let hosts = hosts
            .iter()
            .filter_map(|h| {
                let parsed = authority(h);
                if parsed.is_none() {
                    tracing::warn!(host = %h, "allowed host ignored: not a host name");
                }
                parsed
            })
            .collect();
        let origins = origins
            .iter()
            .filter_map(|o| {
                let parsed = origin(o, true);
                if parsed.is_none() {
                    tracing::warn!(origin = %o, "allowed origin ignored: not scheme://host[:port]");
                }
                parsed
            })
            .collect();
        Arc::new(Self { hosts, origins })
    }

    /// Why the request's `Host` or `Origin` is refused, if it is.
    fn refusal(&self, uri: &Uri, headers: &HeaderMap) -> Option<String> {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| uri.authority().map(|a| a.as_str()));
        let named = host.and_then(split_authority);
        if !self.hosts.is_empty() {
            let Some(host) = host else {
                return Some("the request names no Host".into());
            };
            let accepted = named.is_some_and(|(name, port)| {
                self.hosts
                    .iter()
                    .any(|(h, p)| h.eq_ignore_ascii_case(name) && (p.is_none() || *p == port))
            });
            if !accepted {
                return Some(format!(
                    "Host `{}` is not allowed; the operator lists accepted hosts in \
                     D365MCP_ALLOWED_HOSTS",
                    prefix(host)
                ));
            }
        }
        let value = headers.get(header::ORIGIN)?;
        let Some(text) = value.to_str().ok() else {
            return Some("the Origin header is not readable text".into());
        };
        // The server's own origin is known only when the Host was vetted:
        // with any host allowed, a rebinding page names its own.
        let own = if self.hosts.is_empty() { None } else { named };
        let accepted = origin(text, false).is_some_and(|o| {
            same_origin(&o, own)
                || self.origins.iter().any(|a| {
                    a.scheme == o.scheme
                        && a.host == o.host
                        && (a.port.is_none() || a.port == o.port)
                })
        });
        (!accepted).then(|| {
            format!(
                "Origin `{}` is not allowed; the operator lists accepted browser origins in \
                 D365MCP_ALLOWED_ORIGINS",
                prefix(text)
            )
        })
    }
}

/// Refuses a request whose `Host` or `Origin` is not allowed with 403 and a
/// JSON-RPC error; lets every other request through.
pub async fn check(State(allowed): State<Arc<Allowed>>, request: Request, next: Next) -> Response {
    match allowed.refusal(request.uri(), request.headers()) {
        None => next.run(request).await,
        Some(reason) => {
            tracing::info!(reason, "request refused by the Host/Origin check");
            crate::metrics::refused(crate::metrics::Refusal::Origin);
            let failure = Failure::new(ErrorCode::PermissionDenied, reason).with_hint(
                "send the request from an allowed origin or with none; operators list \
                 origins in D365MCP_ALLOWED_ORIGINS and hosts in D365MCP_ALLOWED_HOSTS",
            );
            crate::error::refusal(&failure, serde_json::Value::Null)
        }
    }
}

/// Whether `origin` is the server itself: the host and port the request was
/// sent to (a page of this origin is not another site). A `Host` without a
/// port stands for the origin scheme's default port.
fn same_origin(origin: &Origin, host: Option<(&str, Option<u16>)>) -> bool {
    let Some((name, port)) = host else {
        return false;
    };
    let port = port.or(match origin.scheme.as_str() {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    });
    origin.host.eq_ignore_ascii_case(name) && origin.port.is_some() && origin.port == port
}

/// At most 100 characters of caller text, for a message or a log line.
fn prefix(text: &str) -> &str {
    match text.char_indices().nth(100) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

/// `host[:port]` or `[v6][:port]` → lower-case host and port.
fn authority(value: &str) -> Option<(String, Option<u16>)> {
    split_authority(value).map(|(host, port)| (host.to_ascii_lowercase(), port))
}

/// `host[:port]` or `[v6][:port]` → host (as written) and port, borrowing:
/// the `Host` of every request is read with no allocation.
fn split_authority(value: &str) -> Option<(&str, Option<u16>)> {
    let value = value.trim();
    let (host, port) = if let Some(rest) = value.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p.parse().ok()?),
            None if after.is_empty() => None,
            None => return None,
        };
        (host, port)
    } else if value.matches(':').count() > 1 {
        // A bare IPv6 address, as in the configured `::1`.
        (value, None)
    } else {
        match value.split_once(':') {
            Some((host, port)) => (host, Some(port.parse().ok()?)),
            None => (value, None),
        }
    };
    (!host.is_empty()).then_some((host, port))
}

/// Why a configured origin (an entry of `D365MCP_ALLOWED_ORIGINS`) cannot
/// be used, if it cannot: it must be `scheme://host[:port]` (or `:*`), with
/// no path. `null` (the opaque origin of sandboxed frames and local files)
/// is refused: it names no site, so allowing it would allow them all.
pub fn invalid_origin(value: &str) -> Option<String> {
    let trimmed = value.trim();
    if trimmed.eq_ignore_ascii_case("null") {
        return Some(
            "`null` names no site (sandboxed frames, local files); list real origins".into(),
        );
    }
    let path = trimmed
        .split_once("://")
        .map(|(_, rest)| rest.trim_end_matches('/').contains('/'));
    match (path, origin(trimmed, true)) {
        (None, _) => Some(format!(
            "`{}` needs a scheme, e.g. https://{}:443",
            prefix(trimmed),
            prefix(trimmed)
        )),
        (Some(true), _) => Some(format!(
            "`{}` has a path; an origin is scheme://host[:port]",
            prefix(trimmed)
        )),
        (_, None) => Some(format!("`{}` is not scheme://host[:port]", prefix(trimmed))),
        _ => None,
    }
}

/// `scheme://host[:port]`. A configured origin without a port (`wildcard`)
/// accepts every port, and so does `:*`; a presented origin without a port
/// has its scheme's default.
fn origin(value: &str, configured: bool) -> Option<Origin> {
    let (scheme, rest) = value.trim().split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let rest = rest.trim_end_matches('/');
    let (rest, any_port) = match rest.strip_suffix(":*") {
        Some(r) if configured => (r, true),
        _ => (rest, false),
    };
    let (host, port) = authority(rest)?;
    let port = match (port, any_port, configured) {
        (_, true, _) => None,
        (Some(p), _, _) => Some(p),
        (None, _, true) => None,
        (None, _, false) => match scheme.as_str() {
            "http" => Some(80),
            "https" => Some(443),
            _ => None,
        },
    };
    Some(Origin { scheme, host, port })
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(host: Option<&str>, origin: Option<&str>) -> HeaderMap {
        let mut map = HeaderMap::new();
        if let Some(h) = host {
            map.insert(header::HOST, HeaderValue::from_str(h).unwrap());
        }
        if let Some(o) = origin {
            map.insert(header::ORIGIN, HeaderValue::from_str(o).unwrap());
        }
        map
    }

    fn refused(allowed: &Allowed, host: Option<&str>, origin: Option<&str>) -> bool {
        allowed
            .refusal(&Uri::from_static("/mcp"), &headers(host, origin))
            .is_some()
    }

    fn defaults() -> Arc<Allowed> {
        let hosts: Vec<String> = ["localhost", "127.0.0.1", "::1"].map(String::from).into();
        Allowed::new(&hosts, &[])
    }

    #[test]
    fn by_default_only_loopback_hosts_and_the_servers_own_origin_pass() {
        let allowed = defaults();
        assert!(!refused(&allowed, Some("127.0.0.1:8080"), None));
        assert!(!refused(&allowed, Some("[::1]:8080"), None));
        assert!(!refused(
            &allowed,
            Some("localhost:8080"),
            Some("http://localhost:8080")
        ));
        assert!(!refused(
            &allowed,
            Some("localhost"),
            Some("http://localhost")
        ));
        assert!(!refused(&allowed, Some("[::1]:9"), Some("http://[::1]:9")));
        // Another page, even on this machine, is another site.
        assert!(refused(
            &allowed,
            Some("localhost:8080"),
            Some("http://localhost:6274")
        ));
        assert!(refused(
            &allowed,
            Some("localhost:8080"),
            Some("http://127.0.0.1:8080")
        ));
        // The scheme is not compared: behind a TLS-terminating balancer the
        // server's own pages are https while the edge itself speaks http.
        assert!(!refused(
            &allowed,
            Some("localhost:8080"),
            Some("https://localhost:8080")
        ));
        assert!(refused(&allowed, Some("evil.example.com"), None));
        assert!(refused(
            &allowed,
            Some("evil.example.com"),
            Some("http://evil.example.com")
        ));
        assert!(refused(
            &allowed,
            Some("127.0.0.1:8080"),
            Some("https://evil.example")
        ));
        assert!(refused(&allowed, Some("127.0.0.1:8080"), Some("null")));
        assert!(refused(&allowed, Some("127.0.0.1"), Some("not an origin")));
        assert!(refused(&allowed, None, None));
    }

    #[test]
    fn configured_origins_are_accepted_besides_the_servers_own() {
        let allowed = Allowed::new(
            &[],
            &[
                "https://app.example.com".into(),
                "http://tools.example.com:8443".into(),
                "http://localhost:6274".into(),
            ],
        );
        assert!(
            !refused(&allowed, Some("anything"), None),
            "any host when none is set"
        );
        assert!(!refused(&allowed, None, Some("https://app.example.com")));
        assert!(!refused(
            &allowed,
            None,
            Some("https://APP.example.com:444")
        ));
        assert!(!refused(
            &allowed,
            None,
            Some("http://tools.example.com:8443")
        ));
        assert!(!refused(
            &allowed,
            Some("edge:8080"),
            Some("http://localhost:6274")
        ));
        // Any host allowed: a Host is not vetted, so neither is its origin.
        assert!(refused(
            &allowed,
            Some("edge:8080"),
            Some("http://edge:8080")
        ));
        assert!(refused(&allowed, None, Some("http://tools.example.com")));
        assert!(refused(&allowed, None, Some("http://app.example.com")));
        assert!(refused(&allowed, None, Some("http://localhost:6275")));
    }

    #[test]
    fn with_any_host_allowed_only_listed_origins_pass() {
        let allowed = Allowed::new(&[], &[]);
        assert!(!refused(&allowed, Some("evil:8080"), None));
        assert!(refused(
            &allowed,
            Some("evil:8080"),
            Some("http://evil:8080")
        ));
    }

    #[test]
    fn configured_origins_are_checked_for_start_up() {
        for good in [
            "https://app.example.com",
            "http://localhost:6274",
            "http://h:*",
            "https://a.b/",
        ] {
            assert_eq!(invalid_origin(good), None, "{good}");
        }
        for bad in [
            "null",
            "app.example.com",
            "https://a.com/path",
            "https://",
            "http://h:x",
        ] {
            assert!(invalid_origin(bad).is_some(), "{bad}");
        }
    }

    proptest::proptest! {
        #[test]
        fn any_host_and_origin_text_is_decided_without_a_panic(host in ".{0,80}", origin in ".{0,80}") {
            let mut headers = HeaderMap::new();
            if let Ok(h) = HeaderValue::from_str(&host) {
                headers.insert(header::HOST, h);
            }
            if let Ok(o) = HeaderValue::from_str(&origin) {
                headers.insert(header::ORIGIN, o);
            }
            let _ = defaults().refusal(&Uri::from_static("/mcp"), &headers);
            let _ = invalid_origin(&origin);
        }
    }

    #[test]
    fn hosts_with_a_port_match_that_port_only() {
        let allowed = Allowed::new(&["edge.example.com:443".into()], &[]);
        assert!(!refused(&allowed, Some("edge.example.com:443"), None));
        assert!(refused(&allowed, Some("edge.example.com:80"), None));
        assert!(refused(&allowed, Some("edge.example.com"), None));
    }

    #[test]
    fn refusals_quote_at_most_a_short_prefix() {
        let long = format!("http://{}.example", "a".repeat(10_000));
        let reason = defaults()
            .refusal(
                &Uri::from_static("/mcp"),
                &headers(Some("localhost"), Some(&long)),
            )
            .unwrap();
        assert!(reason.len() < 300, "{}", reason.len());
    }
}
