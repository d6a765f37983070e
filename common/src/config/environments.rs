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
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{ConfigError, D365Config, D365Settings};

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

/// Parses the environments file `text`; `secret` looks up the environment
/// variables that `client_secret_env` names.
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
        let settings = D365Settings {
            base_url: Some(entry.base_url.clone()),
            client_id: entry.client_id.clone(),
            client_secret,
            tenant_id: entry.tenant_id.clone(),
            authority_host: entry.authority_host.clone(),
        };
        let config = D365Config::from_settings(name, &settings)
            .map_err(|e| ConfigError::new(at("*"), format!("{}: {}", e.key, e.reason)))?
            .ok_or_else(|| ConfigError::new(at("base_url"), "is required"))?;
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
            prod.credentials.as_ref().unwrap().client_secret.expose(),
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
}
