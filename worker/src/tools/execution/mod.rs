//! The execution group: OData actions, JSON services and reports.
//!
//! - `action`: `d365fo_call_action`, unbound, set-bound or record-bound.
//! - `service`: `d365fo_call_json_service` and its read-only discovery,
//!   `d365fo_list_json_services`.
//! - `report`: `d365fo_run_report`, a PDF as an MCP embedded resource.
//! - `outcome`: results bounded without turning a success into an error,
//!   and errors that say when a request may have run anyway.
//! - The argument and result types, and the arguments' readers, are
//!   `common::catalogue::execution`'s.
//!
//! Actions and service operations run at most once (resent only after a 429), after
//! claiming the call's request id (`crate::d365::WriteOnce`, shared with the
//! data group's writes); the report and discovery are reads and retried
//! like reads.

mod action;
mod outcome;
mod report;
mod service;

use common::catalogue::names;
use serde_json::{Map, Value};

use super::{Context, Reply, args, unknown_tool};
use crate::error::WorkerError;

pub use report::MAX_REPORT_BYTES;

/// Runs one tool of this group.
pub async fn run(
    ctx: &Context<'_>,
    tool: &str,
    args: Map<String, Value>,
) -> Result<Reply, WorkerError> {
    match tool {
        names::CALL_ACTION => Reply::data(&action::run(ctx, args::parse(tool, args)?).await?),
        names::CALL_JSON_SERVICE => {
            Reply::data(&service::call(ctx, args::parse(tool, args)?).await?)
        }
        names::LIST_JSON_SERVICES => {
            Reply::data(&service::list(ctx, args::parse(tool, args)?).await?)
        }
        names::RUN_REPORT => report::run(ctx, args::parse(tool, args)?).await,
        other => Err(unknown_tool(other)),
    }
}
