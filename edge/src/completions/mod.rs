//! `completion/complete`: names for the arguments of our resource templates
//! and prompts, as a person types them.
//!
//! | argument | values | from |
//! |---|---|---|
//! | `environment` (templates, prompts), `name` (`d365fo://environments/{name}`) | configured environments | the workers' `ListTools` answer |
//! | `entity` | entity set names | `d365fo_search_entities` on a worker |
//! | `enumeration` | enumeration names | `d365fo_search_enumerations` on a worker |
//!
//! The edge holds no metadata, so entity and enumeration names come from a
//! search dispatched to a worker like any tool call of the caller's (the
//! worker serves it from its L1/L2 metadata cache): the tenant policy is
//! checked on the edge and again on the worker, and the context's
//! `environment` (`context.arguments`) is the environment searched. Whatever
//! the policy does not let the caller use is never offered: environments
//! outside its list, entity sets outside its `entity_sets` rule, and
//! nothing at all from a search it may not call.
//!
//! Typing must stay responsive and a completion is only a suggestion, so
//! anything that cannot be answered at once is an empty answer, never an
//! error: a value no name can start with (too long, or characters no name
//! holds), a refused or failed search, or one slower than
//! [`COMPLETION_TIMEOUT`]. What is an error (invalid params) is a reference
//! that names no prompt or template of ours, or an argument it does not
//! take: that is the client's mistake, and the message says what exists.
//! Every request counts against its caller's rate limits as any other
//! (`crate::limits`); the search it makes is part of it.

mod search;

use std::time::Duration;

use common::{ErrorCode, Failure};
use rmcp::model::{CompleteRequestParams, CompleteResult, CompletionInfo, ErrorData, Reference};
use tokio_util::sync::CancellationToken;

use crate::{EdgeState, auth::Principal, convert, prompts, resources};

/// Longest a completion waits for a worker: a name list that arrives later
/// than this is no help to someone typing.
pub const COMPLETION_TIMEOUT: Duration = Duration::from_secs(3);

/// Most values one answer carries (the MCP limit).
const MAX_VALUES: usize = CompletionInfo::MAX_VALUES;

/// Longest value completed: the longest entity name a URI accepts
/// (`resources::is_identifier`); no name starts with anything longer.
const MAX_VALUE_CHARS: usize = 128;

/// What an argument names, and so where its values come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Environment,
    EntitySet,
    Enumeration,
    /// Free text (a prompt's `focus`): nothing to offer.
    Text,
}

impl Kind {
    /// The kind of a template variable or prompt argument, by its name.
    fn of(argument: &str) -> Self {
        match argument {
            // `name` is the variable of d365fo://environments/{name}.
            "environment" | "name" => Self::Environment,
            "entity" => Self::EntitySet,
            "enumeration" => Self::Enumeration,
            _ => Self::Text,
        }
    }

    /// Whether `value` could begin a name of this kind.
    fn may_start(self, value: &str) -> bool {
        if value.chars().count() > MAX_VALUE_CHARS {
            return false;
        }
        match self {
            Self::Environment => value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')),
            Self::EntitySet | Self::Enumeration => {
                value.is_empty() || resources::is_identifier(value)
            }
            Self::Text => false,
        }
    }
}

/// Answers `request` for `caller`; `cancelled` ends it early.
pub async fn complete(
    state: &EdgeState,
    caller: &Principal,
    request: &CompleteRequestParams,
    cancelled: &CancellationToken,
) -> Result<CompleteResult, ErrorData> {
    let kind = kind_of(&request.r#ref, &request.argument.name)
        .map_err(|failure| convert::error_data(&failure))?;
    let prefix = request.argument.value.as_str();
    if !kind.may_start(prefix) {
        return Ok(CompleteResult::new(CompletionInfo::default()));
    }
    let environment = request
        .context
        .as_ref()
        .and_then(|c| c.get_argument("environment"))
        .map(|e| e.trim())
        .filter(|e| !e.is_empty());
    let work = async {
        match kind {
            Kind::Environment => environments(state, caller, prefix).await,
            Kind::EntitySet => {
                let search = search::Search::ENTITIES;
                search.run(state, caller, environment, prefix).await
            }
            Kind::Enumeration => {
                let search = search::Search::ENUMERATIONS;
                search.run(state, caller, environment, prefix).await
            }
            Kind::Text => Ok(Found::default()),
        }
    };
    let found = tokio::select! {
        found = tokio::time::timeout(COMPLETION_TIMEOUT, work) => found.unwrap_or_else(|_| {
            Err(Failure::new(ErrorCode::DeadlineExceeded, "the worker took too long"))
        }),
        _ = cancelled.cancelled() => Ok(Found::default()),
    };
    let found = found.unwrap_or_else(|failure| {
        tracing::debug!(code = %failure.code, error = %failure.message,
            "completion answered empty");
        Found::default()
    });
    Ok(CompleteResult::new(found.into_info()))
}

/// Names found for one completion, before the answer's limit.
#[derive(Debug, Default, PartialEq, Eq)]
struct Found {
    /// Best first; may be more than one answer carries.
    values: Vec<String>,
    /// How many there are in all, when known.
    total: Option<usize>,
    /// Whether names beyond `values` may match.
    more: bool,
}

impl Found {
    /// Every name there is: `values` is the whole list.
    fn all(values: Vec<String>) -> Self {
        Self {
            total: Some(values.len()),
            values,
            more: false,
        }
    }

    /// The MCP answer: at most [`MAX_VALUES`], the rest told by `hasMore`.
    fn into_info(mut self) -> CompletionInfo {
        let more = self.more || self.values.len() > MAX_VALUES;
        self.values.truncate(MAX_VALUES);
        let total = self.total.and_then(|t| u32::try_from(t).ok());
        CompletionInfo::with_pagination(self.values, total, more).unwrap_or_default()
    }
}

/// What `argument` of `reference` names; an unknown prompt, template or
/// argument is invalid params, saying what exists.
fn kind_of(reference: &Reference, argument: &str) -> Result<Kind, Failure> {
    let shown = |text: &str| common::clip::clip(text).to_string();
    let (what, takes) = match reference {
        Reference::Prompt(prompt) => {
            let all = prompts::list();
            let Some(found) = all.iter().find(|p| p.name == prompt.name) else {
                let known: Vec<&str> = all.iter().map(|p| p.name.as_str()).collect();
                return Err(invalid(format!(
                    "no prompt `{}` to complete; prompts/list names them: {}",
                    shown(&prompt.name),
                    known.join(", ")
                )));
            };
            let takes = found
                .arguments
                .iter()
                .flatten()
                .map(|a| a.name.clone())
                .collect::<Vec<_>>();
            (format!("prompt `{}`", found.name), takes)
        }
        Reference::Resource(template) => {
            let all = resources::templates();
            let Some(found) = all.iter().find(|t| t.uri_template == template.uri) else {
                let known: Vec<&str> = all.iter().map(|t| t.uri_template.as_str()).collect();
                return Err(invalid(format!(
                    "no resource template `{}` to complete; resources/templates/list gives them \
                     (the URI template exactly as listed): {}",
                    shown(&template.uri),
                    known.join(", ")
                )));
            };
            let takes = variables(&found.uri_template);
            (format!("resource template `{}`", found.uri_template), takes)
        }
        // rmcp's enum may grow; a reference of a kind we do not know.
        #[allow(unreachable_patterns)]
        _ => {
            return Err(invalid(
                "completion is offered for ref/prompt and ref/resource references only".into(),
            ));
        }
    };
    if takes.iter().any(|name| name == argument) {
        Ok(Kind::of(argument))
    } else {
        Err(invalid(format!(
            "{what} has no argument `{}`; it takes: {}",
            shown(argument),
            takes.join(", ")
        )))
    }
}

/// The `{variable}` names of a URI template, in order.
fn variables(template: &str) -> Vec<String> {
    template
        .split('{')
        .skip(1)
        .filter_map(|part| part.split_once('}').map(|(name, _)| name.to_owned()))
        .collect()
}

fn invalid(message: String) -> Failure {
    Failure::new(ErrorCode::InvalidArguments, message)
}

/// The configured environments starting with `prefix` (ASCII case aside)
/// that the caller's policy lets it use, in name order.
async fn environments(
    state: &EdgeState,
    caller: &Principal,
    prefix: &str,
) -> Result<Found, Failure> {
    let all = state.workers.environments(COMPLETION_TIMEOUT).await?;
    let policy = &state.config.policy;
    let mut names: Vec<String> = all
        .into_iter()
        .filter(|name| starts_with(name, prefix))
        .filter(|name| policy.may_follow(&caller.subject, &caller.tenant, Some(name)))
        .collect();
    names.sort();
    names.dedup();
    Ok(Found::all(names))
}

/// Whether `name` starts with `prefix`, ASCII case aside (D365FO resolves
/// names that way, and a person types in any case).
fn starts_with(name: &str, prefix: &str) -> bool {
    name.get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

#[cfg(test)]
mod tests;
