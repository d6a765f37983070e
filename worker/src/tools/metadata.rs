//! The metadata and label tools: thin adapters over [`crate::metadata`].
//! Each takes the environment out of the arguments (checking it), reads
//! the rest into the tool's typed arguments and calls one function.

use common::catalogue::metadata::names;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{Context, args, check_environment};
use crate::{
    error::WorkerError,
    metadata::{Metadata, actions, entities, enums, labels},
};

/// Whether `tool` is one of this group's.
pub fn serves(tool: &str) -> bool {
    [
        names::SEARCH_ENTITIES,
        names::GET_ENTITY_SCHEMA,
        names::SEARCH_ACTIONS,
        names::SEARCH_ENUMERATIONS,
        names::GET_ENUMERATION,
        names::GET_LABEL,
        names::GET_LABELS,
        names::GET_INSTALLED_MODULES,
    ]
    .contains(&tool)
}

/// Parses the arguments: `environment` is checked and removed, the rest is
/// read into `T`.
fn parse<T: DeserializeOwned>(ctx: &Context<'_>, tool: &str, json: &str) -> Result<T, WorkerError> {
    let mut map: serde_json::Map<String, Value> = args::parse(tool, json)?;
    let environment = match map.remove("environment") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(other) => {
            return Err(WorkerError::invalid_args(
                tool,
                format!(
                    "`environment` must be a string, got {}",
                    args::describe(&other)
                ),
            ));
        }
    };
    check_environment(ctx, tool, environment.as_deref())?;
    serde_json::from_value(Value::Object(map))
        .map_err(|e| WorkerError::invalid_args(tool, e.to_string()))
}

/// Runs one of this group's tools.
pub async fn run(ctx: &Context<'_>, tool: &str, json: &str) -> Result<Value, WorkerError> {
    let meta = Metadata {
        client: ctx.client,
        cache: ctx.cache,
        deadline: ctx.deadline,
    };
    match tool {
        names::SEARCH_ENTITIES => entities::search(&meta, parse(ctx, tool, json)?).await,
        names::GET_ENTITY_SCHEMA => entities::schema(&meta, parse(ctx, tool, json)?).await,
        names::SEARCH_ACTIONS => actions::search(&meta, parse(ctx, tool, json)?).await,
        names::SEARCH_ENUMERATIONS => enums::search(&meta, parse(ctx, tool, json)?).await,
        names::GET_ENUMERATION => enums::get(&meta, parse(ctx, tool, json)?).await,
        names::GET_LABEL => labels::get_label(&meta, parse(ctx, tool, json)?).await,
        names::GET_LABELS => labels::get_labels(&meta, parse(ctx, tool, json)?).await,
        names::GET_INSTALLED_MODULES => {
            labels::installed_modules(&meta, parse(ctx, tool, json)?).await
        }
        other => Err(WorkerError::Internal(format!(
            "{other} is not a metadata tool"
        ))),
    }
}
