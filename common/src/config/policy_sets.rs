//! The optional entity-set rule of a [`super::policy::Policy`]: which
//! entity sets a key's data tools may name.
//!
//! Conservative on purpose: a call is allowed only when every entity set it
//! can reach is named in its arguments and allowed. So `expand` (which
//! reaches other sets through navigation properties), unbound actions, JSON
//! services and reports are refused to a key with this rule; metadata tools
//! (schemas, labels, enumerations, no records) are not affected. Names are
//! compared without regard to ASCII case, as D365FO resolves them.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::policy::Denied;
use crate::catalogue::{Group, ToolSpec, names};

/// Checks the entity sets `tool` would reach with `arguments` against `allowed`.
pub(super) fn check(
    who: &str,
    tool: &ToolSpec,
    arguments: &Map<String, Value>,
    allowed: &BTreeSet<String>,
) -> Result<(), Denied> {
    let may = |set: &str| allowed.iter().any(|a| a.eq_ignore_ascii_case(set));
    let deny = |why: String| {
        Denied(format!(
            "{who} may not call {} {why}; it may use the entity sets: {}",
            tool.name,
            allowed
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        ))
    };
    let reached = match tool.name {
        names::CALL_ACTION => match arguments.get("entity_set") {
            Some(Value::String(set)) => vec![set.as_str()],
            _ => return Err(deny("without an entity set (an unbound action)".into())),
        },
        _ if super::policy::REACH_BEYOND_SETS.contains(&tool.name) => {
            return Err(deny("(it reaches data beyond named entity sets)".into()));
        }
        names::EXECUTE_BATCH => {
            let operations = arguments.get("operations").and_then(Value::as_array);
            let mut sets = Vec::new();
            for op in operations.into_iter().flatten() {
                if expands(op.as_object()) {
                    return Err(deny("with `expand`".into()));
                }
                match op.get("entity_set") {
                    Some(Value::String(set)) => sets.push(set.as_str()),
                    _ => return Err(deny("with an operation that names no entity set".into())),
                }
            }
            sets
        }
        _ if tool.group == Group::Data => {
            if expands(Some(arguments)) {
                return Err(deny("with `expand`".into()));
            }
            match arguments.get("entity_set") {
                Some(Value::String(set)) => vec![set.as_str()],
                // The worker refuses it as invalid arguments.
                _ => Vec::new(),
            }
        }
        _ => Vec::new(),
    };
    match reached.into_iter().find(|set| !may(set.trim())) {
        Some(set) => Err(deny(format!(
            "on entity set `{}`",
            set.chars().take(64).collect::<String>()
        ))),
        None => Ok(()),
    }
}

/// Whether the arguments ask for an expansion.
fn expands(arguments: Option<&Map<String, Value>>) -> bool {
    arguments
        .and_then(|a| a.get("expand"))
        .is_some_and(|e| match e {
            Value::Null => false,
            Value::Array(items) => !items.is_empty(),
            Value::String(s) => !s.trim().is_empty(),
            _ => true,
        })
}
