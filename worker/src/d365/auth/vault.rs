//! The application's credentials read from Azure Key Vault
//! (`credential = "keyvault"`, `D365FO_CREDENTIAL_SOURCE=keyvault`).
//!
//! [`Vault`] reads the three secrets (client id, client secret, tenant id)
//! with one token of the node's own identity ([`AppSource`] of a managed
//! or workload identity, for the vault's audience) and three
//! `GET {vault}/secrets/{name}?api-version=7.4` requests. [`KeyVaultApp`]
//! keeps what it read and the credential made from it, and reads again:
//!
//! - when Entra refuses the cached secret (rotated, so the old one stopped
//!   working): the vault is read, and with a new value the token request
//!   is made again, once;
//! - after D365FO answered 401 to a token of ours ([`KeyVaultApp::refused`]):
//!   the next fetch reads the vault first, so the client's retry of the
//!   request (`D365Client`'s renewal after a 401) goes out with a token
//!   from the current secret. If the vault cannot be read then, the values
//!   in hand are kept.
//!
//! Nothing else re-reads: a worker makes three vault requests at its first
//! token and then only after a refusal, well inside Key Vault's service
//! limits. Secret values are held as [`Secret`] (Debug redacted) and never
//! logged; errors name the vault and the secret, never its value.

use std::{sync::Arc, time::Duration};

use common::config::{ClientCredentials, KeyVaultSource, Secret};
use serde::Deserialize;
use url::Url;

use super::{Token, app::AppSource};
use crate::error::WorkerError;

/// The Key Vault data-plane API version: the one Microsoft Learn's "Get
/// Secret" reference documents with this answer shape
/// (https://learn.microsoft.com/en-us/rest/api/keyvault/secrets/get-secret/get-secret);
/// later versions (2025-07-01) answer the same fields, and 7.4 is served
/// by every cloud.
pub const API_VERSION: &str = "7.4";

/// Largest answer read from the vault. A secret's value is at most 25 KB
/// (Microsoft Learn, "Azure Key Vault service limits":
/// https://learn.microsoft.com/en-us/azure/key-vault/general/service-limits);
/// the answer adds an id and attributes.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Longest value accepted for the client id and tenant id (GUIDs, or a
/// tenant's domain name).
const MAX_ID_CHARS: usize = 256;

/// Reads the application's credentials from one vault.
pub struct Vault {
    http: reqwest::Client,
    source: KeyVaultSource,
    /// The node's identity, for tokens of the vault's audience.
    reader: AppSource,
    /// Where the application's own tokens are asked for.
    authority_host: Url,
}

impl Vault {
    /// A reader of `source`'s secrets; `authority_host` serves both the
    /// node's identity and the application read from the vault.
    pub fn new(
        source: &KeyVaultSource,
        authority_host: &Url,
        http: &reqwest::Client,
    ) -> Result<Self, WorkerError> {
        let reader = AppSource::new(&source.reader(authority_host), http).map_err(|e| {
            WorkerError::Setup(format!(
                "the identity reading Key Vault {}: {e}",
                vault(source)
            ))
        })?;
        Ok(Self {
            http: http.clone(),
            source: source.clone(),
            reader,
            authority_host: authority_host.clone(),
        })
    }

    /// Reads the three secrets; the application's credentials they hold.
    pub async fn read(&self) -> Result<ClientCredentials, WorkerError> {
        let source = &self.source;
        let (token, _) = self.reader.fetch(&source.scope()).await.map_err(|e| {
            WorkerError::Token(format!(
                "Key Vault {}: no token for the vault (audience {}) from the node's identity: {e}",
                vault(source),
                source.audience
            ))
        })?;
        let client_id = self.secret(&token, &source.client_id_secret).await?;
        let client_secret = self.secret(&token, &source.client_secret_secret).await?;
        let tenant_id = self.secret(&token, &source.tenant_id_secret).await?;
        for (value, name) in [
            (&client_id, &source.client_id_secret),
            (&tenant_id, &source.tenant_id_secret),
        ] {
            if value.expose().chars().count() > MAX_ID_CHARS {
                return Err(self.error(name, format!("holds more than {MAX_ID_CHARS} characters")));
            }
        }
        Ok(ClientCredentials::client_secret(
            tenant_id.expose(),
            client_id.expose(),
            client_secret,
            self.authority_host.clone(),
        ))
    }

    /// The value of the secret `name`, trimmed, not empty.
    async fn secret(&self, token: &Token, name: &str) -> Result<Secret, WorkerError> {
        let url = format!(
            "{}/secrets/{name}?api-version={API_VERSION}",
            self.source.vault_url.as_str().trim_end_matches('/')
        );
        let response = self
            .http
            .get(&url)
            .timeout(super::FETCH_TIMEOUT)
            .header("authorization", token.header_value())
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| self.error(name, format!("could not be read: {}", e.without_url())))?;
        let status = response.status();
        let body = super::entra::read_bounded(response, MAX_ANSWER_BYTES)
            .await
            .map_err(|e| self.error(name, format!("could not be read: {e}")))?;
        if !status.is_success() {
            return Err(self.error(name, refusal(status.as_u16(), &body)));
        }
        parse_secret(&body).map_err(|why| self.error(name, why))
    }

    fn error(&self, name: &str, why: String) -> WorkerError {
        WorkerError::Token(format!(
            "Key Vault {}: the secret `{name}` {why}",
            vault(&self.source)
        ))
    }
}

fn vault(source: &KeyVaultSource) -> &str {
    source.vault_url.as_str().trim_end_matches('/')
}

/// The `value` of a Get Secret answer (`{"value","id","attributes"}`).
pub(super) fn parse_secret(body: &[u8]) -> Result<Secret, String> {
    #[derive(Deserialize)]
    struct Answer {
        value: Option<String>,
    }
    let answer: Answer = serde_json::from_slice(body)
        .map_err(|e| format!("came back unreadable (not Key Vault's answer: {e})"))?;
    let value = answer.value.unwrap_or_default();
    let value = value.trim();
    if value.is_empty() {
        return Err("is empty".into());
    }
    Ok(Secret::new(value))
}

/// Key Vault's error answer (`{"error":{"code","message"}}`, Microsoft
/// Learn, "Azure Key Vault REST API error codes":
/// https://learn.microsoft.com/en-us/azure/key-vault/general/rest-error-codes)
/// as words an operator can act on.
pub(super) fn refusal(status: u16, body: &[u8]) -> String {
    #[derive(Deserialize, Default)]
    struct Body {
        #[serde(default)]
        error: Inner,
    }
    #[derive(Deserialize, Default)]
    struct Inner {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    let inner = serde_json::from_slice::<Body>(body)
        .unwrap_or_default()
        .error;
    // Clipped: the text is the vault's.
    let clip = |s: &str, n: usize| s.chars().take(n).collect::<String>();
    let detail = if inner.code.is_empty() {
        String::new()
    } else {
        format!(" {}: {}", clip(&inner.code, 64), clip(&inner.message, 300))
    };
    let hint = match status {
        401 => " (the node's token was refused: check the vault's audience)",
        403 => " (the node's identity needs the role \"Key Vault Secrets User\" on the vault)",
        404 => " (no such secret in the vault: check the name)",
        _ => "",
    };
    format!("was refused: HTTP {status}{detail}{hint}")
}

/// The application's identity when its credentials live in Key Vault:
/// the values read and the credential made from them, read again after a
/// refusal (see the module docs).
pub struct KeyVaultApp {
    vault: Vault,
    http: reqwest::Client,
    current: parking_lot::Mutex<Option<Arc<Loaded>>>,
    /// Set by a D365FO 401: the next fetch reads the vault first.
    reread: std::sync::atomic::AtomicBool,
    /// Held by the one caller reading the vault.
    reading: tokio::sync::Mutex<()>,
}

struct Loaded {
    credentials: ClientCredentials,
    app: AppSource,
}

impl KeyVaultApp {
    /// The application of `source`; nothing is read until the first token.
    pub fn new(
        source: &KeyVaultSource,
        authority_host: &Url,
        http: &reqwest::Client,
    ) -> Result<Self, WorkerError> {
        Ok(Self {
            vault: Vault::new(source, authority_host, http)?,
            http: http.clone(),
            current: parking_lot::Mutex::new(None),
            reread: std::sync::atomic::AtomicBool::new(false),
            reading: tokio::sync::Mutex::new(()),
        })
    }

    /// A token of `scope` for the application, reading the vault as needed.
    pub(super) async fn fetch(&self, scope: &str) -> Result<(Token, Duration), WorkerError> {
        use std::sync::atomic::Ordering;
        let loaded = match self.loaded() {
            Some(loaded) if self.reread.swap(false, Ordering::SeqCst) => {
                match self.reload(&loaded).await {
                    Ok(fresh) => fresh,
                    Err(e) => {
                        tracing::warn!(error = %e, "could not re-read the D365FO credentials from Key Vault after a 401; keeping those in hand");
                        loaded
                    }
                }
            }
            Some(loaded) => loaded,
            None => self.reload_if(None).await?,
        };
        match loaded.app.fetch(scope).await {
            Err(WorkerError::Token(refused)) => {
                // Perhaps rotated: the old secret stops working at Entra.
                let fresh = self.reload(&loaded).await?;
                if fresh.credentials == loaded.credentials {
                    return Err(WorkerError::Token(refused));
                }
                tracing::info!("D365FO credentials changed in Key Vault; using the new ones");
                fresh.app.fetch(scope).await
            }
            answer => answer,
        }
    }

    /// D365FO refused a token of this application: read the vault before
    /// the next token.
    pub(super) fn refused(&self) {
        self.reread.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    fn loaded(&self) -> Option<Arc<Loaded>> {
        self.current.lock().clone()
    }

    async fn reload(&self, stale: &Arc<Loaded>) -> Result<Arc<Loaded>, WorkerError> {
        self.reload_if(Some(stale)).await
    }

    /// Reads the vault unless another caller did since `stale` was in hand
    /// (single flight: a burst of refusals makes one read).
    async fn reload_if(&self, stale: Option<&Arc<Loaded>>) -> Result<Arc<Loaded>, WorkerError> {
        let _turn = self.reading.lock().await;
        let current = self.loaded();
        match (&current, stale) {
            (Some(now), Some(old)) if !Arc::ptr_eq(now, old) => return Ok(Arc::clone(now)),
            (Some(now), None) => return Ok(Arc::clone(now)),
            _ => {}
        }
        let credentials = self.vault.read().await?;
        let app = AppSource::new(&credentials, &self.http)?;
        let loaded = Arc::new(Loaded { credentials, app });
        *self.current.lock() = Some(Arc::clone(&loaded));
        tracing::debug!("read the D365FO credentials from Key Vault");
        Ok(loaded)
    }
}

#[cfg(test)]
#[path = "vault_tests.rs"]
mod tests;
