//! Entity set and enumeration names, from a metadata search on a worker.
//!
//! The search ranks exact and prefix name matches first, then substrings,
//! labels and similar spellings; the edge keeps the names that start with
//! what was typed. One page of [`SEARCH_TOP`] hits answers: when the search
//! has more and the page's last hit still starts with the prefix, more
//! names may follow (`hasMore`, no `total`); otherwise the page held every
//! match and `total` is exact.

use common::{ErrorCode, Failure, catalogue::names, proto};
use serde_json::{Map, Value, json};

use super::{COMPLETION_TIMEOUT, Found, starts_with};
use crate::{EdgeState, auth::Principal, dispatch};

/// Hits asked of one search: the most the search tools return, so that a
/// short prefix still fills an answer of 100 after the edge's filtering.
const SEARCH_TOP: usize = 200;

/// One search tool and where its result holds the names.
#[derive(Debug, Clone, Copy)]
pub struct Search {
    tool: &'static str,
    /// The result's array of hits.
    list: &'static str,
    /// Each hit's name field: what the argument takes.
    field: &'static str,
    /// Whether the names are entity sets (which a policy may restrict).
    entity_sets: bool,
}

impl Search {
    /// Entity set names (what `entity` takes), by `d365fo_search_entities`.
    pub const ENTITIES: Self = Self {
        tool: names::SEARCH_ENTITIES,
        list: "entities",
        field: "entity_set",
        entity_sets: true,
    };

    /// Enumeration names, by `d365fo_search_enumerations`.
    pub const ENUMERATIONS: Self = Self {
        tool: names::SEARCH_ENUMERATIONS,
        list: "enumerations",
        field: "name",
        entity_sets: false,
    };

    /// The names starting with `prefix` in `environment` (`None`: the
    /// caller's only one, or the default) that `caller` may name.
    pub async fn run(
        self,
        state: &EdgeState,
        caller: &Principal,
        environment: Option<&str>,
        prefix: &str,
    ) -> Result<Found, Failure> {
        let mut arguments = Map::new();
        arguments.insert("query".into(), json!(prefix));
        arguments.insert("top".into(), json!(SEARCH_TOP));
        if let Some(environment) = environment {
            arguments.insert("environment".into(), json!(environment));
        }
        // The caller's own call: the policy decides as for tools/call.
        let policy = &state.config.policy;
        let request = dispatch::worker_request(
            policy,
            caller,
            self.tool,
            arguments,
            false,
            COMPLETION_TIMEOUT,
        )?;
        let result = dispatch::run(&state.workers, request, true, COMPLETION_TIMEOUT, |_| {
            Box::pin(std::future::ready(()))
        })
        .await?;
        let page = page_of(self.tool, result)?;
        let may_name = |name: &str| {
            !self.entity_sets || policy.may_name_entity_set(&caller.subject, &caller.tenant, name)
        };
        Ok(self.matches(&page, prefix, may_name))
    }

    /// The names of `page` that start with `prefix` and pass `may_name`,
    /// best first.
    fn matches(self, page: &Value, prefix: &str, may_name: impl Fn(&str) -> bool) -> Found {
        let hits: Vec<&str> = page[self.list]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|hit| hit[self.field].as_str())
            .collect();
        let mut values: Vec<String> = Vec::new();
        for name in hits.iter().copied() {
            if starts_with(name, prefix) && may_name(name) && !values.iter().any(|v| v == name) {
                values.push(name.to_owned());
            }
        }
        let cut_off = page["more"].as_bool().unwrap_or(false)
            && hits.last().is_some_and(|last| starts_with(last, prefix));
        Found {
            total: (!cut_off).then_some(values.len()),
            values,
            more: cut_off,
        }
    }
}

/// The structured result of a finished search.
fn page_of(tool: &str, result: proto::ToolResult) -> Result<Value, Failure> {
    match result.outcome {
        Some(proto::tool_result::Outcome::Output(output)) if !output.is_error => {
            serde_json::from_str(&output.structured_content_json).map_err(|e| {
                Failure::new(
                    ErrorCode::Internal,
                    format!("the worker sent malformed output for {tool}: {e}"),
                )
            })
        }
        Some(proto::tool_result::Outcome::Failure(failure)) => Err(Failure::from_proto(&failure)),
        _ => Err(Failure::new(
            ErrorCode::UpstreamRejected,
            format!("{tool} found no names"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(names: &[&str], more: bool) -> Value {
        let hits: Vec<Value> = names.iter().map(|n| json!({"entity_set": n})).collect();
        json!({"total": 999, "returned": hits.len(), "more": more, "entities": hits})
    }

    fn values(found: &Found) -> Vec<&str> {
        found.values.iter().map(String::as_str).collect()
    }

    #[test]
    fn keeps_the_names_starting_with_the_prefix_in_rank_order() {
        let hits = page(
            &["CustomersV3", "CustGroups", "DirCustomers", "custLedger"],
            false,
        );
        let found = Search::ENTITIES.matches(&hits, "cust", |_| true);
        assert_eq!(values(&found), ["CustomersV3", "CustGroups", "custLedger"]);
        assert_eq!((found.total, found.more), (Some(3), false));
    }

    #[test]
    fn a_page_cut_off_inside_the_matches_has_more_and_no_total() {
        let found = Search::ENTITIES.matches(&page(&["CustA", "CustB"], true), "Cust", |_| true);
        assert_eq!((found.total, found.more), (None, true));
        // A page whose last hit no longer matches held every match.
        let found = Search::ENTITIES.matches(&page(&["CustA", "Other"], true), "Cust", |_| true);
        assert_eq!((found.total, found.more), (Some(1), false));
    }

    #[test]
    fn the_policy_filter_and_duplicates_leave_names_out() {
        let hits = page(&["CustomersV3", "CustGroups", "CustomersV3"], false);
        let found = Search::ENTITIES.matches(&hits, "", |name| name == "CustomersV3");
        assert_eq!(values(&found), ["CustomersV3"]);
        let enums = json!({"more": false, "enumerations": [{"name": "NoYes"}, {"name": 5}]});
        let found = Search::ENUMERATIONS.matches(&enums, "no", |_| true);
        assert_eq!(values(&found), ["NoYes"], "a hit without a name is skipped");
    }

    #[test]
    fn failures_and_malformed_pages_are_errors() {
        let failed = proto::ToolResult {
            outcome: Some(proto::tool_result::Outcome::Failure(
                Failure::new(ErrorCode::PermissionDenied, "no").to_proto(),
            )),
        };
        assert_eq!(
            page_of("t", failed).unwrap_err().code,
            ErrorCode::PermissionDenied
        );
        let malformed = proto::ToolResult {
            outcome: Some(proto::tool_result::Outcome::Output(proto::ToolOutput {
                content_json: "[]".into(),
                structured_content_json: "{".into(),
                is_error: false,
            })),
        };
        assert_eq!(
            page_of("t", malformed).unwrap_err().code,
            ErrorCode::Internal
        );
        let empty = proto::ToolResult { outcome: None };
        assert!(page_of("t", empty).is_err());
    }
}
