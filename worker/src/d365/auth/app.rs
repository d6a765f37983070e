//! [`AppSource`]: the environment's application identity, one per
//! credential kind of the environments file.
//!
//! | kind | how a token is got |
//! |---|---|
//! | `client_secret` | `azure_identity::ClientSecretCredential` |
//! | `workload_identity` | `azure_identity::WorkloadIdentityCredential` (reads the federated token file) |
//! | `managed_identity` | `azure_identity::ManagedIdentityCredential` (IMDS or App Service) |
//! | `azure_cli` | `azure_identity::AzureCliCredential` (`az account get-access-token`) |
//! | `certificate` | [`super::entra`]: client credentials with a signed client assertion |
//! | `keyvault` | [`super::vault`]: a client secret read from Key Vault with the node's managed or workload identity |
//! | any, on an `http` authority | [`super::entra`] (a simulator; `azure_identity` insists on `https`); a managed identity: [`super::imds`] |
//!
//! Every fetch makes a new `azure_identity` credential, whose token cache is
//! empty, so a token D365FO refused is never handed back (see the parent
//! module's docs); the direct form POST has no cache at all. The CLI and
//! managed identity make no such cache either way, but are made afresh
//! alike.

use std::{
    path::PathBuf,
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use azure_core::{
    cloud::{CloudConfiguration, CustomConfiguration},
    credentials::{Secret, TokenCredential},
    http::{ClientOptions, Transport},
};
use azure_identity::{
    AzureCliCredential, AzureCliCredentialOptions, ClientAssertionCredentialOptions,
    ClientSecretCredential, ClientSecretCredentialOptions, ManagedIdentityCredential,
    ManagedIdentityCredentialOptions, UserAssignedId, WorkloadIdentityCredential,
    WorkloadIdentityCredentialOptions,
};
use common::config::{ClientCredentials, CredentialKind};

use super::{Token, entra::Endpoint};
use crate::error::WorkerError;

/// Where the application's tokens come from.
pub enum AppSource {
    /// Entra ID through `azure_identity`.
    Azure(AzureApp),
    /// The token endpoint spoken directly (a certificate, or a plain-HTTP
    /// simulator).
    Direct(Endpoint),
    /// A managed identity on a plain-HTTP authority (the simulator's IMDS).
    Imds(super::imds::Imds),
    /// Credentials read from Azure Key Vault, and read again after a
    /// rotation.
    KeyVault(Box<super::vault::KeyVaultApp>),
}

/// What an `azure_identity` credential is made of: each fetch makes its own.
pub struct AzureApp {
    kind: AzureKind,
    options: ClientOptions,
}

enum AzureKind {
    Secret {
        tenant_id: String,
        client_id: String,
        secret: common::config::Secret,
    },
    Workload {
        tenant_id: String,
        client_id: String,
        token_file: PathBuf,
    },
    Managed {
        client_id: Option<String>,
    },
    Cli {
        tenant_id: Option<String>,
    },
}

impl AppSource {
    /// The source of `credentials`, sending through `http`. Fails when the
    /// settings cannot make a credential (checked here, at start-up).
    pub fn new(
        credentials: &ClientCredentials,
        http: &reqwest::Client,
    ) -> Result<Self, WorkerError> {
        let https = credentials.authority_host.scheme() == "https";
        match &credentials.kind {
            CredentialKind::KeyVault(source) => {
                let app =
                    super::vault::KeyVaultApp::new(source, &credentials.authority_host, http)?;
                return Ok(Self::KeyVault(Box::new(app)));
            }
            CredentialKind::ManagedIdentity if !https => {
                let imds = super::imds::Imds::new(
                    &credentials.authority_host,
                    &credentials.client_id,
                    http,
                )?;
                return Ok(Self::Imds(imds));
            }
            _ => {}
        }
        if !https || matches!(credentials.kind, CredentialKind::Certificate(_)) {
            return Endpoint::new(credentials, http).map(Self::Direct);
        }
        let optional = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        let kind = match &credentials.kind {
            CredentialKind::ClientSecret(secret) => AzureKind::Secret {
                tenant_id: credentials.tenant_id.clone(),
                client_id: credentials.client_id.clone(),
                secret: secret.clone(),
            },
            CredentialKind::WorkloadIdentity(token_file) => AzureKind::Workload {
                tenant_id: credentials.tenant_id.clone(),
                client_id: credentials.client_id.clone(),
                token_file: token_file.clone(),
            },
            CredentialKind::ManagedIdentity => AzureKind::Managed {
                client_id: optional(&credentials.client_id),
            },
            CredentialKind::AzureCli => AzureKind::Cli {
                tenant_id: optional(&credentials.tenant_id),
            },
            CredentialKind::Certificate(_) | CredentialKind::KeyVault(_) => {
                return Endpoint::new(credentials, http).map(Self::Direct);
            }
        };
        let mut cloud = CustomConfiguration::default();
        cloud.authority_host = credentials
            .authority_host
            .as_str()
            .trim_end_matches('/')
            .to_owned();
        let app = AzureApp {
            kind,
            options: ClientOptions {
                transport: Some(Transport::new(Arc::new(http.clone()))),
                cloud: Some(Arc::new(CloudConfiguration::from(cloud))),
                ..ClientOptions::default()
            },
        };
        // Made once here so that bad settings fail at start-up.
        app.credential().map_err(|e| {
            WorkerError::Setup(format!(
                "Entra ID credential = \"{}\": {e}",
                credentials.kind.name()
            ))
        })?;
        Ok(Self::Azure(app))
    }

    /// A new token of `scope` and how long it lives.
    pub(super) async fn fetch(&self, scope: &str) -> Result<(Token, Duration), WorkerError> {
        match self {
            Self::Direct(endpoint) => endpoint.client_credentials(scope).await,
            Self::Imds(imds) => imds.fetch(scope).await,
            Self::KeyVault(vault) => Box::pin(vault.fetch(scope)).await,
            Self::Azure(app) => {
                let access = app
                    .credential()
                    .map_err(|e| WorkerError::Token(e.to_string()))?
                    .get_token(&[scope], None)
                    .await
                    .map_err(|e| WorkerError::Token(e.to_string()))?;
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0);
                let expires = u64::try_from(access.expires_on.unix_timestamp()).unwrap_or(0);
                let lifetime = Duration::from_secs(expires.saturating_sub(now));
                Ok((Token::new(access.token.secret()), lifetime))
            }
        }
    }
}

impl AppSource {
    /// D365FO refused a token of this source: what was read from a vault
    /// is read again before the next token.
    pub(super) fn refused(&self) {
        if let Self::KeyVault(vault) = self {
            vault.refused();
        }
    }
}

impl AzureApp {
    /// A new credential, with an empty cache of its own.
    fn credential(&self) -> azure_core::Result<Arc<dyn TokenCredential>> {
        let options = self.options.clone();
        Ok(match &self.kind {
            AzureKind::Secret {
                tenant_id,
                client_id,
                secret,
            } => ClientSecretCredential::new(
                tenant_id,
                client_id.clone(),
                Secret::new(secret.expose().to_owned()),
                Some(ClientSecretCredentialOptions {
                    client_options: options,
                }),
            )?,
            AzureKind::Workload {
                tenant_id,
                client_id,
                token_file,
            } => WorkloadIdentityCredential::new(Some(WorkloadIdentityCredentialOptions {
                credential_options: ClientAssertionCredentialOptions {
                    client_options: options,
                },
                client_id: Some(client_id.clone()),
                tenant_id: Some(tenant_id.clone()),
                token_file_path: Some(token_file.clone()),
            }))?,
            AzureKind::Managed { client_id } => {
                ManagedIdentityCredential::new(Some(ManagedIdentityCredentialOptions {
                    user_assigned_id: client_id.clone().map(UserAssignedId::ClientId),
                    client_options: options,
                }))?
            }
            AzureKind::Cli { tenant_id } => {
                AzureCliCredential::new(Some(AzureCliCredentialOptions {
                    tenant_id: tenant_id.clone(),
                    ..AzureCliCredentialOptions::default()
                }))?
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use common::config::{OnBehalfOf, Secret};
    use url::Url;

    use super::*;

    fn credentials(kind: CredentialKind, authority: &str) -> ClientCredentials {
        ClientCredentials {
            tenant_id: "00000000-0000-0000-0000-000000000001".into(),
            client_id: "11111111-1111-1111-1111-111111111111".into(),
            kind,
            authority_host: Url::parse(authority).unwrap(),
            on_behalf_of: OnBehalfOf::Off,
        }
    }

    #[test]
    fn every_kind_has_a_source() {
        let http = reqwest::Client::new();
        let entra = "https://login.microsoftonline.com";
        // azure_identity reads the federated token when it is made.
        let token = std::env::temp_dir().join(format!("d365mcp-app-{}", std::process::id()));
        std::fs::write(&token, "federated").unwrap();
        let azure = [
            CredentialKind::ClientSecret(Secret::new("s")),
            CredentialKind::WorkloadIdentity(token.clone()),
            CredentialKind::ManagedIdentity,
            CredentialKind::AzureCli,
        ];
        for kind in azure {
            let name = kind.name();
            let source = AppSource::new(&credentials(kind, entra), &http)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(matches!(source, AppSource::Azure(_)), "{name}");
        }
        // On a simulator's http authority, only what the form can carry.
        let sim = "http://127.0.0.1:1";
        let direct = CredentialKind::WorkloadIdentity("/var/run/token".into());
        assert!(matches!(
            AppSource::new(&credentials(direct, sim), &http),
            Ok(AppSource::Direct(_))
        ));
        let Err(error) = AppSource::new(&credentials(CredentialKind::AzureCli, sim), &http) else {
            panic!("the CLI on a plain-http authority");
        };
        assert!(error.to_string().contains("azure_cli"), "{error}");
        let Err(error) = AppSource::new(
            &credentials(
                CredentialKind::Certificate("/nonexistent.pem".into()),
                entra,
            ),
            &http,
        ) else {
            panic!("a certificate that is not there");
        };
        assert!(error.to_string().contains("certificate_path"), "{error}");
        std::fs::remove_file(&token).unwrap();
        let Err(error) = AppSource::new(
            &credentials(CredentialKind::WorkloadIdentity(token), entra),
            &http,
        ) else {
            panic!("a federated token file that is not there");
        };
        assert!(error.to_string().contains("workload_identity"), "{error}");
    }
}
