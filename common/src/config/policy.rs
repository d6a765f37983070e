//! Who may do what: the tenant policy, read from the API keys file.
//!
//! A `[tenants.<name>]` table says which environments, which tools (names or
//! groups) and, optionally, which entity sets the tenant's keys may use, and
//! whether they may change data. A key's own fields narrow its tenant's
//! rules; they never widen them. Operator tools (statistics reset, server
//! configuration) need `operator = true` on the key.
//!
//! ```toml
//! [tenants.contoso]
//! environments = ["contoso-prod", "contoso-test"]
//! tools = ["metadata", "data"]       # groups or tool names; absent = all
//!
//! [keys.contoso-reader]
//! sha256 = "…"
//! tenant = "contoso"
//! read_only = true
//! ```
//!
//! A file with no `[tenants.*]` table and no rule on any key configures no
//! policy: every key may call every tool on every environment, as before
//! policies existed. Once one is configured, every key's tenant needs a
//! table (an empty one allows everything), so that no tenant is left open
//! by omission. The edge and the worker both check the same [`Policy`].
//!
//! A caller that is no key — an OAuth user or application, whose subject
//! the edge vouched for (`super::oauth`) — gets its tenant's table as it
//! stands: never an operator, and refused when the tenant has no table.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use serde_json::{Map, Value};

use super::ConfigError;
use super::policy_listing::Listed;
pub use super::policy_writes::Writes;
use crate::catalogue::{self, Group, ToolSpec, names};

/// Tools that act on the cluster itself rather than on a tenant's data;
/// only keys with `operator = true` may call them once a policy is set.
pub const OPERATOR_TOOLS: [&str; 2] = [names::RESET_PERFORMANCE_STATS, names::GET_SERVER_CONFIG];

/// Tools that reach data beyond the entity sets their arguments name: never
/// allowed (nor listed) to a key with an `entity_sets` rule.
pub(super) const REACH_BEYOND_SETS: [&str; 2] = [names::CALL_JSON_SERVICE, names::RUN_REPORT];

/// The rule fields a tenant table or a key entry may carry, as written.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesText {
    /// Environments the caller may name; absent = all.
    pub environments: Option<Vec<String>>,
    /// Tool names or groups (`data`, `execution`, `metadata`, `server`); absent = all.
    pub tools: Option<Vec<String>>,
    /// Only tools that change nothing.
    pub read_only: Option<bool>,
    /// Entity sets the data tools may name; absent = all.
    pub entity_sets: Option<Vec<String>>,
    /// Toolsets listed to the caller (`data`, `metadata`, `labels`,
    /// `execution`, `operator`, `all`); absent = the edge's default. Not a
    /// rule: it restricts nothing ([`super::policy_listing`]).
    pub toolsets: Option<Vec<String>>,
    /// Whether changes to existing data wait for the user's confirmation:
    /// `auto`, `confirm`, `allow` or `refuse` ([`super::policy_writes`]);
    /// absent = the edge's default.
    pub writes: Option<String>,
}

impl RulesText {
    /// Whether any rule is written (`toolsets` is none).
    pub fn is_empty(&self) -> bool {
        self.environments.is_none()
            && self.tools.is_none()
            && self.read_only.is_none()
            && self.entity_sets.is_none()
            && self.writes.is_none()
    }
}

/// One set of rules, validated.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Rules {
    environments: Option<BTreeSet<String>>,
    tools: Option<BTreeSet<&'static str>>,
    read_only: bool,
    entity_sets: Option<BTreeSet<String>>,
    writes: Option<Writes>,
}

impl Rules {
    fn parse(key: &str, at: &str, text: &RulesText) -> Result<Self, ConfigError> {
        let names = |list: &Option<Vec<String>>, what: &str| {
            list.as_ref()
                .map(|l| {
                    let set: BTreeSet<String> = l.iter().map(|s| s.trim().to_owned()).collect();
                    if set.iter().any(String::is_empty) {
                        return Err(ConfigError::new(
                            key,
                            format!("{at}.{what} has an empty name"),
                        ));
                    }
                    Ok(set)
                })
                .transpose()
        };
        let tools = match &text.tools {
            None => None,
            Some(list) => {
                let mut set = BTreeSet::new();
                for entry in list {
                    set.extend(tools_named(entry.trim()).ok_or_else(|| {
                        ConfigError::new(
                            key,
                            format!(
                                "{at}.tools: `{entry}` is neither a tool name (d365fo_…) nor a \
                                 group (data, execution, metadata, server)"
                            ),
                        )
                    })?);
                }
                Some(set)
            }
        };
        let writes = text
            .writes
            .as_deref()
            .map(Writes::parse)
            .transpose()
            .map_err(|reason| ConfigError::new(key, format!("{at}.writes: {reason}")))?;
        Ok(Self {
            writes,
            environments: names(&text.environments, "environments")?,
            tools,
            read_only: text.read_only.unwrap_or(false),
            entity_sets: names(&text.entity_sets, "entity_sets")?,
        })
    }

    /// What both `self` and `other` allow.
    fn narrowed_by(&self, other: &Rules) -> Rules {
        fn both<T: Ord + Clone>(
            a: &Option<BTreeSet<T>>,
            b: &Option<BTreeSet<T>>,
        ) -> Option<BTreeSet<T>> {
            match (a, b) {
                (Some(a), Some(b)) => Some(a.intersection(b).cloned().collect()),
                (Some(x), None) | (None, Some(x)) => Some(x.clone()),
                (None, None) => None,
            }
        }
        Rules {
            environments: both(&self.environments, &other.environments),
            tools: both(&self.tools, &other.tools),
            read_only: self.read_only || other.read_only,
            entity_sets: both(&self.entity_sets, &other.entity_sets),
            writes: match (self.writes, other.writes) {
                (Some(a), Some(b)) => Some(a.stricter(b)),
                (a, b) => a.or(b),
            },
        }
    }
}

/// The tools an entry of a `tools` list names: one tool, or a group's.
fn tools_named(entry: &str) -> Option<Vec<&'static str>> {
    let group = match entry.to_ascii_lowercase().as_str() {
        "data" => Some(Group::Data),
        "execution" => Some(Group::Execution),
        "metadata" => Some(Group::Metadata),
        "server" => Some(Group::Server),
        _ => None,
    };
    match group {
        Some(group) => Some(
            catalogue::tools()
                .iter()
                .filter(|t| t.group == group)
                .map(|t| t.name)
                .collect(),
        ),
        None => catalogue::find(entry).map(|t| vec![t.name]),
    }
}

/// One key's place in the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
struct KeyRules {
    tenant: String,
    operator: bool,
    /// The tenant's rules narrowed by the key's own.
    rules: Rules,
}

/// A key entry's policy fields, as the API keys file holds them.
#[derive(Debug, Clone)]
pub struct KeyEntry {
    /// The principal (the key's name).
    pub name: String,
    /// Its tenant.
    pub tenant: String,
    /// `operator = true`.
    pub operator: Option<bool>,
    /// Its own rules.
    pub rules: RulesText,
}

/// The validated policy; [`Policy::default`] allows everything.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Per principal; empty when no policy is configured.
    keys: BTreeMap<String, KeyRules>,
    /// Per tenant, for callers that are no key.
    tenants: BTreeMap<String, KeyRules>,
    configured: bool,
    /// The toolsets listed per tenant and key, whether or not a policy is
    /// configured.
    listed: Listed,
}

/// A call the policy refuses, with what the caller may do instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Denied(pub String);

/// Longest piece of client text a refusal repeats.
const ECHO: usize = 64;

fn short(text: &str) -> String {
    match text.char_indices().nth(ECHO) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

fn list<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    let all = items.into_iter().collect::<Vec<_>>().join(", ");
    if all.is_empty() { "none".into() } else { all }
}

impl Policy {
    /// Builds the policy of a keys file: its `[tenants.*]` tables and its
    /// keys' fields. `key` names the file's setting in errors.
    pub fn build(
        key: &str,
        tenants: &BTreeMap<String, RulesText>,
        entries: &[KeyEntry],
    ) -> Result<Self, ConfigError> {
        let mut listed = Listed::default();
        for (name, text) in tenants {
            let at = format!("tenants.{name}");
            listed.set_tenant(name, Listed::parse(key, &at, text.toolsets.as_deref())?);
        }
        for entry in entries {
            let at = format!("keys.{}", entry.name);
            let toolsets = Listed::parse(key, &at, entry.rules.toolsets.as_deref())?;
            listed.set_key(&entry.name, toolsets);
        }
        let configured = !tenants.is_empty()
            || entries
                .iter()
                .any(|e| e.operator.is_some() || !e.rules.is_empty());
        if !configured {
            return Ok(Self {
                listed,
                ..Self::default()
            });
        }
        let mut tenant_rules = BTreeMap::new();
        for (name, text) in tenants {
            tenant_rules.insert(
                name.clone(),
                Rules::parse(key, &format!("tenants.{name}"), text)?,
            );
        }
        let mut keys = BTreeMap::new();
        for entry in entries {
            let Some(tenant) = tenant_rules.get(&entry.tenant) else {
                return Err(ConfigError::new(
                    key,
                    format!(
                        "keys.{} belongs to tenant `{}`, which has no [tenants.{}] table; with a \
                         policy configured every tenant needs one (an empty table allows \
                         everything)",
                        entry.name, entry.tenant, entry.tenant
                    ),
                ));
            };
            let own = Rules::parse(key, &format!("keys.{}", entry.name), &entry.rules)?;
            keys.insert(
                entry.name.clone(),
                KeyRules {
                    tenant: entry.tenant.clone(),
                    operator: entry.operator.unwrap_or(false),
                    rules: tenant.narrowed_by(&own),
                },
            );
        }
        let tenants = tenant_rules
            .into_iter()
            .map(|(name, rules)| {
                let own = KeyRules {
                    tenant: name.clone(),
                    operator: false,
                    rules,
                };
                (name, own)
            })
            .collect();
        Ok(Self {
            keys,
            tenants,
            configured: true,
            listed,
        })
    }

    /// The toolsets listed to `subject` of `tenant`, when the keys file
    /// chooses them (its key's, else its tenant's); `None` = the edge's
    /// default (`D365MCP_TOOLSETS`).
    pub fn listed_toolsets(
        &self,
        subject: &str,
        tenant: &str,
    ) -> Option<crate::catalogue::Toolsets> {
        self.listed.of(subject, tenant)
    }

    /// Whether changes to existing data wait for the confirmation of
    /// `subject`'s user, when its key or tenant says (`writes`); `None` =
    /// the edge's default (`D365MCP_CONFIRM_WRITES`).
    pub fn writes(&self, subject: &str, tenant: &str) -> Option<Writes> {
        if !self.configured {
            return None;
        }
        self.of(subject, tenant).ok()?.rules.writes
    }

    /// Whether `tenant` has a table (what a caller that is no key needs).
    pub fn has_tenant(&self, tenant: &str) -> bool {
        self.tenants.contains_key(tenant)
    }

    /// Whether a policy is configured (otherwise everything is allowed).
    pub fn is_configured(&self) -> bool {
        self.configured
    }

    fn of(&self, subject: &str, tenant: &str) -> Result<&KeyRules, Denied> {
        let key = self.keys.get(subject);
        let rules = match key {
            Some(key) => Some(key).filter(|k| k.tenant == tenant),
            // Not a key: a token's user or application, of its tenant (the
            // anonymous caller of an edge without keys is no one's).
            None if !subject.is_empty() && subject != "anonymous" => self.tenants.get(tenant),
            None => None,
        };
        rules.ok_or_else(|| {
            Denied(format!(
                "`{}` of tenant `{}` is not a key of this cluster's policy",
                short(subject),
                short(tenant)
            ))
        })
    }

    /// Whether `subject` of `tenant` may call `tool` at all (on some
    /// environment): what `tools/list` shows it.
    pub fn lists(&self, subject: &str, tenant: &str, tool: &ToolSpec) -> bool {
        if !self.configured {
            return true;
        }
        self.of(subject, tenant).is_ok_and(|k| {
            tool_refusal(k, tool).is_none()
                && (k.rules.entity_sets.is_none() || !REACH_BEYOND_SETS.contains(&tool.name))
        })
    }

    /// Whether `subject` of `tenant` may hear of `environment`'s resources
    /// (change notifications): `None` is the worker's default environment,
    /// which a key limited to named environments may not follow (it may be
    /// another tenant's).
    pub fn may_follow(&self, subject: &str, tenant: &str, environment: Option<&str>) -> bool {
        if !self.configured {
            return true;
        }
        self.of(subject, tenant)
            .is_ok_and(|k| match (&k.rules.environments, environment) {
                (None, _) => true,
                (Some(allowed), Some(name)) => allowed.contains(name),
                (Some(_), None) => false,
            })
    }

    /// Whether `subject` of `tenant` may name the entity set `set` (what
    /// completions offer it): always, unless an `entity_sets` rule leaves it
    /// out (compared without regard to ASCII case, as calls are checked).
    pub fn may_name_entity_set(&self, subject: &str, tenant: &str, set: &str) -> bool {
        if !self.configured {
            return true;
        }
        self.of(subject, tenant)
            .is_ok_and(|k| match &k.rules.entity_sets {
                None => true,
                Some(allowed) => allowed.iter().any(|a| a.eq_ignore_ascii_case(set)),
            })
    }

    /// Whether `subject` of `tenant` may use operator tools (and read the
    /// metrics on an edge's MCP listener): every key while no policy is
    /// configured, else only keys with `operator = true`.
    pub fn is_operator(&self, subject: &str, tenant: &str) -> bool {
        !self.configured || self.of(subject, tenant).is_ok_and(|k| k.operator)
    }

    /// Whether `subject` may call every tool (no listing to filter).
    pub fn lists_everything(&self, subject: &str, tenant: &str) -> bool {
        !self.configured
            || self.of(subject, tenant).is_ok_and(|k| {
                k.operator
                    && k.rules.tools.is_none()
                    && !k.rules.read_only
                    && k.rules.entity_sets.is_none()
            })
    }

    /// The one environment `subject` may use, when it may use exactly one:
    /// the edge sends a call that names none there.
    pub fn only_environment(&self, subject: &str, tenant: &str) -> Option<&str> {
        let allowed = self.of(subject, tenant).ok()?.rules.environments.as_ref()?;
        match allowed.len() {
            1 => allowed.iter().next().map(String::as_str),
            _ => None,
        }
    }

    /// Checks one call: `environment` is the environment it runs on ("" when
    /// the caller named none and the default is not known here).
    pub fn check(
        &self,
        subject: &str,
        tenant: &str,
        tool: &ToolSpec,
        environment: &str,
        arguments: &Map<String, Value>,
    ) -> Result<(), Denied> {
        if !self.configured {
            return Ok(());
        }
        let key = self.of(subject, tenant)?;
        let who = if self.keys.contains_key(subject) {
            format!("key `{subject}` (tenant `{tenant}`)")
        } else {
            format!("`{}` (tenant `{tenant}`)", short(subject))
        };
        if let Some(why) = tool_refusal(key, tool) {
            return Err(Denied(format!("{who} may not call {}: {why}", tool.name)));
        }
        if key.rules.writes == Some(Writes::Refuse) && catalogue::asks_confirmation(tool, arguments)
        {
            return Err(Denied(format!(
                "{who} may not call {} this way: the tenant policy refuses changes to existing \
                 data (writes = \"refuse\"); creates and reads are allowed",
                tool.name
            )));
        }
        if let Some(allowed) = &key.rules.environments {
            if environment.is_empty() {
                return Err(Denied(format!(
                    "{who} must name the environment: one of {}",
                    list(allowed.iter().map(String::as_str))
                )));
            }
            if !allowed.contains(environment) {
                return Err(Denied(format!(
                    "{who} may not use environment `{}`; it may use: {}",
                    short(environment),
                    list(allowed.iter().map(String::as_str))
                )));
            }
        }
        if let Some(allowed) = &key.rules.entity_sets {
            crate::config::policy_sets::check(&who, tool, arguments, allowed)?;
        }
        Ok(())
    }
}

/// Why `key` may not call `tool` on any environment, if it may not.
fn tool_refusal(key: &KeyRules, tool: &ToolSpec) -> Option<String> {
    if OPERATOR_TOOLS.contains(&tool.name) && !key.operator {
        return Some("it is an operator tool, and this key is not an operator key".into());
    }
    if let Some(allowed) = &key.rules.tools
        && !allowed.contains(tool.name)
    {
        return Some(format!(
            "it is not among the tools this key may call ({})",
            if allowed.is_empty() {
                "none".to_owned()
            } else {
                list(allowed.iter().copied())
            }
        ));
    }
    if key.rules.read_only && !tool.effects.read_only {
        return Some("this key is read-only; it may call only tools that change nothing".into());
    }
    None
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
