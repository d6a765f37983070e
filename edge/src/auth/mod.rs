//! Authentication: who is calling, decided once per HTTP request.
//!
//! A caller presents an API key as `Authorization: Bearer <key>` or
//! `X-API-Key: <key>`; the edge compares the key's SHA-256 with the
//! configured digests and attaches the [`Principal`] to the request, where
//! sessions (bound to it), rate limits and the worker call read it. With no
//! keys configured (and OAuth off) every caller is [`Principal::anonymous`].
//!
//! With OAuth on (`common::config::oauth`), a bearer credential that is no
//! key and has a JWT's shape is checked as an access token (`token`, keys
//! from `jwks`); the edge is then a protected resource (`resource`: its
//! metadata, `WWW-Authenticate` challenges, the write scope of a tool call).
//!
//! Exactly one credential per request: two `Authorization` headers (or one
//! of each kind) are refused with 400 rather than one chosen silently. A
//! wrong credential is counted against the client's address (`failures`):
//! past the limit the address is refused with 429 before its key is read.

mod failures;
mod jwks;
pub mod resource;
#[cfg(test)]
pub mod test_keys;
#[cfg(test)]
pub mod testing;
mod token;

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

pub use token::Grant;

/// The authenticated caller of one request.
///
/// Who it is — issuer, subject, tenant — is what sessions and streams are
/// bound to; what a token grants is not, so that a refreshed token (new
/// `jti`, maybe new scopes) of the same user goes on with its session.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Principal {
    /// The key's name (or `anonymous`), or a token's `oid` (else `sub`).
    pub subject: String,
    /// The tenant the caller belongs to.
    pub tenant: String,
    /// Who vouches for the subject: empty for an API key, `jwt:<iss>` for
    /// a token (so a key's name never stands for a token's user).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub issuer: String,
    /// What a token grants; `None` for an API key. Never stored.
    #[serde(skip)]
    pub grant: Option<Arc<Grant>>,
}

impl PartialEq for Principal {
    fn eq(&self, other: &Self) -> bool {
        (&self.subject, &self.tenant, &self.issuer)
            == (&other.subject, &other.tenant, &other.issuer)
    }
}

impl Eq for Principal {}

impl std::hash::Hash for Principal {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (&self.subject, &self.tenant, &self.issuer).hash(state);
    }
}

impl Principal {
    /// The caller of an edge that checks no keys.
    pub fn anonymous() -> Self {
        Self::key("anonymous", common::config::auth::DEFAULT_TENANT)
    }

    /// The principal of the API key `name` of `tenant`.
    pub fn key(name: &str, tenant: &str) -> Self {
        Self {
            subject: name.into(),
            tenant: tenant.into(),
            issuer: String::new(),
            grant: None,
        }
    }

    /// Whether the caller may call tools that change data as far as its
    /// credential goes: an API key always (its policy decides), a token
    /// only with the write scope.
    pub fn may_write(&self) -> bool {
        self.grant.as_ref().is_none_or(|g| g.may_write)
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

/// Who may call this edge: its keys, its OAuth issuer's tokens, and the
/// failed attempts so far.
pub struct Auth {
    keys: Vec<ApiKey>,
    oauth: Option<token::Verifier>,
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
    /// An access token refused: 401, 403 or 503 (`token::Rejected`).
    Token(token::Rejected, String),
}

impl Auth {
    /// The authentication of an edge with `config`'s keys.
    pub fn new(config: &EdgeConfig) -> Arc<Self> {
        Arc::new(Self {
            keys: config.api_keys.clone(),
            oauth: config
                .oauth
                .as_ref()
                .map(|o| token::Verifier::new(o, jwks::MIN_INTERVAL)),
            failures: Failures::new(config.auth_failures),
        })
    }

    /// Whether every caller is anonymous (no keys configured, OAuth off).
    pub fn is_open(&self) -> bool {
        self.keys.is_empty() && self.oauth.is_none()
    }

    /// The OAuth settings, when OAuth is on.
    pub fn oauth(&self) -> Option<&common::config::OAuthConfig> {
        self.oauth.as_ref().map(token::Verifier::config)
    }

    /// Failed and refused authentications since start.
    pub fn counts(&self) -> failures::Counts {
        self.failures.counts()
    }

    /// The principal of a request from `client` with `headers`, or the
    /// response refusing it: 429 for an address that failed too often, 400
    /// for two credentials, 401 for none or a wrong one (counted).
    pub async fn check(
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
        match self.identify(headers).await {
            Ok(principal) => Ok(principal),
            Err(Refused::Missing(reason)) => Err(Box::new(self.unauthenticated(reason, false))),
            Err(Refused::Ambiguous(reason)) => Err(Box::new(crate::error::refusal(
                &Failure::new(ErrorCode::InvalidRequest, reason),
                serde_json::Value::Null,
            ))),
            Err(Refused::Wrong { reason, hint }) => {
                self.failures.failed(client, &hint, reason, now);
                Err(Box::new(self.unauthenticated(reason, false)))
            }
            Err(Refused::Token(rejected, hint)) => {
                Err(Box::new(self.refuse_token(client, rejected, &hint, now)))
            }
        }
    }

    /// The principal of `headers`' one credential: an API key, or with
    /// OAuth on a bearer access token.
    async fn identify(&self, headers: &HeaderMap) -> Result<Principal, Refused> {
        let presented = match presented_key(headers) {
            Err(Refused::Missing(_)) if self.oauth.is_some() => {
                return Err(Refused::Missing(
                    "this server needs an OAuth access token (`Authorization: Bearer <token>`) \
                     or an API key",
                ));
            }
            other => other?,
        };
        if let Some(principal) = key_principal(&self.keys, presented) {
            return Ok(principal);
        }
        let bearer = headers.contains_key(header::AUTHORIZATION);
        let Some(verifier) = self
            .oauth
            .as_ref()
            .filter(|_| bearer && token::looks_like_jwt(presented))
        else {
            return Err(wrong_key(presented));
        };
        let refused = |rejected| Refused::Token(rejected, failures::key_hint(presented));
        let principal = verifier.verify(presented).await.map_err(refused)?;
        // The tenant policy knows a caller by its subject: a token's must
        // never be read as a key's.
        if self.keys.iter().any(|k| k.name == principal.subject) {
            return Err(refused(token::Rejected::Invalid(
                "the access token's subject is the name of an API key of this server".into(),
            )));
        }
        Ok(principal)
    }

    /// The answer to a refused token: 401 `invalid_token` (counted as a
    /// failure), 403 `insufficient_scope`, or 503 while the issuer's keys
    /// cannot be had.
    fn refuse_token(
        &self,
        client: Option<IpAddr>,
        rejected: token::Rejected,
        hint: &str,
        now: Instant,
    ) -> Response {
        let Some(config) = self.oauth() else {
            return self.unauthenticated("the credential is not valid", false);
        };
        match rejected {
            token::Rejected::Invalid(why) => {
                self.failures
                    .failed(client, hint, "invalid access token", now);
                self.unauthenticated(&why, true)
            }
            token::Rejected::NoScope => resource::refuse_scope(
                config,
                &config.full_scope(&config.read_scope),
                serde_json::Value::Null,
            ),
            token::Rejected::Unavailable(why) => crate::error::refusal(
                &Failure::new(ErrorCode::Unavailable, why).with_retry_after(Duration::from_secs(5)),
                serde_json::Value::Null,
            ),
        }
    }

    /// 401 for `reason`; with OAuth on, the challenge names the resource
    /// metadata, and whether a presented token was the trouble.
    fn unauthenticated(&self, reason: &str, bad_token: bool) -> Response {
        let hint = if self.oauth.is_some() {
            "send `Authorization: Bearer <token>` with an access token of this server's \
             authorization server (see the resource metadata in WWW-Authenticate), or an API key"
        } else {
            "send `Authorization: Bearer <key>` or `X-API-Key: <key>` with a key of this server"
        };
        let failure = Failure::new(ErrorCode::Unauthenticated, reason).with_hint(hint);
        let mut response = crate::error::refusal(&failure, serde_json::Value::Null);
        let challenge = match self.oauth() {
            Some(config) => resource::unauthorized(config, bad_token.then_some(reason)),
            None => HeaderValue::from_static("Bearer"),
        };
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, challenge);
        response
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
    match auth.check(client, request.headers()).await {
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

/// The principal of API key `headers` present (only keys: tokens are
/// [`Auth::identify`]'s).
#[cfg(test)]
fn identify(keys: &[ApiKey], headers: &HeaderMap) -> Result<Principal, Refused> {
    let presented = presented_key(headers)?;
    key_principal(keys, presented).ok_or_else(|| wrong_key(presented))
}

fn key_principal(keys: &[ApiKey], presented: &str) -> Option<Principal> {
    let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
    keys.iter()
        .find(|k| same(&k.sha256, &digest))
        .map(|k| Principal::key(&k.name, &k.tenant))
}

fn wrong_key(presented: &str) -> Refused {
    Refused::Wrong {
        reason: "the API key is not valid for this server",
        hint: failures::key_hint(presented),
    }
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
mod tests;
