//! `d365fo_get_entity_record`: one record by key, refused when it alone is
//! more than a result may hold (an `expand` of many related records, say).

use common::catalogue::data::{RecordArgs, RecordResult};

use super::{hints, keys::KeyTyper, size};
use crate::tools::Context;
use crate::{
    d365::odata::{QueryOptions, data_url},
    error::WorkerError,
};

const TOOL: &str = common::catalogue::names::GET_ENTITY_RECORD;

/// Reads the record; D365FO's 404 becomes a not-found error.
pub async fn run(ctx: &Context<'_>, args: RecordArgs) -> Result<RecordResult, WorkerError> {
    let expanded = !args.expand.is_empty();
    let query = QueryOptions {
        select: args.select,
        expand: args.expand,
        cross_company: args.cross_company,
        ..QueryOptions::default()
    };
    let predicate = KeyTyper::new(ctx)
        .predicate(&args.entity_set, &args.key)
        .await
        .map_err(|why| WorkerError::invalid_args(TOOL, why))?;
    let path = format!("{}{predicate}", args.entity_set);
    let url = data_url(ctx.client.base_url(), &path, &query);
    let record = ctx
        .client
        .get_json(&url, ctx.deadline)
        .await
        .map_err(|e| hints::explain(e, &args.entity_set, args.cross_company))?;
    if !record.is_object() {
        return Err(WorkerError::BadResponse(
            "a record that is not a JSON object".into(),
        ));
    }
    let bytes = size::json_len(&record);
    if bytes > ctx.max_result_bytes {
        let budget = ctx.max_result_bytes;
        return Err(size::too_wide(TOOL, "the record", bytes, budget, expanded));
    }
    Ok(RecordResult {
        entity_set: args.entity_set,
        record,
    })
}
