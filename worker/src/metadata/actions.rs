//! `d365fo_search_actions`: over the action index of `/data/$metadata`.

use common::catalogue::{
    args::metadata::BINDINGS,
    metadata::{
        ActionHit, ActionParameter, Paging, SearchActionsArgs as SearchArgs, SearchActionsResult,
    },
};

use super::{ActionInfo, Metadata, rank::Query};
use crate::error::WorkerError;

/// Ranks, filters and pages the actions.
pub async fn search(
    meta: &Metadata<'_>,
    args: SearchArgs,
) -> Result<SearchActionsResult, WorkerError> {
    const TOOL: &str = "d365fo_search_actions";
    let binding = match args.binding.as_deref().filter(|b| !b.is_empty()) {
        None => None,
        Some(b) => Some(
            BINDINGS
                .iter()
                .find(|k| k.eq_ignore_ascii_case(b))
                .copied()
                .ok_or_else(|| {
                    WorkerError::invalid_args(
                        TOOL,
                        format!(
                            "`binding` must be one of {}, got {}",
                            BINDINGS.join(", "),
                            crate::d365::odata::quote(b)
                        ),
                    )
                })?,
        ),
    };
    // An entity filter names the entity any way the schema tool accepts.
    let entity = match args.entity.as_deref().filter(|e| !e.is_empty()) {
        Some(name) => Some(meta.resolve_entity(name).await?),
        None => None,
    };
    let actions = meta.actions().await?;
    let entities = meta.entities().await?;
    let set_of = |a: &ActionInfo| {
        a.entity_set.clone().or_else(|| {
            let entity = a.entity.as_deref()?;
            entities
                .iter()
                .find(|e| e.public_entity_name == entity)
                .map(|e| e.public_collection_name.clone())
        })
    };
    let query = Query::new(&args.query);
    let mut scored: Vec<(u32, &ActionInfo, Option<String>)> = actions
        .iter()
        .filter(|a| binding.is_none_or(|b| a.binding == b))
        .filter(|a| {
            entity
                .as_ref()
                .is_none_or(|e| a.entity.as_deref() == Some(e.public_entity_name.as_str()))
        })
        .map(|a| (query.score(&a.name), a, set_of(a)))
        .filter(|(score, _, _)| *score > 0)
        .collect();
    scored.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.name.cmp(&b.1.name)));
    let total = scored.len();
    let page: Vec<ActionHit> = scored
        .iter()
        .skip(args.skip)
        .take(args.top)
        .map(|(score, a, set)| ActionHit {
            name: a.name.clone(),
            binding: a.binding.clone(),
            entity: a.entity.clone(),
            entity_set: set.clone(),
            parameters: a
                .parameters
                .iter()
                .map(|p| ActionParameter {
                    name: p.name.clone(),
                    type_name: p.type_name.clone(),
                    nullable: p.nullable,
                })
                .collect(),
            return_type: a.return_type.clone(),
            path: path(a, set.as_deref()),
            score: *score,
        })
        .collect();
    Ok(SearchActionsResult {
        page: Paging::new(total, args.skip, page.len()),
        query: args.query,
        actions: page,
    })
}

/// Where the action is called, as a template under `/data/`.
fn path(a: &ActionInfo, set: Option<&str>) -> Option<String> {
    let action = format!("Microsoft.Dynamics.DataEntities.{}", a.name);
    match (a.binding.as_str(), set) {
        ("Unbound", _) => Some(action),
        ("BoundToEntitySet", Some(set)) => Some(format!("{set}/{action}")),
        ("BoundToEntityInstance", Some(set)) => Some(format!("{set}({{key}})/{action}")),
        _ => None,
    }
}
