//! The issuer's signing keys, fetched from its JWKS and cached.
//!
//! A token naming a `kid` the cache does not hold makes the edge fetch the
//! set again — at most once per [`Jwks::min_interval`], whoever asks, so a
//! flood of tokens with invented kids costs the issuer one request per
//! interval. Keys older than [`MAX_AGE`] are refreshed on the next token
//! (under the same rule), and kept when the refresh fails. Bounded: the
//! discovery document and the set are read up to [`MAX_BYTES`] each within
//! [`FETCH_TIMEOUT`], and at most [`MAX_KEYS`] RSA signing keys are kept.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use jsonwebtoken::{
    DecodingKey,
    jwk::{AlgorithmParameters, Jwk, KeyAlgorithm, PublicKeyUse},
};
use parking_lot::RwLock;
use url::Url;

/// Most bytes read of the discovery document or the key set.
pub const MAX_BYTES: usize = 256 * 1024;
/// Most keys kept from one set.
pub const MAX_KEYS: usize = 32;
/// Longest a fetch (discovery and set together) may take.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Keys older than this are fetched again on the next token.
pub const MAX_AGE: Duration = Duration::from_secs(3600);
/// The least time between two fetches by default.
pub const MIN_INTERVAL: Duration = Duration::from_secs(10);

/// Why no key verifies a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The set, freshly enough fetched, has no key of this id.
    #[error("the token's signing key (kid) is not one of the issuer's")]
    Unknown,
    /// The set could not be fetched and no key is held.
    #[error("the issuer's signing keys could not be fetched: {0}")]
    Unavailable(String),
}

/// Where the set is.
enum Source {
    /// Configured.
    Fixed(Url),
    /// Read from `{issuer}/.well-known/openid-configuration`, remembered
    /// once found.
    Discovered {
        issuer: String,
        found: RwLock<Option<Url>>,
    },
}

#[derive(Default)]
struct Held {
    keys: HashMap<String, Arc<DecodingKey>>,
    /// When the held keys were fetched.
    fetched: Option<Instant>,
    /// When a fetch was last tried, successful or not.
    tried: Option<Instant>,
}

/// The cached signing keys of one issuer.
pub struct Jwks {
    source: Source,
    client: reqwest::Client,
    held: RwLock<Held>,
    /// One fetch at a time; the others wait for it and read its keys.
    fetching: tokio::sync::Mutex<()>,
    min_interval: Duration,
}

impl Jwks {
    /// The keys of `issuer`, from `jwks_url` or the issuer's discovery
    /// document, fetched at most once per `min_interval`.
    pub fn new(issuer: &str, jwks_url: Option<Url>, min_interval: Duration) -> Self {
        let source = match jwks_url {
            Some(url) => Source::Fixed(url),
            None => Source::Discovered {
                issuer: issuer.trim_end_matches('/').to_owned(),
                found: RwLock::new(None),
            },
        };
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .connect_timeout(FETCH_TIMEOUT)
            .build()
            .unwrap_or_default();
        Self {
            source,
            client,
            held: RwLock::new(Held::default()),
            fetching: tokio::sync::Mutex::new(()),
            min_interval,
        }
    }

    /// The key `kid`, fetching the set when it is unknown or old and the
    /// last fetch is long enough ago.
    pub async fn key(&self, kid: &str) -> Result<Arc<DecodingKey>, KeyError> {
        if let Some(key) = self.fresh(kid) {
            return Ok(key);
        }
        let _one = self.fetching.lock().await;
        // Another request may have fetched while this one waited.
        if let Some(key) = self.fresh(kid) {
            return Ok(key);
        }
        let may_fetch = self
            .held
            .read()
            .tried
            .is_none_or(|at| at.elapsed() >= self.min_interval);
        let mut failure = None;
        if may_fetch {
            self.held.write().tried = Some(Instant::now());
            match tokio::time::timeout(FETCH_TIMEOUT, self.fetch()).await {
                Ok(Ok(keys)) => {
                    let mut held = self.held.write();
                    held.keys = keys;
                    held.fetched = Some(Instant::now());
                }
                Ok(Err(why)) => failure = Some(why),
                Err(_) => failure = Some("no answer in time".to_owned()),
            }
            if let Some(why) = &failure {
                tracing::warn!(error = %why, "the OAuth issuer's signing keys could not be fetched");
            }
        }
        let held = self.held.read();
        match (held.keys.get(kid), failure) {
            // Old, but the issuer did not say otherwise.
            (Some(key), _) => Ok(Arc::clone(key)),
            (None, Some(why)) if held.keys.is_empty() => Err(KeyError::Unavailable(why)),
            (None, _) if held.fetched.is_none() => Err(KeyError::Unavailable(
                "no fetch has succeeded yet; retry shortly".into(),
            )),
            (None, _) => Err(KeyError::Unknown),
        }
    }

    /// As if the interval since the last fetch had passed.
    #[cfg(test)]
    pub fn let_interval_pass(&self) {
        self.held.write().tried = None;
    }

    /// `kid`'s key when held and not older than [`MAX_AGE`].
    fn fresh(&self, kid: &str) -> Option<Arc<DecodingKey>> {
        let held = self.held.read();
        let young = held.fetched.is_some_and(|at| at.elapsed() < MAX_AGE);
        young.then(|| held.keys.get(kid).cloned()).flatten()
    }

    async fn fetch(&self) -> Result<HashMap<String, Arc<DecodingKey>>, String> {
        let url = self.url().await?;
        let set: serde_json::Value = self.get_json(url).await?;
        let Some(entries) = set.get("keys").and_then(|k| k.as_array()) else {
            return Err("the key set has no `keys` array".into());
        };
        let keys: HashMap<_, _> = entries
            .iter()
            .filter_map(signing_key)
            .take(MAX_KEYS)
            .collect();
        if keys.is_empty() {
            return Err("the key set holds no RSA signing key with a kid".into());
        }
        Ok(keys)
    }

    /// The set's URL: configured, or the discovery document's `jwks_uri`.
    async fn url(&self) -> Result<Url, String> {
        let (issuer, found) = match &self.source {
            Source::Fixed(url) => return Ok(url.clone()),
            Source::Discovered { issuer, found } => (issuer, found),
        };
        if let Some(url) = found.read().clone() {
            return Ok(url);
        }
        let discovery = Url::parse(&format!("{issuer}/.well-known/openid-configuration"))
            .map_err(|e| format!("the discovery URL is not valid: {e}"))?;
        let document = self.get_json(discovery).await?;
        let url = document
            .get("jwks_uri")
            .and_then(|u| u.as_str())
            .and_then(|u| Url::parse(u).ok())
            .filter(|u| matches!(u.scheme(), "https" | "http"))
            .ok_or("the discovery document has no usable `jwks_uri`")?;
        *found.write() = Some(url.clone());
        Ok(url)
    }

    async fn get_json(&self, url: Url) -> Result<serde_json::Value, String> {
        let mut response = self
            .client
            .get(url.clone())
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("{url} answered {}", response.status()));
        }
        if response
            .content_length()
            .is_some_and(|n| n > MAX_BYTES as u64)
        {
            return Err(format!("{url} answered more than {MAX_BYTES} bytes"));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| format!("{url}: {e}"))? {
            if body.len() + chunk.len() > MAX_BYTES {
                return Err(format!("{url} answered more than {MAX_BYTES} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body).map_err(|e| format!("{url} answered no JSON: {e}"))
    }
}

/// An entry of the set as a key for RS256: RSA, with a kid, meant for
/// signatures (or unmarked), not pinned to another algorithm. Anything
/// else — an `oct` secret above all — is skipped.
fn signing_key(entry: &serde_json::Value) -> Option<(String, Arc<DecodingKey>)> {
    let jwk: Jwk = serde_json::from_value(entry.clone()).ok()?;
    if !matches!(jwk.algorithm, AlgorithmParameters::RSA(_)) {
        return None;
    }
    if jwk
        .common
        .public_key_use
        .as_ref()
        .is_some_and(|u| *u != PublicKeyUse::Signature)
    {
        return None;
    }
    if jwk
        .common
        .key_algorithm
        .is_some_and(|a| a != KeyAlgorithm::RS256)
    {
        return None;
    }
    let kid = jwk.common.key_id.clone().filter(|k| !k.is_empty())?;
    let key = DecodingKey::from_jwk(&jwk).ok()?;
    Some((kid, Arc::new(key)))
}
