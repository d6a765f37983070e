//! The edge's rate limits: per API key (principal), per tenant and per tool,
//! each a rate and a burst, from a TOML file; and what to do while the
//! shared store that holds them is unreachable.
//!
//! ```toml
//! # rate: requests per second in the long run (0.5 is 30 a minute);
//! # burst: requests admitted at once after a quiet spell.
//! [principal]                      # each API key
//! rate = 50
//! burst = 100
//!
//! [tenant]                         # all keys of one tenant together
//! rate = 200
//! burst = 400
//!
//! [tools.d365fo_execute_batch]     # each API key's calls of this tool
//! rate = 2
//! burst = 5
//!
//! [principals.erp-team]            # this key instead of [principal]
//! rate = 100
//! burst = 200
//!
//! [tenants.contoso]                # this tenant instead of [tenant]
//! rate = 500
//! burst = 1000
//! ```
//!
//! With a file, only the limits it names apply; without one an edge applies
//! [`RateLimits::defaults`], which only stop a runaway client. `dev` and an
//! edge built with `EdgeConfig::local` apply none.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{ApiKey, ConfigError};
use crate::store::Limit;

/// The file's setting name, as an operator spells it.
pub const FILE_KEY: &str = "D365MCP_RATE_LIMITS_FILE (--rate-limits-file)";

/// The store-error policy's setting name.
pub const POLICY_KEY: &str = "D365MCP_RATE_LIMIT_ON_STORE_ERROR (--rate-limit-on-store-error)";

/// Highest rate a limit may name, per second: beyond it an emission interval
/// falls below a microsecond, the buckets' resolution.
const MAX_RATE: f64 = 1_000_000.0;

/// What the edge does when the shared store cannot decide a rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StoreErrorPolicy {
    /// Decide with this edge's own buckets, under the same limits.
    #[default]
    Open,
    /// Refuse the request with 503.
    Closed,
}

impl StoreErrorPolicy {
    /// Parses `open` or `closed`.
    pub fn parse(raw: &str) -> Result<Self, ConfigError> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "open" => Ok(Self::Open),
            "closed" => Ok(Self::Closed),
            other => Err(ConfigError::new(
                POLICY_KEY,
                format!(
                    "`{other}` is not a policy; use `open` (limit locally) or `closed` (refuse)"
                ),
            )),
        }
    }

    /// The setting's value as written.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Closed => "closed",
        }
    }
}

/// Every rate limit of an edge.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RateLimits {
    /// Each principal's requests, unless named in `principals`.
    pub principal: Option<Limit>,
    /// Each tenant's requests, unless named in `tenants`.
    pub tenant: Option<Limit>,
    /// Each principal's calls of a tool, by tool name.
    pub tools: BTreeMap<String, Limit>,
    /// Principals with a limit of their own.
    pub principals: BTreeMap<String, Limit>,
    /// Tenants with a limit of their own.
    pub tenants: BTreeMap<String, Limit>,
    /// What to do while the shared store is unreachable.
    pub on_store_error: StoreErrorPolicy,
}

impl RateLimits {
    /// No limits at all.
    pub fn off() -> Self {
        Self::default()
    }

    /// An edge's limits without a file: high enough that no person or
    /// agent working normally meets them, low enough to stop a client stuck
    /// in a loop; batches (up to 100 D365FO operations each) lower.
    pub fn defaults() -> Self {
        let limit = |rate_per_second, burst| Limit {
            rate_per_second,
            burst,
        };
        Self {
            principal: Some(limit(100.0, 200)),
            tenant: Some(limit(500.0, 1000)),
            tools: BTreeMap::from([(
                crate::catalogue::names::EXECUTE_BATCH.to_owned(),
                limit(10.0, 20),
            )]),
            ..Self::off()
        }
    }

    /// The limit on `subject`'s requests.
    pub fn for_principal(&self, subject: &str) -> Option<Limit> {
        self.principals.get(subject).copied().or(self.principal)
    }

    /// The limit on `tenant`'s requests.
    pub fn for_tenant(&self, tenant: &str) -> Option<Limit> {
        self.tenants.get(tenant).copied().or(self.tenant)
    }

    /// The limit on each principal's calls of `tool`.
    pub fn for_tool(&self, tool: &str) -> Option<Limit> {
        self.tools.get(tool).copied()
    }

    /// Whether no limit applies to anything.
    pub fn is_off(&self) -> bool {
        self.principal.is_none()
            && self.tenant.is_none()
            && self.tools.is_empty()
            && self.principals.is_empty()
            && self.tenants.is_empty()
    }

    /// Refuses a `principals.<name>` that no API key authenticates (a typo
    /// would silently leave the key on the general limit). With no keys
    /// every caller is `anonymous`.
    pub fn check_principals(&self, keys: &[ApiKey]) -> Result<(), ConfigError> {
        for name in self.principals.keys() {
            let known = if keys.is_empty() {
                name == "anonymous"
            } else {
                keys.iter().any(|k| &k.name == name)
            };
            if !known {
                return Err(ConfigError::new(
                    FILE_KEY,
                    format!(
                        "principals.{name} names no API key of D365MCP_API_KEYS_FILE (--api-keys-file)"
                    ),
                ));
            }
        }
        Ok(())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    principal: Option<Entry>,
    tenant: Option<Entry>,
    #[serde(default)]
    tools: BTreeMap<String, Entry>,
    #[serde(default)]
    principals: BTreeMap<String, Entry>,
    #[serde(default)]
    tenants: BTreeMap<String, Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    rate: f64,
    burst: u32,
}

/// Parses the rate-limits file's `text`; the policy is set apart.
pub fn parse(text: &str) -> Result<RateLimits, ConfigError> {
    let file: File = toml::from_str(text).map_err(|e| ConfigError::new(FILE_KEY, e.to_string()))?;
    let one = |name: &str, entry: Entry| limit(name, &entry);
    let many = |table: &str, entries: BTreeMap<String, Entry>| {
        entries
            .into_iter()
            .map(|(key, entry)| Ok((key.clone(), limit(&format!("{table}.{key}"), &entry)?)))
            .collect::<Result<BTreeMap<_, _>, ConfigError>>()
    };
    let limits = RateLimits {
        principal: file.principal.map(|e| one("principal", e)).transpose()?,
        tenant: file.tenant.map(|e| one("tenant", e)).transpose()?,
        tools: many("tools", file.tools)?,
        principals: many("principals", file.principals)?,
        tenants: many("tenants", file.tenants)?,
        on_store_error: StoreErrorPolicy::default(),
    };
    if let Some(tool) = limits
        .tools
        .keys()
        .find(|t| crate::catalogue::find(t).is_none())
    {
        return Err(ConfigError::new(
            FILE_KEY,
            format!("tools.{tool} is not a tool of this server (tools/list names them)"),
        ));
    }
    if limits.is_off() {
        return Err(ConfigError::new(
            FILE_KEY,
            "the file names no limit; add a [principal], [tenant] or [tools.<name>] table",
        ));
    }
    Ok(limits)
}

/// Reads and parses the rate-limits file at `path`.
pub fn load(path: &str) -> Result<RateLimits, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::new(FILE_KEY, format!("cannot read {path}: {e}")))?;
    parse(&text)
}

fn limit(name: &str, entry: &Entry) -> Result<Limit, ConfigError> {
    if !entry.rate.is_finite() || entry.rate <= 0.0 || entry.rate > MAX_RATE {
        return Err(ConfigError::new(
            FILE_KEY,
            format!(
                "{name}.rate must be requests per second above 0 and at most {MAX_RATE} (0.5 is 30 a minute)"
            ),
        ));
    }
    if entry.burst == 0 {
        return Err(ConfigError::new(
            FILE_KEY,
            format!("{name}.burst must be at least 1"),
        ));
    }
    Ok(Limit {
        rate_per_second: entry.rate,
        burst: entry.burst,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_level_and_the_overrides() {
        let limits = parse(
            "[principal]\nrate = 5\nburst = 10\n\
             [tenant]\nrate = 0.5\nburst = 2\n\
             [tools.d365fo_execute_batch]\nrate = 1\nburst = 1\n\
             [principals.erp]\nrate = 50\nburst = 60\n\
             [tenants.contoso]\nrate = 7\nburst = 8\n",
        )
        .unwrap();
        let l = |rate_per_second, burst| Limit {
            rate_per_second,
            burst,
        };
        assert_eq!(limits.for_principal("someone"), Some(l(5.0, 10)));
        assert_eq!(limits.for_principal("erp"), Some(l(50.0, 60)));
        assert_eq!(limits.for_tenant("fabrikam"), Some(l(0.5, 2)));
        assert_eq!(limits.for_tenant("contoso"), Some(l(7.0, 8)));
        assert_eq!(limits.for_tool("d365fo_execute_batch"), Some(l(1.0, 1)));
        assert_eq!(limits.for_tool("d365fo_query_entities"), None);
        let only_tools = parse("[tools.d365fo_get_label]\nrate = 1\nburst = 1\n").unwrap();
        assert_eq!(only_tools.for_principal("x"), None, "absent levels are off");
    }

    #[test]
    fn refuses_what_would_fail_later_naming_the_entry() {
        for (text, says) in [
            ("", "names no limit"),
            ("[principal]\nrate = 0\nburst = 1\n", "principal.rate"),
            ("[tenant]\nrate = -1\nburst = 1\n", "tenant.rate"),
            ("[tenant]\nrate = nan\nburst = 1\n", "tenant.rate"),
            ("[principal]\nrate = 2e6\nburst = 1\n", "principal.rate"),
            ("[principal]\nrate = 1\nburst = 0\n", "principal.burst"),
            ("[principal]\nrate = 1\nburst = -3\n", "burst"),
            ("[principal]\nrate = 1\n", "missing field `burst`"),
            (
                "[principal]\nrate = 1\nburst = 1\nper = 2\n",
                "unknown field",
            ),
            (
                "[tools.d365fo_nope]\nrate = 1\nburst = 1\n",
                "tools.d365fo_nope",
            ),
            ("[tenants.c]\nrate = 1\nburst = 0\n", "tenants.c.burst"),
            ("[principals]\nrate = 1\n", "invalid type"),
        ] {
            let e = parse(text).unwrap_err();
            assert_eq!(e.key, FILE_KEY);
            assert!(e.reason.contains(says), "{text:?}: {e}");
        }
    }

    #[test]
    fn overrides_must_name_a_configured_key() {
        let limits = parse("[principals.erp]\nrate = 1\nburst = 1\n").unwrap();
        let key = |name: &str| ApiKey {
            name: name.into(),
            tenant: "t".into(),
            sha256: [0; 32],
        };
        assert!(limits.check_principals(&[key("erp")]).is_ok());
        let e = limits.check_principals(&[key("other")]).unwrap_err();
        assert!(e.reason.contains("principals.erp"), "{e}");
        assert!(
            limits.check_principals(&[]).is_err(),
            "only `anonymous` without keys"
        );
    }

    #[test]
    fn policies_parse_and_name_the_setting() {
        assert_eq!(
            StoreErrorPolicy::parse(" Open "),
            Ok(StoreErrorPolicy::Open)
        );
        assert_eq!(
            StoreErrorPolicy::parse("closed"),
            Ok(StoreErrorPolicy::Closed)
        );
        let e = StoreErrorPolicy::parse("maybe").unwrap_err();
        assert_eq!(e.key, POLICY_KEY);
    }

    #[test]
    fn defaults_limit_everyone_and_batches_lower() {
        let d = RateLimits::defaults();
        let batch = d.for_tool("d365fo_execute_batch").unwrap();
        let anyone = d.for_principal("anyone").unwrap();
        assert!(batch.rate_per_second < anyone.rate_per_second);
        assert!(RateLimits::off().is_off() && !d.is_off());
    }
}
