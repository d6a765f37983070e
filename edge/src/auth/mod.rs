//! Authentication: who is calling, decided once per HTTP request.
//!
//! A caller presents an API key as `Authorization: Bearer <key>` or
//! `X-API-Key: <key>`; the edge compares the key's SHA-256 with the
//! configured digests and attaches the [`Principal`] to the request, where
//! sessions (bound to it), rate limits and the worker call read it. With no
//! keys configured every caller is [`Principal::anonymous`].
//!
//! Exactly one credential per request: two `Authorization` headers (or one
//! of each kind) are refused with 400 rather than one chosen silently. A
//! wrong credential is counted against the client's address (`failures`):
//! past the limit the address is refused with 429 before its key is read.

mod failures;

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    extract::{ConnectInfo, Request, State},
    http::{HeaderMap, HeaderValue, header},
    middleware::Next,
    response::Response,
};
use common::{
    ErrorCode, Failure,
    config::{ApiKey, EdgeConfig},
};
use failures::Failures;
use sha2::{Digest, Sha256};

/// The authenticated caller of one request.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Principal {
    /// The key's name (or `anonymous`).
    pub subject: String,
    /// The tenant the caller belongs to.
    pub tenant: String,
}

impl Principal {
    /// The caller of an edge that checks no keys.
    pub fn anonymous() -> Self {
        Self {
            subject: "anonymous".into(),
            tenant: common::config::auth::DEFAULT_TENANT.into(),
        }
    }

    /// The principal `parts` carry: set by [`authenticate`] on every request
    /// the MCP service sees. Anonymous when absent (a handler driven without
    /// the HTTP layer, as in unit tests).
    pub fn of(parts: Option<&http::request::Parts>) -> Self {
        parts
            .and_then(|p| p.extensions.get::<Principal>())
            .cloned()
            .unwrap_or_else(Self::anonymous)
    }
}

/// Who may call this edge: its keys, and the failed attempts so far.
pub struct Auth {
    keys: Vec<ApiKey>,
    failures: Failures,
}

/// Why a request is not served as a principal.
#[derive(Debug, PartialEq)]
enum Refused {
    /// No credential at all: 401, and no guess to count.
    Missing(&'static str),
    /// More than one credential: 400, whichever would be read is ambiguous.
    Ambiguous(&'static str),
    /// A credential that is wrong or malformed: 401, counted as a failure
    /// with a short hint of what was presented.
    Wrong { reason: &'static str, hint: String },
}

impl Auth {
    /// The authentication of an edge with `config`'s keys.
    pub fn new(config: &EdgeConfig) -> Arc<Self> {
        Arc::new(Self {
            keys: config.api_keys.clone(),
            failures: Failures::new(config.auth_failures),
        })
    }

    /// Whether every caller is anonymous (no keys configured).
    pub fn is_open(&self) -> bool {
        self.keys.is_empty()
    }

    /// Failed and refused authentications since start.
    pub fn counts(&self) -> failures::Counts {
        self.failures.counts()
    }

    /// The principal of a request from `client` with `headers`, or the
    /// response refusing it: 429 for an address that failed too often, 400
    /// for two credentials, 401 for none or a wrong one (counted).
    pub fn check(
        &self,
        client: Option<IpAddr>,
        headers: &HeaderMap,
    ) -> Result<Principal, Box<Response>> {
        if self.is_open() {
            return Ok(Principal::anonymous());
        }
        let now = Instant::now();
        if let Some(wait) = self.failures.wait(client, now) {
            return Err(Box::new(too_many_failures(wait)));
        }
        match identify(&self.keys, headers) {
            Ok(principal) => Ok(principal),
            Err(Refused::Missing(reason)) => Err(Box::new(unauthenticated(reason))),
            Err(Refused::Ambiguous(reason)) => Err(Box::new(crate::error::refusal(
                &Failure::new(ErrorCode::InvalidRequest, reason),
                serde_json::Value::Null,
            ))),
            Err(Refused::Wrong { reason, hint }) => {
                self.failures.failed(client, &hint, reason, now);
                Err(Box::new(unauthenticated(reason)))
            }
        }
    }
}

/// The client's address: the TCP peer's, when the server recorded it.
pub fn client_of(extensions: &http::Extensions) -> Option<IpAddr> {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
}

/// Attaches the caller's [`Principal`], or answers with [`Auth::check`]'s
/// refusal.
pub async fn authenticate(
    State(auth): State<Arc<Auth>>,
    mut request: Request,
    next: Next,
) -> Response {
    let client = client_of(request.extensions());
    match auth.check(client, request.headers()) {
        Ok(principal) => {
            request.extensions_mut().insert(principal);
            next.run(request).await
        }
        Err(response) => {
            // Counted here, not in `check`: `/ready` checks a key too, and
            // answers a wrong one without refusing anything.
            crate::metrics::refused(
                if response.status() == axum::http::StatusCode::TOO_MANY_REQUESTS {
                    crate::metrics::Refusal::AuthLimited
                } else {
                    crate::metrics::Refusal::Auth
                },
            );
            *response
        }
    }
}

fn identify(keys: &[ApiKey], headers: &HeaderMap) -> Result<Principal, Refused> {
    let presented = presented_key(headers)?;
    let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
    keys.iter()
        .find(|k| same(&k.sha256, &digest))
        .map(|k| Principal {
            subject: k.name.clone(),
            tenant: k.tenant.clone(),
        })
        .ok_or_else(|| Refused::Wrong {
            reason: "the API key is not valid for this server",
            hint: failures::key_hint(presented),
        })
}

fn presented_key(headers: &HeaderMap) -> Result<&str, Refused> {
    let bearer = headers.get_all(header::AUTHORIZATION).iter().count();
    let api_key = headers.get_all("x-api-key").iter().count();
    if bearer + api_key > 1 {
        return Err(Refused::Ambiguous(
            "send exactly one credential: one `Authorization` header or one `X-API-Key` header",
        ));
    }
    let wrong = |reason: &'static str, value: &[u8]| Refused::Wrong {
        reason,
        hint: failures::key_hint(&String::from_utf8_lossy(value)),
    };
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let text = value.to_str().map_err(|_| {
            wrong(
                "the Authorization header is not readable text",
                value.as_bytes(),
            )
        })?;
        let (scheme, key) = text.split_once(' ').unwrap_or((text, ""));
        if !scheme.eq_ignore_ascii_case("bearer") || key.trim().is_empty() {
            return Err(wrong(
                "send the API key as `Authorization: Bearer <key>`",
                value.as_bytes(),
            ));
        }
        return Ok(key.trim());
    }
    if let Some(value) = headers.get("x-api-key") {
        return value.to_str().map(str::trim).map_err(|_| {
            wrong(
                "the X-API-Key header is not readable text",
                value.as_bytes(),
            )
        });
    }
    Err(Refused::Missing(
        "this server needs an API key: send `Authorization: Bearer <key>` or `X-API-Key: <key>`",
    ))
}

/// Compares digests in constant time: how long it takes says nothing about
/// how much of a key was right.
fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    use subtle::ConstantTimeEq as _;
    bool::from(a.ct_eq(b))
}

fn unauthenticated(reason: &str) -> Response {
    let failure = Failure::new(ErrorCode::Unauthenticated, reason).with_hint(
        "send `Authorization: Bearer <key>` or `X-API-Key: <key>` with a key of this server",
    );
    let mut response = crate::error::refusal(&failure, serde_json::Value::Null);
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

fn too_many_failures(wait: Duration) -> Response {
    let secs = common::error::whole_seconds(wait).max(1);
    let failure = Failure::new(
        ErrorCode::RateLimited,
        format!(
            "too many failed authentications from this address; retry after {secs} s \
             (D365MCP_AUTH_FAILURE_LIMIT)"
        ),
    )
    .with_retry_after(Duration::from_secs(secs));
    crate::error::refusal_with(&failure, serde_json::Value::Null, |data| {
        data.insert("limit".into(), "auth_failures".into());
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Vec<ApiKey> {
        vec![ApiKey {
            name: "erp".into(),
            tenant: "contoso".into(),
            sha256: Sha256::digest(b"s3cret").into(),
        }]
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn a_configured_key_names_its_principal() {
        for h in [
            headers(&[("authorization", "Bearer s3cret")]),
            headers(&[("authorization", "bearer  s3cret ")]),
            headers(&[("x-api-key", "s3cret")]),
        ] {
            let p = identify(&keys(), &h).unwrap();
            assert_eq!((p.subject.as_str(), p.tenant.as_str()), ("erp", "contoso"));
        }
    }

    #[test]
    fn anything_else_is_refused_with_a_reason() {
        for (h, says) in [
            (headers(&[]), "needs an API key"),
            (headers(&[("authorization", "Bearer wrong")]), "not valid"),
            (
                headers(&[("authorization", "Basic czNjcmV0")]),
                "Bearer <key>",
            ),
            (headers(&[("authorization", "Bearer ")]), "Bearer <key>"),
            (headers(&[("x-api-key", "nope")]), "not valid"),
        ] {
            let reason = match identify(&keys(), &h).unwrap_err() {
                Refused::Missing(r) | Refused::Ambiguous(r) | Refused::Wrong { reason: r, .. } => r,
            };
            assert!(reason.contains(says), "{h:?}: {reason}");
        }
    }

    #[test]
    fn two_credentials_are_ambiguous_whatever_they_are() {
        let mut both = headers(&[("authorization", "Bearer s3cret")]);
        both.append("authorization", HeaderValue::from_static("Bearer other"));
        let mixed = headers(&[("authorization", "Bearer s3cret"), ("x-api-key", "s3cret")]);
        let mut two = headers(&[("x-api-key", "s3cret")]);
        two.append("x-api-key", HeaderValue::from_static("s3cret"));
        for h in [both, mixed, two] {
            assert!(
                matches!(identify(&keys(), &h), Err(Refused::Ambiguous(_))),
                "{h:?}"
            );
        }
    }

    #[test]
    fn a_wrong_key_is_hinted_at_never_shown() {
        let h = headers(&[("authorization", "Bearer sk-live-0123456789abcdef")]);
        let Err(Refused::Wrong { hint, .. }) = identify(&keys(), &h) else {
            panic!("a wrong key");
        };
        assert!(!hint.contains("0123456789"), "{hint}");
    }

    #[test]
    fn an_address_that_fails_too_often_is_refused_even_with_a_good_key() {
        let mut config = EdgeConfig::local("127.0.0.1:0".parse().unwrap());
        config.api_keys = keys();
        config.auth_failures = common::config::FailureLimit {
            max: 3,
            window: Duration::from_secs(60),
        };
        let auth = Auth::new(&config);
        let me = Some("192.0.2.7".parse().unwrap());
        let wrong = headers(&[("authorization", "Bearer guess")]);
        for _ in 0..3 {
            let refused = auth.check(me, &wrong).unwrap_err();
            assert_eq!(refused.status(), 401);
        }
        let good = headers(&[("authorization", "Bearer s3cret")]);
        let refused = auth.check(me, &good).unwrap_err();
        assert_eq!(refused.status(), 429);
        assert!(refused.headers().contains_key(header::RETRY_AFTER));
        let elsewhere = Some("192.0.2.8".parse().unwrap());
        assert_eq!(auth.check(elsewhere, &good).unwrap().subject, "erp");
        assert_eq!(
            auth.counts(),
            failures::Counts {
                failed: 3,
                refused: 1
            }
        );
        let mut two = good.clone();
        two.append("authorization", HeaderValue::from_static("Bearer s3cret"));
        assert_eq!(auth.check(elsewhere, &two).unwrap_err().status(), 400);
    }
}
