//! Scenarios: a TOML file naming the protocol era, the session pattern and a
//! weighted mix of calls. See `loadtest/README.md` for the format.

use std::fmt;

use rand::Rng;
use serde::Deserialize;
use serde_json::Value;

use crate::template::Template;

/// The MCP protocol era a run's clients speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Era {
    /// 2026-07-28: no handshake, `_meta` and `Mcp-Method`/`Mcp-Name` headers.
    Stateless2026,
    /// 2025 Streamable HTTP: `initialize`, then `Mcp-Session-Id`.
    Session2025,
    /// 2024-11-05 HTTP+SSE: `GET /sse`, then `POST /message?sessionId=`.
    Legacy2024,
}

impl Era {
    /// Parses `2026-07-28`/`stateless`, `2025-11-25`/`2025`/`sessions`, `2024-11-05`/`legacy`.
    pub fn parse(s: &str) -> Option<Era> {
        match s.trim() {
            "2026-07-28" | "2026" | "stateless" => Some(Era::Stateless2026),
            "2025-11-25" | "2025-06-18" | "2025-03-26" | "2025" | "sessions" => {
                Some(Era::Session2025)
            }
            "2024-11-05" | "2024" | "legacy" | "sse" => Some(Era::Legacy2024),
            _ => None,
        }
    }

    /// The protocol version the clients announce.
    pub fn version(self) -> &'static str {
        match self {
            Era::Stateless2026 => "2026-07-28",
            Era::Session2025 => "2025-11-25",
            Era::Legacy2024 => "2024-11-05",
        }
    }
}

impl fmt::Display for Era {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.version())
    }
}

/// How clients use sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionPattern {
    /// No sessions (the 2026-07-28 era).
    Stateless,
    /// Each client opens one session and keeps it for the whole run.
    LongLived,
    /// Each client opens a new session every `n` calls.
    Churn(u64),
}

/// One request a step sends.
#[derive(Debug, Clone)]
pub struct Step {
    /// `tools/call`, `tools/list`, …
    pub method: String,
    /// The tool, for `tools/call`.
    pub tool: Option<String>,
    pub arguments: Template,
    /// The name results are reported under: the tool, or the method.
    pub label: String,
}

/// A weighted entry of the mix: one call, or steps run in order (e.g. create then delete).
#[derive(Debug, Clone)]
pub struct Entry {
    pub weight: u32,
    pub steps: Vec<Step>,
}

/// A parsed, validated scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub era: Era,
    pub session: SessionPattern,
    pub entries: Vec<Entry>,
    total_weight: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    name: Option<String>,
    era: Option<String>,
    session: Option<String>,
    churn_every: Option<u64>,
    #[serde(default)]
    call: Vec<RawEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    weight: Option<u32>,
    #[serde(flatten)]
    step: RawStep,
    #[serde(default)]
    steps: Vec<RawStep>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawStep {
    method: Option<String>,
    tool: Option<String>,
    arguments: Option<toml::Table>,
}

impl Scenario {
    /// Parses a scenario file's text; `name` stands in when the file has none.
    /// Errors name the key at fault.
    pub fn parse(text: &str, name: &str) -> Result<Scenario, String> {
        let raw: RawScenario = toml::from_str(text).map_err(|e| e.message().to_owned())?;
        let era = match raw.era.as_deref() {
            None => Era::Stateless2026,
            Some(s) => Era::parse(s).ok_or_else(|| {
                format!("era: `{s}` is not one of 2026-07-28, 2025-11-25, 2024-11-05")
            })?,
        };
        let session = match (raw.session.as_deref(), raw.churn_every) {
            (None, None) if era == Era::Stateless2026 => SessionPattern::Stateless,
            (None, None) => SessionPattern::LongLived,
            (Some("stateless"), None) => SessionPattern::Stateless,
            (Some("long-lived"), None) => SessionPattern::LongLived,
            (Some("churn") | None, Some(0)) => {
                return Err("churn_every: must be at least 1".into());
            }
            (Some("churn") | None, Some(n)) => SessionPattern::Churn(n),
            (Some("churn"), None) => {
                return Err(
                    "churn_every: `session = \"churn\"` needs `churn_every = N` calls".into(),
                );
            }
            (Some(_), Some(_)) => {
                return Err("churn_every: only with `session = \"churn\"`".into());
            }
            (Some(other), None) => {
                return Err(format!(
                    "session: `{other}` is not one of stateless, long-lived, churn"
                ));
            }
        };
        match (era, session) {
            (Era::Stateless2026, SessionPattern::Stateless) => {}
            (Era::Stateless2026, _) => {
                return Err("session: the 2026-07-28 era has no sessions; use `stateless`".into());
            }
            (_, SessionPattern::Stateless) => {
                return Err(format!(
                    "session: the {era} era always opens a session; use `long-lived` or `churn`"
                ));
            }
            _ => {}
        }
        if raw.call.is_empty() {
            return Err("call: a scenario needs at least one [[call]]".into());
        }
        let mut entries = Vec::new();
        for (i, call) in raw.call.into_iter().enumerate() {
            let at = format!("call[{i}]");
            let weight = call.weight.unwrap_or(1);
            if weight == 0 {
                return Err(format!("{at}.weight: must be at least 1"));
            }
            let has_own = call.step.method.is_some()
                || call.step.tool.is_some()
                || call.step.arguments.is_some();
            let steps = match (has_own, call.steps.is_empty()) {
                (true, true) => vec![step(call.step, &at)?],
                (false, false) => call
                    .steps
                    .into_iter()
                    .enumerate()
                    .map(|(j, s)| step(s, &format!("{at}.steps[{j}]")))
                    .collect::<Result<_, _>>()?,
                (true, false) => {
                    return Err(format!(
                        "{at}: give either `tool`/`method` or `steps`, not both"
                    ));
                }
                (false, true) => return Err(format!("{at}: needs `tool`, `method` or `steps`")),
            };
            entries.push(Entry { weight, steps });
        }
        let total_weight = entries
            .iter()
            .try_fold(0u32, |sum, e| sum.checked_add(e.weight))
            .ok_or("call: the weights add up past 4294967295")?;
        Ok(Scenario {
            name: raw.name.unwrap_or_else(|| name.to_owned()),
            era,
            session,
            entries,
            total_weight,
        })
    }

    /// Draws an entry by weight.
    pub fn pick(&self, rng: &mut impl Rng) -> &Entry {
        &self.entries[self.pick_index(rng)]
    }

    /// Draws the index of an entry by weight.
    pub fn pick_index(&self, rng: &mut impl Rng) -> usize {
        let mut ticket = rng.random_range(0..self.total_weight);
        for (i, entry) in self.entries.iter().enumerate() {
            if ticket < entry.weight {
                return i;
            }
            ticket -= entry.weight;
        }
        // Unreachable: the tickets cover the weights exactly.
        self.entries.len() - 1
    }

    /// Overrides the era (and the session pattern when it no longer fits).
    pub fn with_era(mut self, era: Era) -> Scenario {
        self.session = match (era, self.session) {
            (Era::Stateless2026, _) => SessionPattern::Stateless,
            (_, SessionPattern::Stateless) => SessionPattern::LongLived,
            (_, pattern) => pattern,
        };
        self.era = era;
        self
    }
}

fn step(raw: RawStep, at: &str) -> Result<Step, String> {
    let method = raw.method.unwrap_or_else(|| "tools/call".to_owned());
    let tool = raw.tool;
    let label = match (method.as_str(), &tool) {
        ("tools/call", Some(tool)) => tool.clone(),
        ("tools/call", None) => return Err(format!("{at}.tool: `tools/call` needs a tool")),
        (_, Some(_)) => return Err(format!("{at}.tool: only `tools/call` takes a tool")),
        (method, None) => method.to_owned(),
    };
    let arguments = Value::Object(
        serde_json::to_value(raw.arguments.unwrap_or_default())
            .ok()
            .and_then(|v| v.as_object().cloned())
            .unwrap_or_default(),
    );
    let arguments = Template::compile(&arguments).map_err(|e| format!("{at}.arguments: {e}"))?;
    Ok(Step {
        method,
        tool,
        arguments,
        label,
    })
}

#[cfg(test)]
mod tests;
