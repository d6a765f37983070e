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
    match tool {
        names::TEST_CONNECTION => {
            Reply::data(&connection::test_connection(ctx, args::parse(tool, args)?).await?)
        }
        names::GET_ENVIRONMENT_INFO => {
            Reply::data(&connection::environment_info(ctx, args::parse(tool, args)?).await?)
        }
        names::GET_INSTALLED_MODULES => {
            Reply::data(&labels::installed_modules(&meta, args::parse(tool, args)?).await?)
        }
        names::SEARCH_ENTITIES => {
            Reply::data(&entities::search(&meta, args::parse(tool, args)?).await?)
        }
        names::GET_ENTITY_SCHEMA => {
            Reply::data(&entities::schema(&meta, args::parse(tool, args)?).await?)
        }
        names::SEARCH_ACTIONS => {
            Reply::data(&actions::search(&meta, args::parse(tool, args)?).await?)
        }
        names::SEARCH_ENUMERATIONS => {
            Reply::data(&enums::search(&meta, args::parse(tool, args)?).await?)
        }
        names::GET_ENUMERATION => Reply::data(&enums::get(&meta, args::parse(tool, args)?).await?),
        names::GET_LABEL => Reply::data(&labels::get_label(&meta, args::parse(tool, args)?).await?),
        names::GET_LABELS => {
            Reply::data(&labels::get_labels(&meta, args::parse(tool, args)?).await?)
        }
        other => Err(unknown_tool(other)),
    }
}
