//! `d365fo_search_enumerations` and `d365fo_get_enumeration`.

use std::collections::HashMap;

use common::catalogue::metadata::{
    EnumArgs as GetArgs, EnumHit, EnumMember, EnumResult, Paging, SearchEnumsArgs as SearchArgs,
    SearchEnumsResult,
};
use serde_json::Value;

use super::{EnumSummary, Metadata, rank::Query, str_field as text};
use crate::error::WorkerError;

/// Most enumerations whose labels a search fetches from D365FO; past
/// that it ranks by the labels this worker already holds.
pub const LABEL_FETCH_LIMIT: usize = 200;

/// Ranks and pages the enumeration list.
pub async fn search(
    meta: &Metadata<'_>,
    args: SearchArgs,
) -> Result<SearchEnumsResult, WorkerError> {
    let enums = meta.enumerations().await?;
    let ids: Vec<String> = enums.iter().map(|e| e.label_id.clone()).collect();
    let labels: HashMap<String, String> = if enums.len() <= LABEL_FETCH_LIMIT {
        match meta.labels(ids, &args.language).await {
            Ok(texts) => texts.into_found(),
            Err(error) => {
                tracing::info!(%error, "enumeration labels unavailable; ranking by name only");
                HashMap::new()
            }
        }
    } else {
        meta.cached_labels(ids, &args.language).await?
    };
    let query = Query::new(&args.query);
    let mut scored: Vec<(u32, &EnumSummary)> = enums
        .iter()
        .map(|e| {
            let by_label = labels.get(&e.label_id).map_or(0, |t| query.score_label(t));
            (query.score(&e.name).max(by_label), e)
        })
        .filter(|(score, _)| *score > 0)
        .collect();
    scored.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.name.cmp(&b.1.name)));
    let total = scored.len();
    let page: Vec<EnumHit> = scored
        .iter()
        .skip(args.skip)
        .take(args.top)
        .map(|&(score, e)| EnumHit {
            name: e.name.clone(),
            label_id: e.label_id.clone(),
            label: labels.get(&e.label_id).cloned(),
            score,
        })
        .collect();
    Ok(SearchEnumsResult {
        page: Paging::new(total, args.skip, page.len()),
        query: args.query,
        language: args.language,
        enumerations: page,
    })
}

/// One enumeration with its members' values and labels.
pub async fn get(meta: &Metadata<'_>, args: GetArgs) -> Result<EnumResult, WorkerError> {
    let Some(record) = meta.enumeration(&args.name).await? else {
        return Err(WorkerError::Missing(format!(
            "enumeration {} not found; search with d365fo_search_enumerations, or read an \
             entity's schema (d365fo_get_entity_schema), which lists the members of its \
             enum-typed fields",
            crate::d365::odata::quote(&args.name)
        )));
    };
    let members = record
        .get("Members")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    let mut ids = vec![text(&record, "LabelId")];
    ids.extend(members.iter().map(|m| text(m, "LabelId")));
    // A label that cannot be read is a `null` and a note, not a failed call.
    let labels = meta.labels(ids, &args.language).await?;
    let label = |id: &str| labels.text(id);
    let label_id = text(&record, "LabelId");
    Ok(EnumResult {
        name: text(&record, "Name"),
        label: label(&label_id),
        label_id,
        language: args.language,
        members: members
            .iter()
            .map(|m| EnumMember {
                name: text(m, "Name"),
                // An enumeration value is an integer in D365FO's metadata;
                // anything else would read as null.
                value: m.get("Value").and_then(Value::as_i64),
                label_id: text(m, "LabelId"),
                label: label(&text(m, "LabelId")),
            })
            .collect(),
        unresolved_labels: labels.note(),
    })
}
