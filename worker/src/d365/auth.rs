//! Bearer tokens for D365FO.
//!
//! Entra ID client credentials, fetched through `azure_identity`'s
//! [`ClientSecretCredential`] and cached here until five minutes before they
//! expire. The cache is single-flight: the refresh runs under an async mutex,
//! so a burst of calls after expiry makes one token request, and the others
//! wait for it and reuse its answer. A caller waits at most
//! [`FETCH_TIMEOUT`] for the lock and the fetch together, so a hung token
//! endpoint fails calls with a clear error instead of holding them forever.
//!
//! `azure_identity` insists on an `https` authority host. A local simulator's
//! token endpoint is plain `http`, so for that case the same client-credentials
//! request is made directly (it is one form POST). Tokens never reach a log:
//! [`Token`] has no `Debug`.

use std::{
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use azure_core::{
    cloud::{CloudConfiguration, CustomConfiguration},
    credentials::{Secret, TokenCredential},
    http::{ClientOptions, Transport},
};
use azure_identity::{ClientSecretCredential, ClientSecretCredentialOptions};
use common::config::ClientCredentials;
use serde::Deserialize;
use tokio::{sync::Mutex, time::Instant};
use url::Url;

use crate::error::WorkerError;

/// Refresh this long before a token expires.
const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

/// Longest a token is cached, whatever the endpoint says (Entra ID's are
/// about an hour; a bogus `expires_in` must not pin a token for ever).
const MAX_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);

/// Longest a caller waits for a token: for the cache's lock and the fetch.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(30);

/// A bearer token. No `Debug`, so it cannot be logged by accident.
#[derive(Clone)]
pub struct Token(Arc<str>);

impl Token {
    /// The `Authorization` header value.
    pub fn header_value(&self) -> String {
        format!("Bearer {}", self.0)
    }
}

struct Cached {
    token: Token,
    refresh_at: Instant,
}

enum Source {
    Azure(Arc<ClientSecretCredential>),
    /// Client credentials against a plain-HTTP token endpoint (a simulator).
    Direct {
        http: reqwest::Client,
        endpoint: Url,
        client_id: String,
        secret: common::config::Secret,
    },
}

/// Supplies tokens for one environment, or none when it needs none.
pub struct TokenProvider {
    source: Option<Source>,
    scope: String,
    cache: Mutex<Option<Cached>>,
    fetch_timeout: Duration,
}

impl TokenProvider {
    /// A provider that sends no token (a simulator, or a gateway that adds one).
    pub fn none() -> Self {
        Self {
            source: None,
            scope: String::new(),
            cache: Mutex::new(None),
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
        let authority = credentials.authority_host.as_str().trim_end_matches('/');
        let source = if credentials.authority_host.scheme() == "https" {
            let mut cloud = CustomConfiguration::default();
            cloud.authority_host = authority.to_owned();
            let options = ClientSecretCredentialOptions {
                client_options: ClientOptions {
                    transport: Some(Transport::new(Arc::new(http.clone()))),
                    cloud: Some(Arc::new(CloudConfiguration::from(cloud))),
                    ..ClientOptions::default()
                },
            };
            let credential = ClientSecretCredential::new(
                &credentials.tenant_id,
                credentials.client_id.clone(),
                Secret::new(credentials.client_secret.expose().to_owned()),
                Some(options),
            )
            .map_err(|e| WorkerError::Setup(format!("Entra ID client credentials: {e}")))?;
            Source::Azure(credential)
        } else {
            let endpoint = Url::parse(&format!(
                "{authority}/{}/oauth2/v2.0/token",
                credentials.tenant_id
            ))
            .map_err(|e| WorkerError::Setup(format!("token endpoint: {e}")))?;
            Source::Direct {
                http: http.clone(),
                endpoint,
                client_id: credentials.client_id.clone(),
                secret: credentials.client_secret.clone(),
            }
        };
        Ok(Self {
            source: Some(source),
            scope,
            cache: Mutex::new(None),
            fetch_timeout: FETCH_TIMEOUT,
        })
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
        let mut cache = self.cache.lock().await;
        if let Some(cached) = cache.as_ref().filter(|c| Instant::now() < c.refresh_at) {
            return Ok(cached.token.clone());
        }
        let (token, lifetime) = fetch(source, &self.scope).await?;
        *cache = Some(Cached {
            token: token.clone(),
            refresh_at: refresh_at(Instant::now(), lifetime),
        });
        tracing::debug!(
            valid_for_secs = lifetime.as_secs(),
            "obtained a D365FO token"
        );
        Ok(token)
    }

    /// Forgets the cached token, after D365FO refused it.
    pub async fn invalidate(&self) {
        *self.cache.lock().await = None;
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
        Source::Azure(credential) => {
            let access = credential
                .get_token(&[scope], None)
                .await
                .map_err(|e| WorkerError::Token(e.to_string()))?;
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            let expires = u64::try_from(access.expires_on.unix_timestamp()).unwrap_or(0);
            let lifetime = Duration::from_secs(expires.saturating_sub(now));
            Ok((Token(access.token.secret().into()), lifetime))
        }
        Source::Direct {
            http,
            endpoint,
            client_id,
            secret,
        } => fetch_direct(http, endpoint, client_id, secret, scope).await,
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: u64,
}

async fn fetch_direct(
    http: &reqwest::Client,
    endpoint: &Url,
    client_id: &str,
    secret: &common::config::Secret,
    scope: &str,
) -> Result<(Token, Duration), WorkerError> {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "client_credentials")
        .append_pair("client_id", client_id)
        .append_pair("client_secret", secret.expose())
        .append_pair("scope", scope)
        .finish();
    let response = http
        .post(endpoint.clone())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .map_err(|e| WorkerError::Token(format!("{endpoint}: {e}")))?;
    let status = response.status();
    let text = response
        .text()
        .await
        .map_err(|e| WorkerError::Token(format!("{endpoint}: {e}")))?;
    if !status.is_success() {
        #[derive(Deserialize)]
        struct EntraError {
            #[serde(default)]
            error: String,
            #[serde(default)]
            error_description: String,
        }
        let why = serde_json::from_str::<EntraError>(&text)
            .map(|e| format!("{}: {}", e.error, e.error_description))
            .unwrap_or_else(|_| format!("HTTP {status}"));
        return Err(WorkerError::Token(why));
    }
    let parsed: TokenResponse = serde_json::from_str(&text)
        .map_err(|e| WorkerError::Token(format!("unreadable token response: {e}")))?;
    Ok((
        Token(parsed.access_token.into()),
        Duration::from_secs(parsed.expires_in),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credentials(authority: &str) -> ClientCredentials {
        ClientCredentials {
            tenant_id: "00000000-0000-0000-0000-000000000001".into(),
            client_id: "client".into(),
            client_secret: common::config::Secret::new("s3cret"),
            authority_host: Url::parse(authority).unwrap(),
        }
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
        assert!(matches!(azure.source, Some(Source::Azure(_))));
        let direct =
            TokenProvider::client_credentials(&credentials("http://127.0.0.1:1/"), scope, &http)
                .unwrap();
        let Some(Source::Direct { endpoint, .. }) = &direct.source else {
            panic!("expected the direct source for an http authority");
        };
        assert_eq!(
            endpoint.as_str(),
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
