//! `d365fo_get_entity_record`: one record by key.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::tools::{Context, args::de};
use crate::{
    d365::odata::{QueryOptions, data_url},
    error::WorkerError,
};

/// Arguments, as the catalogue defines them.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordArgs {
    #[serde(deserialize_with = "de::entity_set")]
    entity_set: String,
    /// The key predicate, already formatted: `(k1='v1',k2=2)`.
    #[serde(deserialize_with = "de::key")]
    key: String,
    #[serde(default, deserialize_with = "de::select")]
    select: Vec<String>,
    #[serde(default, deserialize_with = "de::cross_company")]
    cross_company: bool,
}

/// Reads the record; D365FO's 404 becomes a not-found error.
pub async fn run(ctx: &Context<'_>, args: RecordArgs) -> Result<Value, WorkerError> {
    let query = QueryOptions {
        select: args.select,
        cross_company: args.cross_company,
        ..QueryOptions::default()
    };
    let path = format!("{}{}", args.entity_set, args.key);
    let url = data_url(ctx.client.base_url(), &path, &query);
    let record = ctx.client.get_json(&url, ctx.deadline).await?;
    if !record.is_object() {
        return Err(WorkerError::BadResponse(
            "a record that is not a JSON object".into(),
        ));
    }
    Ok(json!({ "entity_set": args.entity_set, "record": record }))
}
