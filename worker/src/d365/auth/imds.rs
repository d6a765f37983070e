//! A managed identity's token on a plain-`http` authority: the simulator's
//! stand-in for Azure's instance metadata service (IMDS), at
//! `{authority}/metadata/identity/oauth2/token`.
//!
//! On Azure (an `https` authority) `azure_identity`'s
//! `ManagedIdentityCredential` talks to the real service; this is the same
//! request made directly, as `azure_identity` has no way to point it
//! elsewhere: `GET ?api-version=2018-02-01&resource={resource}` with the
//! header `Metadata: true`, answering `access_token` and `expires_in` (a
//! number in a string) (Microsoft Learn, "How to use managed identities
//! for Azure resources on an Azure VM to acquire an access token":
//! https://learn.microsoft.com/en-us/entra/identity/managed-identities-azure-resources/how-to-use-vm-token#get-a-token-using-http).

use std::time::Duration;

use url::Url;

use super::{Token, entra};
use crate::error::WorkerError;

/// The identity endpoint of one node.
pub struct Imds {
    http: reqwest::Client,
    url: Url,
    client_id: Option<String>,
}

impl Imds {
    /// The endpoint below `authority`, for the user-assigned identity
    /// `client_id` (empty: the system-assigned one).
    pub fn new(
        authority: &Url,
        client_id: &str,
        http: &reqwest::Client,
    ) -> Result<Self, WorkerError> {
        let url = Url::parse(&format!(
            "{}/metadata/identity/oauth2/token",
            authority.as_str().trim_end_matches('/')
        ))
        .map_err(|e| WorkerError::Setup(format!("managed identity endpoint: {e}")))?;
        Ok(Self {
            http: http.clone(),
            url,
            client_id: (!client_id.is_empty()).then(|| client_id.to_owned()),
        })
    }

    /// A token for the resource of `scope` (`{resource}/.default`).
    pub async fn fetch(&self, scope: &str) -> Result<(Token, Duration), WorkerError> {
        let resource = scope.strip_suffix("/.default").unwrap_or(scope);
        let mut url = self.url.clone();
        url.query_pairs_mut()
            .append_pair("api-version", "2018-02-01")
            .append_pair("resource", resource);
        if let Some(client_id) = &self.client_id {
            url.query_pairs_mut().append_pair("client_id", client_id);
        }
        let shown = &self.url;
        let response = self
            .http
            .get(url)
            .timeout(super::FETCH_TIMEOUT)
            .header("metadata", "true")
            .send()
            .await
            .map_err(|e| WorkerError::Token(format!("{shown}: {}", e.without_url())))?;
        let status = response.status();
        let body = entra::read_bounded(response, entra::MAX_ANSWER_BYTES)
            .await
            .map_err(|e| WorkerError::Token(format!("{shown}: {e}")))?;
        if !status.is_success() {
            return Err(entra::refusal(entra::Grant::App, status.as_u16(), &body));
        }
        entra::parse_answer(&body)
    }
}
