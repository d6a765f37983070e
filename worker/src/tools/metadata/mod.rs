//! The metadata group: connection, versions, entities, enumerations, labels.

mod connection;

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
        names::TEST_CONNECTION => {
            connection::test_connection(ctx, args::parse(tool, args)?).await?
        }
        names::GET_ENVIRONMENT_INFO => {
            connection::environment_info(ctx, args::parse(tool, args)?).await?
        }
        other => return Err(unknown_tool(other)),
    };
    Ok(Reply::Data(value))
}
