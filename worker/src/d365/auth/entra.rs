//! The token endpoint of an Entra ID tenant, spoken directly: one form
//! POST to `{authority}/{tenant}/oauth2/v2.0/token` (Microsoft identity
//! platform, OAuth 2.0 client credentials and on-behalf-of flows).
//!
//! Used where `azure_identity` has nothing: the on-behalf-of grant (it has
//! no such credential), a certificate's client assertion (its certificate
//! credential needs OpenSSL), and a plain-`http` simulator. The grant is
//! Entra's own on-behalf-of (`grant_type` `jwt-bearer`,
//! `requested_token_use=on_behalf_of`), not RFC 8693 token exchange, which
//! Entra ID does not accept.
//!
//! Bounded: the answer is read up to [`MAX_ANSWER_BYTES`] within
//! [`super::FETCH_TIMEOUT`]. Entra's error body (`error`,
//! `error_description`, `error_codes`) becomes an `upstream_auth` error
//! that names the AADSTS code; a refused user token (`invalid_grant`,
//! `interaction_required`) tells the client to sign in again, and is never
//! retried here.

use std::{path::PathBuf, sync::Arc, time::Duration};

use common::config::{ClientCredentials, CredentialKind, Secret};
use serde::Deserialize;
use url::Url;

use super::{Token, assertion::Certificate};
use crate::error::WorkerError;

/// Largest token-endpoint answer read (Entra's are a few kilobytes).
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Largest federated token file read (a Kubernetes service account token
/// is about a kilobyte).
const MAX_FEDERATED_TOKEN_BYTES: u64 = 64 * 1024;

/// The `client_assertion_type` of a signed JWT or a federated token.
const JWT_BEARER_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The `grant_type` of the on-behalf-of flow.
pub const OBO_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// How the application authenticates itself at the token endpoint.
pub enum ClientAuth {
    /// `client_secret`.
    Secret(Secret),
    /// A client assertion signed with the certificate's key, made afresh
    /// for every request.
    Certificate(Arc<Certificate>),
    /// A federated token (workload identity) as the client assertion, read
    /// from its file for every request, since Kubernetes rotates it.
    Federated(PathBuf),
}

/// One application's token endpoint.
pub struct Endpoint {
    http: reqwest::Client,
    url: Url,
    client_id: String,
    auth: ClientAuth,
}

impl Endpoint {
    /// The endpoint of `credentials`, which must authenticate the
    /// application (a secret, a certificate or a federated token).
    pub fn new(
        credentials: &ClientCredentials,
        http: &reqwest::Client,
    ) -> Result<Self, WorkerError> {
        let url = Url::parse(&credentials.token_endpoint())
            .map_err(|e| WorkerError::Setup(format!("token endpoint: {e}")))?;
        let auth = match &credentials.kind {
            CredentialKind::ClientSecret(secret) => ClientAuth::Secret(secret.clone()),
            CredentialKind::Certificate(path) => {
                ClientAuth::Certificate(Arc::new(Certificate::load(path)?))
            }
            CredentialKind::WorkloadIdentity(path) => ClientAuth::Federated(path.clone()),
            other => {
                return Err(WorkerError::Setup(format!(
                    "credential = \"{}\" cannot authenticate the application at Entra ID's \
                     token endpoint (use client_secret, certificate or workload_identity)",
                    other.name()
                )));
            }
        };
        Ok(Self {
            http: http.clone(),
            url,
            client_id: credentials.client_id.clone(),
            auth,
        })
    }

    /// The token endpoint's URL.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// A token of the application itself (client credentials grant).
    pub async fn client_credentials(&self, scope: &str) -> Result<(Token, Duration), WorkerError> {
        let form = self
            .form(&[("grant_type", "client_credentials"), ("scope", scope)])
            .await?;
        self.post(form, Grant::App).await
    }

    /// A token for the user whose access token `assertion` is (Entra's
    /// on-behalf-of grant).
    pub async fn on_behalf_of(
        &self,
        assertion: &str,
        scope: &str,
    ) -> Result<(Token, Duration), WorkerError> {
        let form = self
            .form(&[
                ("grant_type", OBO_GRANT),
                ("requested_token_use", "on_behalf_of"),
                ("assertion", assertion),
                ("scope", scope),
            ])
            .await?;
        self.post(form, Grant::User).await
    }

    /// The form body: `grant`, then the client's id and authentication.
    pub(super) async fn form(&self, grant: &[(&str, &str)]) -> Result<String, WorkerError> {
        // Read before the serializer exists: it is not `Send`.
        let federated = match &self.auth {
            ClientAuth::Federated(path) => Some(read_federated_token(path).await?),
            _ => None,
        };
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.extend_pairs(grant);
        form.append_pair("client_id", &self.client_id);
        match &self.auth {
            ClientAuth::Secret(secret) => {
                form.append_pair("client_secret", secret.expose());
            }
            ClientAuth::Certificate(certificate) => {
                let jwt = certificate.assertion(&self.client_id, self.url.as_str())?;
                form.append_pair("client_assertion_type", JWT_BEARER_ASSERTION);
                form.append_pair("client_assertion", &jwt);
            }
            ClientAuth::Federated(_) => {
                form.append_pair("client_assertion_type", JWT_BEARER_ASSERTION);
                form.append_pair("client_assertion", federated.as_deref().unwrap_or_default());
            }
        }
        Ok(form.finish())
    }

    async fn post(&self, form: String, grant: Grant) -> Result<(Token, Duration), WorkerError> {
        let endpoint = &self.url;
        let response = self
            .http
            .post(endpoint.clone())
            .timeout(super::FETCH_TIMEOUT)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(form)
            .send()
            .await
            .map_err(|e| WorkerError::Token(format!("{endpoint}: {e}")))?;
        let status = response.status();
        let body = read_bounded(response, MAX_ANSWER_BYTES)
            .await
            .map_err(|e| WorkerError::Token(format!("{endpoint}: {e}")))?;
        if !status.is_success() {
            return Err(refusal(grant, status.as_u16(), &body));
        }
        parse_answer(&body)
    }
}

/// Which grant was refused: the application's own, or a user's exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Grant {
    App,
    User,
}

/// Reads at most `max` bytes of `response`.
pub(super) async fn read_bounded(
    mut response: reqwest::Response,
    max: usize,
) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
        if body.len() + chunk.len() > max {
            return Err(format!("an answer of more than {max} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

async fn read_federated_token(path: &std::path::Path) -> Result<String, WorkerError> {
    use tokio::io::AsyncReadExt;
    let shown = path.display();
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| WorkerError::Token(format!("the federated token file {shown}: {e}")))?;
    let mut text = String::new();
    file.take(MAX_FEDERATED_TOKEN_BYTES)
        .read_to_string(&mut text)
        .await
        .map_err(|e| WorkerError::Token(format!("the federated token file {shown}: {e}")))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(WorkerError::Token(format!(
            "the federated token file {shown} is empty"
        )));
    }
    Ok(token.to_owned())
}

/// A successful answer: the token and how long it lives.
pub(super) fn parse_answer(body: &[u8]) -> Result<(Token, Duration), WorkerError> {
    #[derive(Deserialize)]
    struct Answer {
        access_token: String,
        expires_in: ExpiresIn,
    }
    /// A number, or (some endpoints) a number in a string.
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ExpiresIn {
        Number(u64),
        Text(String),
    }
    let answer: Answer = serde_json::from_slice(body)
        .map_err(|e| WorkerError::Token(format!("unreadable token response: {e}")))?;
    let seconds = match answer.expires_in {
        ExpiresIn::Number(n) => n,
        ExpiresIn::Text(text) => text.trim().parse().unwrap_or(0),
    };
    if answer.access_token.is_empty() {
        return Err(WorkerError::Token(
            "the token response holds no token".into(),
        ));
    }
    Ok((
        Token::new(&answer.access_token),
        Duration::from_secs(seconds),
    ))
}

/// Entra's refusal `body` (HTTP `status`) as the error a caller can act on.
pub(super) fn refusal(grant: Grant, status: u16, body: &[u8]) -> WorkerError {
    #[derive(Deserialize, Default)]
    struct Refusal {
        #[serde(default)]
        error: String,
        #[serde(default)]
        error_description: String,
        #[serde(default)]
        error_codes: Vec<u64>,
    }
    let refusal: Refusal = serde_json::from_slice(body).unwrap_or_default();
    if refusal.error.is_empty() {
        return WorkerError::Token(format!("the token endpoint answered HTTP {status}"));
    }
    // The first line is the reason; later lines carry trace and correlation
    // ids and a timestamp. Clipped: the body is the endpoint's text.
    let description: String = refusal
        .error_description
        .lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(300)
        .collect();
    let code = refusal
        .error_codes
        .first()
        .map(|c| format!("AADSTS{c}"))
        .or_else(|| aadsts(&description))
        .unwrap_or_else(|| "no AADSTS code".into());
    let error: String = refusal.error.chars().take(64).collect();
    let what = format!("{error}, {code}: {description}");
    match (grant, error.as_str()) {
        (Grant::User, "invalid_grant") => WorkerError::UserAuth(format!(
            "Entra ID refused the signed-in user's token for D365FO ({what}). The token has \
             expired or been revoked: sign in again, then retry the call"
        )),
        (Grant::User, "interaction_required" | "consent_required") => {
            WorkerError::UserAuth(format!(
                "Entra ID needs the signed-in user to act before D365FO can be called as them \
                 ({what}): sign in again (and grant consent or complete multi-factor \
                 authentication if asked), then retry the call"
            ))
        }
        (Grant::User, _) => WorkerError::Token(format!(
            "the on-behalf-of exchange of the signed-in user's token was refused ({what})"
        )),
        (Grant::App, _) => WorkerError::Token(what),
    }
}

/// `AADSTS<digits>` at the start of `text`, as Entra's descriptions begin.
fn aadsts(text: &str) -> Option<String> {
    let rest = text.strip_prefix("AADSTS")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    (!digits.is_empty()).then(|| format!("AADSTS{digits}"))
}

#[cfg(test)]
#[path = "entra_tests.rs"]
mod tests;
