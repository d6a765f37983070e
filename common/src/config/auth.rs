//! Who may call the edge: API keys, from a TOML file.
//!
//! The file holds no keys, only their SHA-256 digests, so it can live in a
//! ConfigMap; each key names the principal it authenticates and the tenant
//! whose limits it counts against.
//!
//! ```toml
//! # printf %s "$KEY" | sha256sum
//! [keys.erp-team]
//! sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
//! tenant = "contoso"
//!
//! [keys.copilot]
//! sha256 = "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"
//! ```
//!
//! The same file may hold the tenant policy (`[tenants.<name>]` tables and
//! rule fields on keys, see [`super::policy`]); workers read it for that.
//!
//! With no file the edge accepts every request as the principal
//! `anonymous` of tenant `default` — fit for `dev` and loopback, not for a
//! deployed edge.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{
    ConfigError,
    policy::{KeyEntry, Policy, RulesText},
};

/// The file's setting name, as an operator spells it.
pub const KEY: &str = "D365MCP_API_KEYS_FILE (--api-keys-file)";

/// The tenant of a key that names none.
pub const DEFAULT_TENANT: &str = "default";

/// One accepted API key.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// The principal the key authenticates (the entry's name).
    pub name: String,
    /// The tenant the principal belongs to.
    pub tenant: String,
    /// SHA-256 of the key.
    pub sha256: [u8; 32],
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKey")
            .field("name", &self.name)
            .field("tenant", &self.tenant)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    keys: BTreeMap<String, Entry>,
    /// The tenant policy (`super::policy`).
    #[serde(default)]
    tenants: BTreeMap<String, RulesText>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    sha256: String,
    tenant: Option<String>,
    // The key's own policy rules (`super::policy`).
    operator: Option<bool>,
    environments: Option<Vec<String>>,
    tools: Option<Vec<String>>,
    read_only: Option<bool>,
    entity_sets: Option<Vec<String>>,
    toolsets: Option<Vec<String>>,
    writes: Option<String>,
}

/// The API keys file: its keys and the tenant policy it configures.
#[derive(Debug, Clone, Default)]
pub struct KeysFile {
    /// The accepted keys.
    pub keys: Vec<ApiKey>,
    /// Who may do what ([`Policy::default`] when the file sets no rule).
    pub policy: Policy,
}

/// Parses the API keys file's `text`.
pub fn parse(text: &str) -> Result<Vec<ApiKey>, ConfigError> {
    parse_file(text).map(|file| file.keys)
}

/// Parses the API keys file's `text`, keys and policy.
pub fn parse_file(text: &str) -> Result<KeysFile, ConfigError> {
    let file: File = toml::from_str(text).map_err(|e| ConfigError::new(KEY, e.to_string()))?;
    if file.keys.is_empty() {
        return Err(ConfigError::new(
            KEY,
            "the file names no keys; add a [keys.<name>] table with the key's sha256",
        ));
    }
    let mut keys = Vec::with_capacity(file.keys.len());
    let mut entries = Vec::with_capacity(file.keys.len());
    for (name, entry) in file.keys {
        let sha256 = parse_digest(&entry.sha256).ok_or_else(|| {
            ConfigError::new(
                KEY,
                format!(
                    "keys.{name}.sha256 must be 64 hex digits (printf %s \"$KEY\" | sha256sum)"
                ),
            )
        })?;
        if keys.iter().any(|k: &ApiKey| k.sha256 == sha256) {
            return Err(ConfigError::new(
                KEY,
                format!("keys.{name} repeats the digest of another key"),
            ));
        }
        let tenant = entry.tenant.unwrap_or_else(|| DEFAULT_TENANT.into());
        if tenant.trim().is_empty() {
            return Err(ConfigError::new(
                KEY,
                format!("keys.{name}.tenant is empty"),
            ));
        }
        entries.push(KeyEntry {
            name: name.clone(),
            tenant: tenant.clone(),
            operator: entry.operator,
            rules: RulesText {
                environments: entry.environments,
                tools: entry.tools,
                read_only: entry.read_only,
                entity_sets: entry.entity_sets,
                toolsets: entry.toolsets,
                writes: entry.writes,
            },
        });
        keys.push(ApiKey {
            name,
            tenant,
            sha256,
        });
    }
    let policy = Policy::build(KEY, &file.tenants, &entries)?;
    Ok(KeysFile { keys, policy })
}

/// Reads and parses the API keys file at `path`.
pub fn load(path: &str) -> Result<Vec<ApiKey>, ConfigError> {
    load_file(path).map(|file| file.keys)
}

/// Reads and parses the API keys file at `path`, keys and policy.
pub fn load_file(path: &str) -> Result<KeysFile, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::new(KEY, format!("cannot read {path}: {e}")))?;
    parse_file(&text)
}

fn parse_digest(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.trim().as_bytes();
    if hex.len() != 64 {
        return None;
    }
    let mut digest = [0u8; 32];
    for (byte, pair) in digest.iter_mut().zip(hex.chunks_exact(2)) {
        let text = std::str::from_utf8(pair).ok()?;
        *byte = u8::from_str_radix(text, 16).ok()?;
    }
    Some(digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn reads_keys_with_their_tenants() {
        let keys = parse(&format!(
            "[keys.a]\nsha256 = \"{DIGEST}\"\ntenant = \"contoso\"\n\
             [keys.b]\nsha256 = \"{}\"\n",
            DIGEST.replace('9', "8")
        ))
        .unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(
            (keys[0].name.as_str(), keys[0].tenant.as_str()),
            ("a", "contoso")
        );
        assert_eq!(keys[0].sha256[0], 0x9f);
        assert_eq!(keys[1].tenant, DEFAULT_TENANT);
        assert!(!format!("{:?}", keys[0]).contains("9f86"));
    }

    #[test]
    fn refuses_what_would_fail_later() {
        for (text, says) in [
            ("", "names no keys"),
            (
                "[keys.a]\nsha256 = \"abc\"\n",
                "keys.a.sha256 must be 64 hex",
            ),
            (
                &format!("[keys.a]\nsha256 = \"{DIGEST}\"\n[keys.b]\nsha256 = \"{DIGEST}\"\n"),
                "keys.b repeats",
            ),
            (
                &format!("[keys.a]\nsha256 = \"{DIGEST}\"\nkey = \"x\"\n"),
                "unknown field",
            ),
            (
                &format!("[keys.a]\nsha256 = \"{DIGEST}\"\ntenant = \" \"\n"),
                "tenant is empty",
            ),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.reason.contains(says), "{text}: {e}");
        }
    }
}
