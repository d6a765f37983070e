//! Bearer tokens for D365FO.
//!
//! Entra ID client credentials, fetched through `azure_identity`'s
//! [`ClientSecretCredential`] and cached here until five minutes before they
//! expire. The cache is single-flight: fetches run one at a time under an
//! async mutex, and a caller that waited for another's fetch takes its
//! token, so a burst of calls after expiry makes one token request. A caller
//! waits at most [`FETCH_TIMEOUT`] for its turn and the fetch together, so a
//! hung token endpoint fails calls with a clear error instead of holding
//! them forever.
//!
//! When D365FO answers 401, the client hands back the token it sent
//! ([`TokenProvider::invalidate`]); if that token is still the cached one it
//! is dropped, and the next caller fetches a new one. A token fetched since
//! is kept, so a burst of 401s on one token makes one renewal. Reading and
//! dropping the cached token never waits for a fetch in flight.
//!
//! # Why a new `ClientSecretCredential` for every fetch
//!
//! `azure_identity` 1.0.0 caches too: `ClientSecretCredential::get_token`
//! goes through its crate-private `TokenCache::get_token` (`src/cache.rs`),
//! one per credential instance, keyed by scopes, which hands back the same
//! token until it is within 300 s of `expires_on` (`should_refresh`). It has
//! no way to clear an entry, and azure_core 1.1.0's `TokenRequestOptions`
//! holds only `method_options` (a context): no force-refresh and no claims
//! challenge. Microsoft's Azure Identity docs (`TOKEN_CACHING.md` in the
//! azure-sdk repositories) describe the same in-memory cache per credential
//! instance. So with one long-lived credential, a token D365FO refuses
//! before it expires (revoked, app re-registered) would come back on every
//! fetch for up to an hour. A credential is cheap to make (a URL and an HTTP
//! pipeline around the worker's shared `reqwest` client and its connection
//! pool), so each fetch makes a fresh one, whose cache is empty: the cache
//! here is the only one, and a fetch always asks Entra ID.
//!

//! `azure_identity` insists on an `https` authority host. A local simulator's
//! token endpoint is plain `http`, so for that case the same client-credentials
//! request is made directly (it is one form POST, [`entra`]). Tokens never
//! reach a log: [`Token`] has no `Debug`.
//!
//! # Layout
//!
//! - [`app`]: the application identity of each credential kind (client
//!   secret, certificate, workload identity, managed identity, Azure CLI),
//!   each made afresh for every fetch.
//! - [`entra`]: the token endpoint's form POST (client credentials and
//!   on-behalf-of), bounded in time and size, and Entra's error body mapped
//!   to an error naming its AADSTS code.
//! - [`assertion`]: the client assertion a certificate signs.
//! - [`vault`]: the application's credentials read from Azure Key Vault,
//!   and read again after a rotation (a refusal by Entra or a D365FO 401).
//! - [`imds`]: a managed identity's token from the simulator's stand-in
//!   for Azure's instance metadata service.
//! - [`obo`]: the signed-in user's own identity, through the on-behalf-of
//!   exchange: who is calling ([`obo::Caller`]), the per-user token cache.

pub mod app;
pub mod assertion;
pub mod entra;
pub mod imds;
pub mod obo;
pub mod vault;

use std::{sync::Arc, time::Duration};

use common::config::ClientCredentials;
use tokio::time::Instant;

use crate::error::WorkerError;

/// Refresh this long before a token expires.
const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

/// Longest a token is cached, whatever the endpoint says (Entra ID's are
/// about an hour; a bogus `expires_in` must not pin a token for ever).
const MAX_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);

/// Longest a caller waits for a token: for its turn to fetch and the fetch.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(30);

/// A bearer token. No `Debug`, so it cannot be logged by accident.
#[derive(Clone)]
pub struct Token(Arc<str>);

impl Token {
    /// A token with the text `access_token`.
    pub(crate) fn new(access_token: &str) -> Self {
        Self(access_token.into())
    }

    /// The `Authorization` header value.
    pub fn header_value(&self) -> String {
        format!("Bearer {}", self.0)
    }

    /// Whether `self` and `other` came from the same fetch (not merely
    /// equal text): what [`TokenProvider::invalidate`] compares.
    fn same_fetch(&self, other: &Token) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

struct Cached {
    token: Token,
    refresh_at: Instant,
}

/// Where a provider's tokens come from.
enum Source {
    /// The environment's application identity.
    App(Box<app::AppSource>),
    /// One signed-in user, through the on-behalf-of exchange of their
    /// token (held in memory only, never logged).
    User {
        endpoint: Arc<entra::Endpoint>,
        assertion: common::config::Secret,
    },
}

/// Supplies tokens for one environment, or none when it needs none.
pub struct TokenProvider {
    source: Option<Source>,
    scope: String,
    /// The token in hand; held only to read or replace it, never across
    /// an `.await`.
    cache: parking_lot::Mutex<Option<Cached>>,
    /// Held by the one caller fetching a token.
    fetching: tokio::sync::Mutex<()>,
    fetch_timeout: Duration,
}

impl TokenProvider {
    /// A provider that sends no token (a simulator, or a gateway that adds one).
    pub fn none() -> Self {
        Self::with_source(None, String::new())
    }

    fn with_source(source: Option<Source>, scope: String) -> Self {
        Self {
            source,
            scope,
            cache: parking_lot::Mutex::new(None),
            fetching: tokio::sync::Mutex::new(()),
            fetch_timeout: FETCH_TIMEOUT,
        }
    }

    /// A provider for `credentials`, asking for `scope`; token requests go
    /// through `http`, the worker's shared client.
    pub fn client_credentials(
        credentials: &ClientCredentials,
        scope: String,
        http: &reqwest::Client,
    ) -> Result<Self, WorkerError> {
        let source = app::AppSource::new(credentials, http)?;
        Ok(Self::with_source(
            Some(Source::App(Box::new(source))),
            scope,
        ))
    }

    /// A provider for one signed-in user, exchanging `assertion` (the
    /// user's access token) at `endpoint` for tokens of `scope`.
    pub(crate) fn on_behalf_of(
        endpoint: Arc<entra::Endpoint>,
        assertion: &str,
        scope: String,
    ) -> Self {
        let source = Source::User {
            endpoint,
            assertion: common::config::Secret::new(assertion),
        };
        Self::with_source(Some(source), scope)
    }

    /// Whether requests carry a token: only then can a 401 be answered by
    /// fetching another.
    pub fn sends_tokens(&self) -> bool {
        self.source.is_some()
    }

    /// A valid token, from the cache or fresh; `None` when no token is sent.
    pub async fn token(&self) -> Result<Option<Token>, WorkerError> {
        let Some(source) = &self.source else {
            return Ok(None);
        };
        tokio::time::timeout(self.fetch_timeout, self.cached_or_fetch(source))
            .await
            .unwrap_or_else(|_| {
                Err(WorkerError::Token(format!(
                    "the token endpoint did not answer within {} s",
                    self.fetch_timeout.as_secs_f64()
                )))
            })
            .map(Some)
    }

    async fn cached_or_fetch(&self, source: &Source) -> Result<Token, WorkerError> {
        if let Some(token) = self.cached() {
            return Ok(token);
        }
        let _turn = self.fetching.lock().await;
        // Whoever held the turn before may have fetched one for us.
        if let Some(token) = self.cached() {
            return Ok(token);
        }
        let (token, lifetime) = fetch(source, &self.scope).await?;
        *self.cache.lock() = Some(Cached {
            token: token.clone(),
            refresh_at: refresh_at(Instant::now(), lifetime),
        });
        tracing::debug!(
            valid_for_secs = lifetime.as_secs(),
            "obtained a D365FO token"
        );
        Ok(token)
    }

    /// The cached token, unless it is due for refresh.
    fn cached(&self) -> Option<Token> {
        self.cache
            .lock()
            .as_ref()
            .filter(|c| Instant::now() < c.refresh_at)
            .map(|c| c.token.clone())
    }

    /// D365FO refused `refused`: forget it if it is still the cached token,
    /// so the next caller fetches another. A token fetched since (another
    /// caller's renewal after the same 401) is kept.
    pub fn invalidate(&self, refused: &Token) {
        let mut cache = self.cache.lock();
        if cache.as_ref().is_some_and(|c| c.token.same_fetch(refused)) {
            *cache = None;
            if let Some(Source::App(app)) = &self.source {
                app.refused();
            }
        }
    }
}

/// When to fetch again a token obtained at `now` that lives `lifetime`:
/// [`REFRESH_MARGIN`] before it expires, or halfway through a short-lived
/// one rather than on every call. Never panics, whatever the endpoint said.
fn refresh_at(now: Instant, lifetime: Duration) -> Instant {
    let lifetime = lifetime.min(MAX_LIFETIME);
    let keep = lifetime.checked_sub(REFRESH_MARGIN).unwrap_or(lifetime / 2);
    now.checked_add(keep).unwrap_or(now)
}

async fn fetch(source: &Source, scope: &str) -> Result<(Token, Duration), WorkerError> {
    match source {
        Source::App(app) => app.fetch(scope).await,
        Source::User {
            endpoint,
            assertion,
        } => endpoint.on_behalf_of(assertion.expose(), scope).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credentials(authority: &str) -> ClientCredentials {
        ClientCredentials::client_secret(
            "00000000-0000-0000-0000-000000000001",
            "client",
            common::config::Secret::new("s3cret"),
            url::Url::parse(authority).unwrap(),
        )
    }

    #[tokio::test]
    async fn sources_follow_the_authority_scheme() {
        let http = reqwest::Client::new();
        let scope = "https://x.operations.dynamics.com/.default".to_owned();
        let azure = TokenProvider::client_credentials(
            &credentials("https://login.microsoftonline.com"),
            scope.clone(),
            &http,
        )
        .unwrap();
        assert!(matches!(
            azure.source,
            Some(Source::App(ref app)) if matches!(**app, app::AppSource::Azure(_))
        ));
        let direct =
            TokenProvider::client_credentials(&credentials("http://127.0.0.1:1/"), scope, &http)
                .unwrap();
        let Some(Source::App(app)) = &direct.source else {
            panic!("expected the application's source");
        };
        let app::AppSource::Direct(endpoint) = app.as_ref() else {
            panic!("expected the direct source for an http authority");
        };
        assert_eq!(
            endpoint.url().as_str(),
            "http://127.0.0.1:1/00000000-0000-0000-0000-000000000001/oauth2/v2.0/token"
        );
        assert!(TokenProvider::none().token().await.unwrap().is_none());
    }

    #[test]
    fn token_lifetimes_are_clamped() {
        let now = Instant::now();
        let hour = Duration::from_secs(3600);
        assert_eq!(refresh_at(now, hour), now + hour - REFRESH_MARGIN);
        assert_eq!(
            refresh_at(now, Duration::from_secs(60)),
            now + Duration::from_secs(30)
        );
        assert_eq!(refresh_at(now, Duration::ZERO), now);
        // A bogus `expires_in` neither panics nor caches beyond a day.
        for huge in [Duration::from_secs(u64::MAX), Duration::MAX] {
            assert_eq!(refresh_at(now, huge), now + MAX_LIFETIME - REFRESH_MARGIN);
        }
    }

    #[test]
    fn only_the_refused_fetch_is_forgotten() {
        let provider = TokenProvider::none();
        let cache = |token: &Token| {
            *provider.cache.lock() = Some(Cached {
                token: token.clone(),
                refresh_at: Instant::now() + Duration::from_secs(60),
            });
        };
        let first = Token("same text".into());
        let renewed = Token("same text".into());
        cache(&renewed);
        // A late 401 on the token before: the renewal stays.
        provider.invalidate(&first);
        assert!(provider.cached().is_some_and(|t| t.same_fetch(&renewed)));
        provider.invalidate(&renewed);
        assert!(provider.cached().is_none());
        provider.invalidate(&renewed);
        assert!(provider.cached().is_none());
    }

    #[tokio::test]
    async fn a_hung_token_endpoint_fails_every_caller_in_time() {
        // Bound but never accepted: the connection opens, nothing answers.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let authority = format!("http://{}", listener.local_addr().unwrap());
        let mut provider = TokenProvider::client_credentials(
            &credentials(&authority),
            "s".into(),
            &reqwest::Client::new(),
        )
        .unwrap();
        provider.fetch_timeout = Duration::from_millis(300);
        let started = std::time::Instant::now();
        // The second caller waits behind the first's fetch, on the same clock.
        let (a, b) = tokio::join!(provider.token(), provider.token());
        for result in [a, b] {
            let Err(error) = result else {
                panic!("a token from a silent endpoint");
            };
            assert_eq!(error.code(), common::ErrorCode::UpstreamAuth);
            assert!(error.to_string().contains("did not answer"), "{error}");
        }
        assert!(started.elapsed() < Duration::from_secs(5));
        drop(listener);
    }

    #[tokio::test]
    async fn an_unreachable_token_endpoint_is_an_auth_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let authority = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        let provider = TokenProvider::client_credentials(
            &credentials(&authority),
            "s".into(),
            &reqwest::Client::new(),
        )
        .unwrap();
        let Err(error) = provider.token().await else {
            panic!("a token from nowhere");
        };
        assert_eq!(error.code(), common::ErrorCode::UpstreamAuth);
        assert!(!error.to_string().contains("s3cret"));
    }
}
