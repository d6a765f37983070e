//! The data group: query, read and write entity records, and `$batch`.
//!
//! - [`query`] and [`record`]: reads, paged by a [`cursor`];
//! - [`write`]: create, update and delete, each sent at most once per call;
//! - [`batch`]: several of those in one `$batch`, with atomic changesets;
//! - [`hints`]: D365FO's answers turned into errors a model can act on;
//!   [`keys`]: key predicates in the literal form of each key's type;
//!   [`size`]: the bound on the records one result carries.
//!
//! The argument and result types are `common::catalogue::data`'s.

mod batch;
pub mod cursor;
mod hints;
pub(crate) mod keys;
mod query;
mod record;
mod size;
mod write;

use common::catalogue::names;
use serde_json::{Map, Value};

use super::{Context, Reply, args as parse, unknown_tool};
use crate::error::WorkerError;

/// Runs one tool of this group.
pub async fn run(
    ctx: &Context<'_>,
    tool: &str,
    args: Map<String, Value>,
) -> Result<Reply, WorkerError> {
    match tool {
        names::QUERY_ENTITIES => Reply::data(&query::run(ctx, parse::parse(tool, args)?).await?),
        names::GET_ENTITY_RECORD => {
            Reply::data(&record::run(ctx, parse::parse(tool, args)?).await?)
        }
        names::CREATE_ENTITY_RECORD => {
            Reply::data(&write::create(ctx, parse::parse(tool, args)?).await?)
        }
        names::UPDATE_ENTITY_RECORD => {
            Reply::data(&write::update(ctx, parse::parse(tool, args)?).await?)
        }
        names::DELETE_ENTITY_RECORD => {
            Reply::data(&write::delete(ctx, parse::parse(tool, args)?).await?)
        }
        names::EXECUTE_BATCH => Reply::data(&batch::run(ctx, parse::parse(tool, args)?).await?),
        other => Err(unknown_tool(other)),
    }
}
