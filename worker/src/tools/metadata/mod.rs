//! The metadata group: connection, versions, installed modules, entities,
//! actions, enumerations, labels. Each tool reads its typed arguments and
//! calls one function of [`crate::metadata`], which reads D365FO through
//! the metadata cache.

mod connection;

use common::catalogue::names;
use serde_json::{Map, Value};

use super::{Context, Reply, args, unknown_tool};
use crate::{
    error::WorkerError,
    metadata::{Metadata, actions, entities, enums, labels},
};

/// Runs one tool of this group.
pub async fn run(
    ctx: &Context<'_>,
    tool: &str,
    args: Map<String, Value>,
) -> Result<Reply, WorkerError> {
    let meta = Metadata {
        client: ctx.client,
        cache: ctx.cache,
        deadline: ctx.deadline,
        progress: Some(&ctx.progress),
    };
    // The connection tools build their result types; the others' results
    // are still built as JSON by `crate::metadata`.
    let value = match tool {
        names::TEST_CONNECTION => {
            let args = args::parse(tool, args)?;
            return Reply::data(&connection::test_connection(ctx, args).await?);
        }
        names::GET_ENVIRONMENT_INFO => {
            let args = args::parse(tool, args)?;
            return Reply::data(&connection::environment_info(ctx, args).await?);
        }
        names::GET_INSTALLED_MODULES => {
            labels::installed_modules(&meta, args::parse(tool, args)?).await?
        }
        names::SEARCH_ENTITIES => entities::search(&meta, args::parse(tool, args)?).await?,
        names::GET_ENTITY_SCHEMA => entities::schema(&meta, args::parse(tool, args)?).await?,
        names::SEARCH_ACTIONS => actions::search(&meta, args::parse(tool, args)?).await?,
        names::SEARCH_ENUMERATIONS => enums::search(&meta, args::parse(tool, args)?).await?,
        names::GET_ENUMERATION => enums::get(&meta, args::parse(tool, args)?).await?,
        names::GET_LABEL => labels::get_label(&meta, args::parse(tool, args)?).await?,
        names::GET_LABELS => labels::get_labels(&meta, args::parse(tool, args)?).await?,
        other => return Err(unknown_tool(other)),
    };
    Ok(Reply::Data(value))
}
