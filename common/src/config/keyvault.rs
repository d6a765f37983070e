//! The application's credentials kept in Azure Key Vault: three secrets
//! (client id, client secret, tenant id) that a worker reads with the
//! node's own managed or workload identity, as `credential = "keyvault"`
//! in the environments file or `D365FO_CREDENTIAL_SOURCE=keyvault` with
//! the `D365FO_KEYVAULT_*` settings (the names users of the server we
//! replace already deploy with).
//!
//! Only names are configured here; the values are read, cached and re-read
//! after a rotation by the worker (`worker/src/d365/auth/vault.rs`).

use url::Url;

use super::{
    ConfigError, D365Config, D365Settings, credentials::CredentialKind, d365::ClientCredentials,
    parse_base_url,
};

/// The token audience of Key Vault in Azure's public cloud; a vault in
/// another cloud has its own (see [`audience_of`]).
pub const DEFAULT_AUDIENCE: &str = "https://vault.azure.net";

/// The `D365FO_CREDENTIAL_SOURCE` values.
pub const SOURCES: &str = "environment, keyvault";

/// Where the application's credentials are read from, and with whose
/// identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyVaultSource {
    /// The vault, e.g. `https://contoso-d365.vault.azure.net` (no trailing
    /// slash is needed; a path is kept, as the simulator's vault has one).
    pub vault_url: Url,
    /// The audience of the tokens the vault accepts, e.g.
    /// `https://vault.azure.net`.
    pub audience: String,
    /// The name of the secret holding the application (client) id.
    pub client_id_secret: String,
    /// The name of the secret holding the client secret.
    pub client_secret_secret: String,
    /// The name of the secret holding the directory (tenant) id.
    pub tenant_id_secret: String,
    /// The identity that reads the vault.
    pub identity: VaultIdentity,
}

/// The node's own identity, which reads the vault (it needs the role "Key
/// Vault Secrets User" on it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VaultIdentity {
    /// The VM's or App Service's managed identity; a user-assigned one when
    /// `client_id` is set (`AZURE_CLIENT_ID`).
    Managed {
        /// The user-assigned identity's client id.
        client_id: Option<String>,
    },
    /// AKS workload identity: the pod's federated token, tenant and client
    /// (`AZURE_FEDERATED_TOKEN_FILE`, `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`).
    Workload {
        /// Directory (tenant) id.
        tenant_id: String,
        /// The identity's client id.
        client_id: String,
        /// The projected token file.
        token_file: std::path::PathBuf,
    },
}

impl KeyVaultSource {
    /// The OAuth scope of a token for the vault: `{audience}/.default`.
    pub fn scope(&self) -> String {
        format!("{}/.default", self.audience.trim_end_matches('/'))
    }

    /// The identity that reads the vault, as client credentials that ask
    /// `authority_host` for tokens.
    pub fn reader(&self, authority_host: &Url) -> ClientCredentials {
        let (tenant_id, client_id, kind) = match &self.identity {
            VaultIdentity::Managed { client_id } => (
                String::new(),
                client_id.clone().unwrap_or_default(),
                CredentialKind::ManagedIdentity,
            ),
            VaultIdentity::Workload {
                tenant_id,
                client_id,
                token_file,
            } => (
                tenant_id.clone(),
                client_id.clone(),
                CredentialKind::WorkloadIdentity(token_file.clone()),
            ),
        };
        ClientCredentials {
            tenant_id,
            client_id,
            kind,
            authority_host: authority_host.clone(),
            on_behalf_of: super::OnBehalfOf::Off,
        }
    }
}

/// The Key Vault keys as given, before validation.
#[derive(Debug, Clone, Default)]
pub struct KeyVaultKeys {
    /// `keyvault_url` (`D365FO_KEYVAULT_URL`).
    pub url: Option<String>,
    /// `keyvault_client_id_secret` (`D365FO_KEYVAULT_CLIENT_ID_SECRET`).
    pub client_id_secret: Option<String>,
    /// `keyvault_client_secret_secret` (`D365FO_KEYVAULT_CLIENT_SECRET_SECRET`).
    pub client_secret_secret: Option<String>,
    /// `keyvault_tenant_id_secret` (`D365FO_KEYVAULT_TENANT_ID_SECRET`).
    pub tenant_id_secret: Option<String>,
    /// `keyvault_audience` (`D365FO_KEYVAULT_AUDIENCE`): another cloud's or
    /// a private vault's token audience.
    pub audience: Option<String>,
    /// `keyvault_identity` (`D365FO_KEYVAULT_IDENTITY`): `managed_identity`
    /// or `workload_identity`; by default workload identity when the pod
    /// has one (`AZURE_FEDERATED_TOKEN_FILE`), else managed identity.
    pub identity: Option<String>,
}

/// The environments-file key of each [`KeyVaultKeys`] field, in order.
pub const FILE_KEYS: [&str; 6] = [
    "keyvault_url",
    "keyvault_client_id_secret",
    "keyvault_client_secret_secret",
    "keyvault_tenant_id_secret",
    "keyvault_audience",
    "keyvault_identity",
];

/// The setting a file key is called as an environment variable and flag,
/// e.g. `keyvault_url` is `D365FO_KEYVAULT_URL (--d365fo-keyvault-url)`.
pub fn env_key(file_key: &str) -> String {
    format!(
        "D365FO_{} (--d365fo-{})",
        file_key.to_ascii_uppercase(),
        file_key.replace('_', "-")
    )
}

impl KeyVaultKeys {
    fn fields(&self) -> [(&'static str, Option<&str>); 6] {
        fn given(v: &Option<String>) -> Option<&str> {
            v.as_deref().map(str::trim).filter(|v| !v.is_empty())
        }
        [
            (FILE_KEYS[0], given(&self.url)),
            (FILE_KEYS[1], given(&self.client_id_secret)),
            (FILE_KEYS[2], given(&self.client_secret_secret)),
            (FILE_KEYS[3], given(&self.tenant_id_secret)),
            (FILE_KEYS[4], given(&self.audience)),
            (FILE_KEYS[5], given(&self.identity)),
        ]
    }

    /// The first key given, for refusing them with another credential.
    pub fn first_given(&self) -> Option<&'static str> {
        self.fields()
            .into_iter()
            .find_map(|(key, value)| value.map(|_| key))
    }

    /// Validates the keys; `at` names a key (given its file spelling) as
    /// the operator set it; `var` reads an environment variable (the
    /// pod's or VM's `AZURE_*` identity settings).
    pub fn parse(
        &self,
        at: &dyn Fn(&str) -> String,
        var: &dyn Fn(&str) -> Option<String>,
    ) -> Result<KeyVaultSource, ConfigError> {
        let [url, client_id, client_secret, tenant_id, audience, identity] = self.fields();
        let raw = url.1.ok_or_else(|| {
            ConfigError::new(
                at(url.0),
                "is required with Key Vault credentials: the vault's URL, e.g. \
                 https://contoso-d365.vault.azure.net",
            )
        })?;
        let vault_url = parse_base_url(&at(url.0), raw)?;
        // A bearer token for the vault is sent, and secrets come back.
        super::d365::require_tls_off_loopback(&at(url.0), &vault_url)?;
        let name = |(key, value): (&str, Option<&str>)| -> Result<String, ConfigError> {
            let value = value.ok_or_else(|| {
                ConfigError::new(
                    at(key),
                    "is required with Key Vault credentials: the name of the secret in the vault",
                )
            })?;
            check_secret_name(&at(key), value)?;
            Ok(value.to_owned())
        };
        let audience = match audience.1 {
            Some(raw) => parse_base_url(&at(audience.0), raw)?
                .as_str()
                .trim_end_matches('/')
                .to_owned(),
            None => audience_of(&vault_url),
        };
        Ok(KeyVaultSource {
            client_id_secret: name(client_id)?,
            client_secret_secret: name(client_secret)?,
            tenant_id_secret: name(tenant_id)?,
            audience,
            identity: vault_identity(&at(identity.0), identity.1, var)?,
            vault_url,
        })
    }
}

/// The token audience of the vault at `url`, from Key Vault's DNS suffix
/// per cloud (Microsoft Learn, "Azure Key Vault DNS suffixes":
/// https://learn.microsoft.com/en-us/azure/key-vault/general/about-keys-secrets-certificates#dns-suffixes-for-object-identifiers);
/// the public cloud's for any other host (a simulator, a private name).
pub fn audience_of(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    ["vault.azure.cn", "vault.usgovcloudapi.net"]
        .into_iter()
        .find(|suffix| host.ends_with(&format!(".{suffix}")))
        .map_or_else(|| DEFAULT_AUDIENCE.to_owned(), |s| format!("https://{s}"))
}

/// Key Vault's rule for object names: 1 to 127 letters, digits and `-`
/// (Microsoft Learn, "Object identifiers":
/// https://learn.microsoft.com/en-us/azure/key-vault/general/about-keys-secrets-certificates#object-identifiers).
pub fn check_secret_name(key: &str, name: &str) -> Result<(), ConfigError> {
    let valid = (1..=127).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if valid {
        Ok(())
    } else {
        Err(ConfigError::new(
            key,
            format!("`{name}` is not a Key Vault secret name: 1 to 127 letters, digits or `-`"),
        ))
    }
}

fn vault_identity(
    key: &str,
    given: Option<&str>,
    var: &dyn Fn(&str) -> Option<String>,
) -> Result<VaultIdentity, ConfigError> {
    let var = |name: &str| {
        var(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let token_file = var("AZURE_FEDERATED_TOKEN_FILE");
    let workload = match given {
        None => token_file.is_some(),
        Some("workload_identity") => true,
        Some("managed_identity") => false,
        Some(other) => {
            return Err(ConfigError::new(
                key,
                format!("`{other}` is not one of managed_identity, workload_identity"),
            ));
        }
    };
    if !workload {
        return Ok(VaultIdentity::Managed {
            client_id: var("AZURE_CLIENT_ID"),
        });
    }
    let needed = |name: &str| {
        var(name).ok_or_else(|| {
            ConfigError::new(
                key,
                format!("workload identity reads the vault, but {name} is not set (the pod has no workload identity?)"),
            )
        })
    };
    Ok(VaultIdentity::Workload {
        token_file: needed("AZURE_FEDERATED_TOKEN_FILE")?.into(),
        tenant_id: needed("AZURE_TENANT_ID")?,
        client_id: needed("AZURE_CLIENT_ID")?,
    })
}

/// The one environment of the `D365FO_*` settings when
/// `D365FO_CREDENTIAL_SOURCE=keyvault`: its URL and authority from
/// `settings`, its application credentials from the vault `keys` name.
/// The client id, secret and tenant settings must then be unset.
pub fn d365_config(
    name: &str,
    settings: &D365Settings,
    keys: &KeyVaultKeys,
    var: &dyn Fn(&str) -> Option<String>,
) -> Result<D365Config, ConfigError> {
    use super::d365::keys as k;
    let given = |v: &Option<String>| v.as_deref().is_some_and(|v| !v.trim().is_empty());
    for (value, key) in [
        (&settings.client_id, k::CLIENT_ID),
        (&settings.client_secret, k::CLIENT_SECRET),
        (&settings.tenant_id, k::TENANT_ID),
    ] {
        if given(value) {
            return Err(ConfigError::new(
                key,
                "must be unset with D365FO_CREDENTIAL_SOURCE=keyvault: the vault holds it",
            ));
        }
    }
    let source = keys.parse(&|key: &str| env_key(key), var)?;
    let url_only = D365Settings {
        base_url: settings.base_url.clone(),
        ..D365Settings::default()
    };
    let mut config = D365Config::from_settings(name, &url_only)?.ok_or_else(|| {
        ConfigError::new(
            k::BASE_URL,
            "is required with D365FO_CREDENTIAL_SOURCE=keyvault: the environment URL",
        )
    })?;
    let authority_host = match settings.authority_host.as_deref().map(str::trim) {
        Some(raw) if !raw.is_empty() => parse_base_url(k::AUTHORITY_HOST, raw)?,
        _ => Url::parse(D365Config::DEFAULT_AUTHORITY)
            .map_err(|e| ConfigError::new(k::AUTHORITY_HOST, format!("built-in default: {e}")))?,
    };
    // Tokens and secrets are sent; never in clear text off this machine.
    super::d365::require_tls_off_loopback(k::BASE_URL, &config.base_url)?;
    super::d365::require_tls_off_loopback(k::AUTHORITY_HOST, &authority_host)?;
    config.credentials = Some(ClientCredentials {
        // Both come from the vault.
        tenant_id: String::new(),
        client_id: String::new(),
        kind: CredentialKind::KeyVault(Box::new(source)),
        authority_host,
        on_behalf_of: super::OnBehalfOf::Off,
    });
    Ok(config)
}

#[cfg(test)]
#[path = "keyvault_tests.rs"]
mod tests;
