//! How a worker proves who it is to Entra ID for one environment
//! ([`CredentialKind`]), and whether it calls D365FO as the signed-in user
//! ([`OnBehalfOf`]). Parsed from the environments file (see
//! `environments.rs` and README's "Several D365FO environments").

use std::path::PathBuf;

use super::{ConfigError, Secret};

/// The application identity's kind of credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialKind {
    /// A client secret (`client_secret_env`).
    ClientSecret(Secret),
    /// A certificate: a PEM file holding the certificate and its RSA
    /// private key (`certificate_path`); each token request carries a
    /// client assertion signed with the key.
    Certificate(PathBuf),
    /// AKS workload identity: the federated token Kubernetes projects into
    /// the pod (`federated_token_file`, default `AZURE_FEDERATED_TOKEN_FILE`)
    /// is the client assertion.
    WorkloadIdentity(PathBuf),
    /// The managed identity of the VM or App Service the worker runs on;
    /// a user-assigned one when `client_id` is set.
    ManagedIdentity,
    /// The Azure CLI's signed-in account (`az login`): local development.
    AzureCli,
    /// A client id, secret and tenant kept in Azure Key Vault, read with
    /// the node's own identity and re-read after a rotation
    /// (`keyvault_*` keys; see [`super::keyvault`]).
    KeyVault(Box<super::keyvault::KeyVaultSource>),
}

impl CredentialKind {
    /// The `credential` value that selects it in the environments file.
    pub fn name(&self) -> &'static str {
        match self {
            Self::ClientSecret(_) => "client_secret",
            Self::Certificate(_) => "certificate",
            Self::WorkloadIdentity(_) => "workload_identity",
            Self::ManagedIdentity => "managed_identity",
            Self::AzureCli => "azure_cli",
            Self::KeyVault(_) => "keyvault",
        }
    }

    /// Whether it authenticates an application registration at the token
    /// endpoint, as the on-behalf-of grant needs: a managed identity and
    /// the CLI only get tokens for themselves.
    pub fn authenticates_client(&self) -> bool {
        matches!(
            self,
            Self::ClientSecret(_) | Self::Certificate(_) | Self::WorkloadIdentity(_)
        )
    }
}

/// The environments-file values of `credential`.
pub const CREDENTIAL_KINDS: &str =
    "client_secret, certificate, workload_identity, managed_identity, azure_cli, keyvault";

/// Whose identity a call reaches D365FO with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnBehalfOf {
    /// Always the application identity; a caller's own token is not used.
    #[default]
    Off,
    /// The signed-in user's own identity (Entra's on-behalf-of exchange)
    /// when the call carries the user's token; the application identity
    /// for API keys and app-only tokens.
    Preferred,
    /// The signed-in user's own identity; calls without a user's token
    /// (API keys, app-only tokens) are refused with `permission_denied`.
    Required,
}

impl OnBehalfOf {
    /// Parses `off`, `preferred` or `required`; `key` names the setting.
    pub fn parse(key: &str, value: &str) -> Result<Self, ConfigError> {
        match value.trim().to_ascii_lowercase().as_str() {
            "off" => Ok(Self::Off),
            "preferred" => Ok(Self::Preferred),
            "required" => Ok(Self::Required),
            other => Err(ConfigError::new(
                key,
                format!("`{other}` is not one of off, preferred, required"),
            )),
        }
    }

    /// The value as the environments file spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Preferred => "preferred",
            Self::Required => "required",
        }
    }

    /// Whether a user's token is exchanged at all.
    pub fn is_on(self) -> bool {
        self != Self::Off
    }
}

/// The credential keys of one `[environments.NAME]` table, as given.
#[derive(Debug, Clone, Default)]
pub struct CredentialKeys {
    /// `credential`.
    pub credential: Option<String>,
    /// The secret `client_secret_env` names, already looked up.
    pub client_secret: Option<String>,
    /// `certificate_path`.
    pub certificate_path: Option<String>,
    /// `federated_token_file`.
    pub federated_token_file: Option<String>,
    /// The `keyvault_*` keys.
    pub keyvault: super::keyvault::KeyVaultKeys,
}

/// The kind `keys` select; `None` for the client-secret kind, which
/// [`super::D365Config::from_settings`] builds (with its own checks) from
/// the secret. `at` names a key of the table; `var` reads an environment
/// variable (workload identity's defaults).
pub fn kind(
    keys: &CredentialKeys,
    at: &dyn Fn(&str) -> String,
    var: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<CredentialKind>, ConfigError> {
    fn given(v: Option<&String>) -> Option<&str> {
        v.map(|s| s.trim()).filter(|s| !s.is_empty())
    }
    let name = given(keys.credential.as_ref());
    if let (Some(key), false) = (keys.keyvault.first_given(), name == Some("keyvault")) {
        return Err(ConfigError::new(
            at(key),
            format!(
                "is for credential = \"keyvault\"; this environment uses \"{}\"",
                name.unwrap_or("client_secret")
            ),
        ));
    }
    let Some(name) = name else {
        return Ok(None);
    };
    let secret = given(keys.client_secret.as_ref());
    if name != "client_secret" && secret.is_some() {
        return Err(ConfigError::new(
            at("client_secret_env"),
            format!("is for credential = \"client_secret\"; this environment uses \"{name}\""),
        ));
    }
    let kind = match name {
        "client_secret" => return Ok(None),
        "certificate" => {
            let path = given(keys.certificate_path.as_ref()).ok_or_else(|| {
                ConfigError::new(
                    at("certificate_path"),
                    "is required with credential = \"certificate\": a PEM file holding the \
                     certificate and its private key",
                )
            })?;
            CredentialKind::Certificate(PathBuf::from(path))
        }
        "workload_identity" => {
            let path = given(keys.federated_token_file.as_ref())
                .map(str::to_owned)
                .or_else(|| var("AZURE_FEDERATED_TOKEN_FILE").filter(|v| !v.trim().is_empty()))
                .ok_or_else(|| {
                    ConfigError::new(
                        at("federated_token_file"),
                        "is not set and neither is AZURE_FEDERATED_TOKEN_FILE (the pod has no \
                         workload identity?)",
                    )
                })?;
            CredentialKind::WorkloadIdentity(PathBuf::from(path.trim()))
        }
        "managed_identity" => CredentialKind::ManagedIdentity,
        "azure_cli" => CredentialKind::AzureCli,
        "keyvault" => CredentialKind::KeyVault(Box::new(keys.keyvault.parse(at, var)?)),
        other => {
            return Err(ConfigError::new(
                at("credential"),
                format!("`{other}` is not one of {CREDENTIAL_KINDS}"),
            ));
        }
    };
    let stray = [
        ("certificate_path", &keys.certificate_path, "certificate"),
        (
            "federated_token_file",
            &keys.federated_token_file,
            "workload_identity",
        ),
    ];
    for (key, value, owner) in stray {
        if given(value.as_ref()).is_some() && kind.name() != owner {
            return Err(ConfigError::new(
                at(key),
                format!("is for credential = \"{owner}\"; this environment uses \"{name}\""),
            ));
        }
    }
    Ok(Some(kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(key: &str) -> String {
        format!("environments.e.{key}")
    }

    fn keys(credential: &str) -> CredentialKeys {
        CredentialKeys {
            credential: Some(credential.into()),
            ..CredentialKeys::default()
        }
    }

    #[test]
    fn kinds_and_their_keys() {
        let none = |_: &str| None;
        assert_eq!(kind(&CredentialKeys::default(), &at, &none), Ok(None));
        assert_eq!(kind(&keys("client_secret"), &at, &none), Ok(None));
        assert_eq!(
            kind(&keys("azure_cli"), &at, &none),
            Ok(Some(CredentialKind::AzureCli))
        );
        let err = kind(&keys("certificate"), &at, &none).unwrap_err();
        assert_eq!(err.key, "environments.e.certificate_path");
        let err = kind(&keys("workload_identity"), &at, &none).unwrap_err();
        assert_eq!(err.key, "environments.e.federated_token_file");
        let pod = |v: &str| (v == "AZURE_FEDERATED_TOKEN_FILE").then(|| "/var/token".to_owned());
        assert_eq!(
            kind(&keys("workload_identity"), &at, &pod),
            Ok(Some(CredentialKind::WorkloadIdentity("/var/token".into())))
        );
        let err = kind(&keys("kerberos"), &at, &none).unwrap_err();
        assert_eq!(err.key, "environments.e.credential");
        assert!(err.reason.contains("workload_identity"), "{err}");
        let mixed = CredentialKeys {
            client_secret: Some("s".into()),
            ..keys("managed_identity")
        };
        assert_eq!(
            kind(&mixed, &at, &none).unwrap_err().key,
            "environments.e.client_secret_env"
        );
        let stray = CredentialKeys {
            certificate_path: Some("/c.pem".into()),
            ..keys("azure_cli")
        };
        assert_eq!(
            kind(&stray, &at, &none).unwrap_err().key,
            "environments.e.certificate_path"
        );
    }

    #[test]
    fn on_behalf_of_values() {
        assert_eq!(OnBehalfOf::default(), OnBehalfOf::Off);
        for value in [OnBehalfOf::Off, OnBehalfOf::Preferred, OnBehalfOf::Required] {
            assert_eq!(OnBehalfOf::parse("k", value.as_str()), Ok(value));
        }
        assert_eq!(
            OnBehalfOf::parse("k", " Required "),
            Ok(OnBehalfOf::Required)
        );
        assert_eq!(OnBehalfOf::parse("k", "yes").unwrap_err().key, "k");
    }
}
