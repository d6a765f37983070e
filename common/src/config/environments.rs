//! Several D365FO environments in one cluster: the environments file.
//!
//! A worker serves every environment in the file; each tool call names one
//! with its `environment` argument or gets the default. The file is TOML and
//! holds no secrets itself: a client secret is named by the environment
//! variable that carries it (`client_secret_env`), so the file can live in a
//! ConfigMap and the secrets in a Secret.
//!
//! ```toml
//! default = "prod"
//!
//! [environments.prod]
//! base_url = "https://contoso.operations.dynamics.com"
//! tenant_id = "00000000-0000-0000-0000-000000000001"
//! client_id = "11111111-1111-1111-1111-111111111111"
//! client_secret_env = "D365FO_PROD_CLIENT_SECRET"
//!
//! [environments.uat]
//! base_url = "https://contoso-uat.sandbox.operations.dynamics.com"
//! tenant_id = "00000000-0000-0000-0000-000000000001"
//! client_id = "22222222-2222-2222-2222-222222222222"
//! client_secret_env = "D365FO_UAT_CLIENT_SECRET"
//!
//! [environments.aks]
//! base_url = "https://contoso-aks.operations.dynamics.com"
//! credential = "workload_identity"   # tenant and client from AZURE_TENANT_ID, AZURE_CLIENT_ID
//! on_behalf_of = "preferred"          # signed-in users call D365FO as themselves
//! ```
//!
//! `credential` picks the application identity (see
//! [`super::credentials`]): `client_secret` (the default when
//! `client_secret_env` is set), `certificate` (`certificate_path`),
//! `workload_identity` (`federated_token_file`, default
//! `AZURE_FEDERATED_TOKEN_FILE`), `managed_identity` (`client_id` for a
//! user-assigned one), `azure_cli` or `keyvault` (`keyvault_url` and the
//! three `keyvault_*_secret` names; see [`super::keyvault`]). `on_behalf_of` (`off`, `preferred`,
//! `required`; default `off`) says whether a signed-in user's calls reach
//! D365FO as that user, and what happens to callers without a user token.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{
    ClientCredentials, ConfigError, D365Config, D365Settings,
    credentials::{self, CredentialKeys, CredentialKind, OnBehalfOf},
    keyvault::KeyVaultKeys,
};

/// The file's setting name, as an operator spells it.
pub const KEY: &str = "D365MCP_ENVIRONMENTS_FILE (--environments-file)";

/// The configured environments and which one is the default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environments {
    /// Every environment, in name order.
    pub all: Vec<D365Config>,
    /// The name of the environment a call without `environment` uses.
    pub default: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    default: Option<String>,
    #[serde(default)]
    environments: BTreeMap<String, Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    base_url: String,
    tenant_id: Option<String>,
    client_id: Option<String>,
    client_secret_env: Option<String>,
    authority_host: Option<String>,
    credential: Option<String>,
    certificate_path: Option<String>,
    federated_token_file: Option<String>,
    on_behalf_of: Option<String>,
    keyvault_url: Option<String>,
    keyvault_client_id_secret: Option<String>,
    keyvault_client_secret_secret: Option<String>,
    keyvault_tenant_id_secret: Option<String>,
    keyvault_audience: Option<String>,
    keyvault_identity: Option<String>,
}

/// Checks an environment's name: letters, digits, `-`, `_` or `.`.
pub fn check_name(key: &str, name: &str) -> Result<(), ConfigError> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if valid {
        Ok(())
    } else {
        Err(ConfigError::new(
            key,
            format!("environment name `{name}` must be 1 to 64 letters, digits, `-`, `_` or `.`"),
        ))
    }
}

/// Parses the environments file `text`; `secret` looks up environment
/// variables: those `client_secret_env` names, and workload identity's
/// `AZURE_*` defaults.
pub fn parse(
    text: &str,
    secret: impl Fn(&str) -> Option<String>,
) -> Result<Environments, ConfigError> {
    let file: File =
        toml::from_str(text).map_err(|e| ConfigError::new(KEY, format!("not valid: {e}")))?;
    if file.environments.is_empty() {
        return Err(ConfigError::new(
            KEY,
            "names no environment; add a [environments.NAME] table with a base_url",
        ));
    }
    let mut all = Vec::with_capacity(file.environments.len());
    for (name, entry) in &file.environments {
        check_name(KEY, name)?;
        let at = |what: &str| format!("{KEY}: environments.{name}.{what}");
        let client_secret =
            match entry.client_secret_env.as_deref().map(str::trim) {
                None | Some("") => None,
                Some(var) => Some(secret(var).filter(|s| !s.trim().is_empty()).ok_or_else(
                    || {
                        ConfigError::new(
                            at("client_secret_env"),
                            format!("the environment variable `{var}` is not set or empty"),
                        )
                    },
                )?),
            };
        let keys = CredentialKeys {
            credential: entry.credential.clone(),
            client_secret: client_secret.clone(),
            certificate_path: entry.certificate_path.clone(),
            federated_token_file: entry.federated_token_file.clone(),
            keyvault: KeyVaultKeys {
                url: entry.keyvault_url.clone(),
                client_id_secret: entry.keyvault_client_id_secret.clone(),
                client_secret_secret: entry.keyvault_client_secret_secret.clone(),
                tenant_id_secret: entry.keyvault_tenant_id_secret.clone(),
                audience: entry.keyvault_audience.clone(),
                identity: entry.keyvault_identity.clone(),
            },
        };
        let kind = credentials::kind(&keys, &at, &secret)?;
        let settings = D365Settings {
            base_url: Some(entry.base_url.clone()),
            client_id: entry.client_id.clone().filter(|_| kind.is_none()),
            client_secret,
            tenant_id: entry.tenant_id.clone().filter(|_| kind.is_none()),
            authority_host: entry.authority_host.clone(),
        };
        let mut config = D365Config::from_settings(name, &settings)
            .map_err(|e| ConfigError::new(at("*"), format!("{}: {}", e.key, e.reason)))?
            .ok_or_else(|| ConfigError::new(at("base_url"), "is required"))?;
        if let Some(kind) = kind {
            config.credentials = Some(other_kind(&config, entry, kind, &at, &secret)?);
        }
        if let Some(raw) = &entry.on_behalf_of {
            let policy = OnBehalfOf::parse(&at("on_behalf_of"), raw)?;
            match &mut config.credentials {
                _ if !policy.is_on() => {}
                Some(c) if c.kind.authenticates_client() => c.on_behalf_of = policy,
                Some(c) => {
                    return Err(ConfigError::new(
                        at("on_behalf_of"),
                        format!(
                            "needs a credential that authenticates the application to Entra ID                              (client_secret, certificate or workload_identity), not `{}`",
                            c.kind.name()
                        ),
                    ));
                }
                None => {
                    return Err(ConfigError::new(
                        at("on_behalf_of"),
                        "needs the application's credentials (tenant_id, client_id and a                          credential): the exchange is made by the application",
                    ));
                }
            }
        }
        all.push(config);
    }
    let default = match file.default {
        Some(name) if all.iter().any(|e| e.name == name) => name,
        Some(name) => {
            return Err(ConfigError::new(
                KEY,
                format!(
                    "default = `{name}` names no environment of the file; it has {}",
                    names(&all)
                ),
            ));
        }
        None if all.len() == 1 => all[0].name.clone(),
        None => {
            return Err(ConfigError::new(
                KEY,
                format!(
                    "several environments ({}) and no `default = \"NAME\"` line",
                    names(&all)
                ),
            ));
        }
    };
    Ok(Environments { all, default })
}

/// The credentials of a kind other than a client secret.
fn other_kind(
    config: &D365Config,
    entry: &Entry,
    kind: CredentialKind,
    at: &dyn Fn(&str) -> String,
    var: &dyn Fn(&str) -> Option<String>,
) -> Result<ClientCredentials, ConfigError> {
    let given = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    if let (CredentialKind::KeyVault(_), Some(key)) = (
        &kind,
        [
            ("tenant_id", &entry.tenant_id),
            ("client_id", &entry.client_id),
        ]
        .into_iter()
        .find_map(|(key, value)| given(value).map(|_| key)),
    ) {
        return Err(ConfigError::new(
            at(key),
            "comes from the vault with credential = \"keyvault\" (keyvault_tenant_id_secret, \
             keyvault_client_id_secret); remove it",
        ));
    }
    let workload = matches!(kind, CredentialKind::WorkloadIdentity(_));
    let needs_app = matches!(
        kind,
        CredentialKind::Certificate(_) | CredentialKind::WorkloadIdentity(_)
    );
    // A workload identity's pod carries its tenant and client ids.
    let (tenant, client) = (
        given(&entry.tenant_id)
            .or_else(|| workload.then(|| given(&var("AZURE_TENANT_ID"))).flatten()),
        given(&entry.client_id)
            .or_else(|| workload.then(|| given(&var("AZURE_CLIENT_ID"))).flatten()),
    );
    for (value, key, default) in [
        (&tenant, "tenant_id", "AZURE_TENANT_ID"),
        (&client, "client_id", "AZURE_CLIENT_ID"),
    ] {
        if needs_app && value.is_none() {
            let also = if workload {
                format!(" (nor is {default})")
            } else {
                String::new()
            };
            return Err(ConfigError::new(
                at(key),
                format!("is required with credential = \"{}\"{also}", kind.name()),
            ));
        }
    }
    let authority_host = match given(&entry.authority_host) {
        Some(raw) => super::parse_base_url(&at("authority_host"), &raw)?,
        None => url::Url::parse(D365Config::DEFAULT_AUTHORITY).map_err(|e| {
            ConfigError::new(at("authority_host"), format!("built-in default: {e}"))
        })?,
    };
    // Tokens are sent; never in clear text off this machine.
    super::d365::require_tls_off_loopback(&at("base_url"), &config.base_url)?;
    super::d365::require_tls_off_loopback(&at("authority_host"), &authority_host)?;
    Ok(ClientCredentials {
        tenant_id: tenant.unwrap_or_default(),
        client_id: client.unwrap_or_default(),
        kind,
        authority_host,
        on_behalf_of: OnBehalfOf::Off,
    })
}

fn names(all: &[D365Config]) -> String {
    all.iter()
        .map(|e| e.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets(var: &str) -> Option<String> {
        (var == "PROD_SECRET").then(|| "s3cret".to_owned())
    }

    #[test]
    fn two_environments_with_a_default() {
        let envs = parse(
            r#"
            default = "prod"
            [environments.prod]
            base_url = "https://contoso.operations.dynamics.com"
            tenant_id = "t"
            client_id = "c"
            client_secret_env = "PROD_SECRET"
            [environments.sim]
            base_url = "http://127.0.0.1:8090"
            "#,
            secrets,
        )
        .unwrap();
        assert_eq!(envs.default, "prod");
        let names: Vec<_> = envs.all.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["prod", "sim"]);
        let prod = &envs.all[0];
        assert_eq!(
            prod.credentials
                .as_ref()
                .unwrap()
                .secret()
                .unwrap()
                .expose(),
            "s3cret"
        );
        assert!(envs.all[1].credentials.is_none());
    }

    #[test]
    fn a_single_environment_is_the_default() {
        let envs = parse(
            "[environments.only]\nbase_url = \"http://127.0.0.1:1\"\n",
            secrets,
        )
        .unwrap();
        assert_eq!(envs.default, "only");
    }

    #[test]
    fn mistakes_are_named() {
        let err = |text: &str| parse(text, secrets).unwrap_err().to_string();
        assert!(err("").contains("names no environment"));
        assert!(err("[environments.a]\nbase_url = 5\n").contains("not valid"));
        assert!(err("[environments.a]\nbase_url = \"x\"\nbogus = 1\n").contains("bogus"));
        let two = "[environments.a]\nbase_url = \"http://127.0.0.1:1\"\n\
                   [environments.b]\nbase_url = \"http://127.0.0.1:2\"\n";
        assert!(err(two).contains("no `default"));
        assert!(err(&format!("default = \"c\"\n{two}")).contains("names no environment"));
        assert!(err("[environments.\"a b\"]\nbase_url = \"http://127.0.0.1:1\"\n").contains("a b"));
        let missing = "[environments.a]\nbase_url = \"https://x.example\"\ntenant_id = \"t\"\n\
                       client_id = \"c\"\nclient_secret_env = \"NOPE\"\n";
        assert!(err(missing).contains("environments.a.client_secret_env"));
        assert!(err(missing).contains("NOPE"));
        let plain = "[environments.a]\nbase_url = \"http://contoso.example\"\ntenant_id = \"t\"\n\
                     client_id = \"c\"\nclient_secret_env = \"PROD_SECRET\"\n";
        assert!(err(plain).contains("environments.a"));
    }

    #[test]
    fn credential_kinds_and_on_behalf_of() {
        let pod = |var: &str| match var {
            "AZURE_FEDERATED_TOKEN_FILE" => Some("/var/run/secrets/token".to_owned()),
            "AZURE_TENANT_ID" => Some("t".to_owned()),
            "AZURE_CLIENT_ID" => Some("c".to_owned()),
            other => secrets(other),
        };
        let envs = parse(
            r#"
            default = "aks"
            [environments.aks]
            base_url = "https://contoso.operations.dynamics.com"
            credential = "workload_identity"
            on_behalf_of = "required"
            [environments.cert]
            base_url = "https://contoso.operations.dynamics.com"
            tenant_id = "t"
            client_id = "c"
            credential = "certificate"
            certificate_path = "/etc/d365/app.pem"
            on_behalf_of = "preferred"
            [environments.mi]
            base_url = "https://contoso.operations.dynamics.com"
            credential = "managed_identity"
            [environments.secret]
            base_url = "https://contoso.operations.dynamics.com"
            tenant_id = "t"
            client_id = "c"
            client_secret_env = "PROD_SECRET"
            "#,
            pod,
        )
        .unwrap();
        let creds = |i: usize| envs.all[i].credentials.clone().unwrap();
        assert_eq!(
            creds(0).kind,
            CredentialKind::WorkloadIdentity("/var/run/secrets/token".into())
        );
        assert_eq!(
            (creds(0).tenant_id.as_str(), creds(0).client_id.as_str()),
            ("t", "c")
        );
        assert_eq!(creds(0).on_behalf_of, OnBehalfOf::Required);
        assert_eq!(
            creds(1).kind,
            CredentialKind::Certificate("/etc/d365/app.pem".into())
        );
        assert_eq!(creds(1).on_behalf_of, OnBehalfOf::Preferred);
        assert_eq!(creds(2).kind, CredentialKind::ManagedIdentity);
        assert_eq!(creds(3).on_behalf_of, OnBehalfOf::Off);
        assert_eq!(creds(3).secret().map(|s| s.expose()), Some("s3cret"));
    }

    #[test]
    fn credential_mistakes_name_the_key() {
        let err = |text: &str| parse(text, secrets).unwrap_err().key;
        let base = "[environments.a]\nbase_url = \"https://x.example\"\n";
        assert_eq!(
            err(&format!("{base}on_behalf_of = \"preferred\"\n")),
            format!("{KEY}: environments.a.on_behalf_of")
        );
        assert_eq!(
            err(&format!(
                "{base}credential = \"managed_identity\"\non_behalf_of = \"required\"\n"
            )),
            format!("{KEY}: environments.a.on_behalf_of")
        );
        assert_eq!(
            err(&format!("{base}on_behalf_of = \"always\"\n")),
            format!("{KEY}: environments.a.on_behalf_of")
        );
        assert_eq!(
            err(&format!(
                "{base}credential = \"certificate\"\ncertificate_path = \"/c.pem\"\n"
            )),
            format!("{KEY}: environments.a.tenant_id")
        );
        let plain = "[environments.a]\nbase_url = \"http://contoso.example\"\n\
                     credential = \"azure_cli\"\n";
        assert_eq!(err(plain), format!("{KEY}: environments.a.base_url"));
    }
}
