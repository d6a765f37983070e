//! The data group: query, read and write entity records.

pub mod cursor;
mod query;
mod record;

use common::catalogue::names;
use serde_json::{Map, Value};

use super::{Context, Reply, args, unknown_tool};
use crate::error::WorkerError;

/// Runs one tool of this group.
pub async fn run(
    ctx: &Context<'_>,
    tool: &str,
    args: Map<String, Value>,
) -> Result<Reply, WorkerError> {
    let value = match tool {
        names::QUERY_ENTITIES => query::run(ctx, args::parse(tool, args)?).await?,
        names::GET_ENTITY_RECORD => record::run(ctx, args::parse(tool, args)?).await?,
        other => return Err(unknown_tool(other)),
    };
    Ok(Reply::Data(value))
}
