//! `d365fo_search_entities` and `d365fo_get_entity_schema`.
//!
//! Search ranks the cached `DataEntities` list by name (entity, set and
//! AOT names) and by label text. Label texts cost one request each, so a
//! search fetches them only in a small environment (at most
//! [`LABEL_FETCH_LIMIT`] entities, all labels then cached for later
//! searches); in a large one it ranks by the labels this worker already
//! holds, which schema lookups and earlier searches have filled.

use std::collections::HashMap;

use common::catalogue::metadata::{
    BoundAction, BoundActionParameter, EntityHit, EntityProperty, EntitySchemaResult,
    NavigationConstraint, NavigationProperty, Paging, PropertyEnum, PropertyEnumMember, SchemaArgs,
    SearchEntitiesArgs as SearchArgs, SearchEntitiesResult,
};
use futures::{StreamExt, TryStreamExt, stream};
use serde_json::Value;

use super::{EntitySummary, Metadata, edmx::short_name, rank::Query, str_field as text};
use crate::error::WorkerError;

/// Most entities whose labels a search fetches from D365FO.
pub const LABEL_FETCH_LIMIT: usize = 200;

/// Ranks, filters and pages the entity list.
pub async fn search(
    meta: &Metadata<'_>,
    args: SearchArgs,
) -> Result<SearchEntitiesResult, WorkerError> {
    let entities = meta.entities().await?;
    let kept: Vec<&EntitySummary> = entities
        .iter()
        .filter(|e| {
            args.category
                .as_deref()
                .is_none_or(|c| e.entity_category.eq_ignore_ascii_case(c))
                && args
                    .data_service_enabled
                    .is_none_or(|v| e.data_service_enabled == v)
                && args.read_only.is_none_or(|v| e.is_read_only == v)
        })
        .collect();
    // Collected first: an iterator borrowing `kept` held across the awaits
    // below would make the call's future not `Send`.
    let label_ids: Vec<String> = kept.iter().map(|e| e.label_id.clone()).collect();
    let labels: HashMap<String, String> = if kept.len() <= LABEL_FETCH_LIMIT {
        // Labels only rank: one that cannot be read must not fail the search.
        match meta.labels(label_ids.clone(), &args.language).await {
            Ok(texts) => texts.into_found(),
            Err(error) => {
                tracing::info!(%error, "entity labels unavailable; ranking by name only");
                meta.cached_labels(label_ids, &args.language).await?
            }
        }
    } else {
        meta.cached_labels(label_ids, &args.language).await?
    };
    let query = Query::new(&args.query);
    let mut scored: Vec<(u32, &EntitySummary)> = kept
        .into_iter()
        .map(|e| {
            let by_name = query.best([
                e.public_entity_name.as_str(),
                e.public_collection_name.as_str(),
                e.name.as_str(),
            ]);
            let by_label = labels
                .get(&e.label_id)
                .map_or(0, |text| query.score_label(text));
            (by_name.max(by_label), e)
        })
        .filter(|(score, _)| *score > 0)
        .collect();
    scored.sort_by(|a, b| {
        b.0.cmp(&a.0)
            .then_with(|| a.1.public_collection_name.cmp(&b.1.public_collection_name))
    });
    let total = scored.len();
    let entities: Vec<EntityHit> = scored
        .iter()
        .skip(args.skip)
        .take(args.top)
        .map(|&(score, e)| EntityHit {
            entity_set: e.public_collection_name.clone(),
            public_entity_name: e.public_entity_name.clone(),
            name: e.name.clone(),
            label_id: e.label_id.clone(),
            label: labels.get(&e.label_id).cloned(),
            category: e.entity_category.clone(),
            data_service_enabled: e.data_service_enabled,
            data_management_enabled: e.data_management_enabled,
            read_only: e.is_read_only,
            score,
        })
        .collect();
    Ok(SearchEntitiesResult {
        page: Paging::new(total, args.skip, entities.len()),
        query: args.query,
        language: args.language,
        entities,
    })
}

fn array<'a>(value: &'a Value, field: &str) -> &'a [Value] {
    value
        .get(field)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// An entity's schema with labels in `language` and enum members inline.
pub async fn schema(
    meta: &Metadata<'_>,
    args: SchemaArgs,
) -> Result<EntitySchemaResult, WorkerError> {
    let entity = meta.resolve_entity(&args.entity).await?;
    let public = meta.public_entity(&entity).await?;
    let properties = array(&public, "Properties");
    // Enumerations of enum-typed properties, each read once.
    let mut enum_names: Vec<String> = properties
        .iter()
        .map(|p| text(p, "TypeName"))
        .filter(|t| !t.is_empty() && !t.starts_with("Edm."))
        .map(|t| short_name(&t).to_owned())
        .collect();
    enum_names.sort_unstable();
    enum_names.dedup();
    let enums: HashMap<String, Value> = stream::iter(enum_names)
        .map(|name| async move { Ok::<_, WorkerError>((meta.enumeration(&name).await?, name)) })
        .buffer_unordered(super::LABEL_CONCURRENCY)
        .try_filter_map(|(value, name)| async move { Ok(value.map(|v| (name, v))) })
        .try_collect()
        .await?;
    let mut label_ids = vec![text(&public, "LabelId")];
    label_ids.extend(properties.iter().map(|p| text(p, "LabelId")));
    for e in enums.values() {
        label_ids.extend(array(e, "Members").iter().map(|m| text(m, "LabelId")));
    }
    // A label that cannot be read is a `null` and a note, not a failed schema.
    let labels = meta.labels(label_ids, &args.language).await?;
    let label = |id: &str| labels.text(id);
    let props: Vec<EntityProperty> = properties
        .iter()
        .map(|p| {
            let type_name = text(p, "TypeName");
            let label_id = text(p, "LabelId");
            let flag = |field: &str| p.get(field).and_then(Value::as_bool);
            let enumeration = enums.get(short_name(&type_name)).map(|e| PropertyEnum {
                name: text(e, "Name"),
                members: array(e, "Members")
                    .iter()
                    .map(|m| PropertyEnumMember {
                        name: text(m, "Name"),
                        // An integer in D365FO's metadata (null otherwise).
                        value: m.get("Value").and_then(Value::as_i64),
                        label: label(&text(m, "LabelId")),
                    })
                    .collect(),
            });
            EntityProperty {
                name: text(p, "Name"),
                data_type: text(p, "DataType"),
                label: label(&label_id),
                label_id,
                is_key: flag("IsKey").unwrap_or(false),
                mandatory: flag("IsMandatory").unwrap_or(false),
                allow_edit: flag("AllowEdit"),
                allow_edit_on_create: flag("AllowEditOnCreate"),
                type_name,
                enumeration,
            }
        })
        .collect();
    let keys: Vec<String> = properties
        .iter()
        .filter(|p| p.get("IsKey").and_then(Value::as_bool) == Some(true))
        .map(|p| text(p, "Name"))
        .collect();
    let navigation = array(&public, "NavigationProperties")
        .iter()
        .map(|n| NavigationProperty {
            name: text(n, "Name"),
            related_entity: text(n, "RelatedEntity"),
            cardinality: text(n, "Cardinality"),
            constraints: array(n, "Constraints")
                .iter()
                .map(|c| NavigationConstraint {
                    property: text(c, "Property"),
                    referenced_property: text(c, "ReferencedProperty"),
                })
                .collect(),
        })
        .collect();
    let type_name = |v: &Value, pointer: &str| {
        v.pointer(pointer)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let actions = array(&public, "Actions")
        .iter()
        .map(|a| BoundAction {
            name: text(a, "Name"),
            binding: text(a, "BindingKind"),
            parameters: array(a, "Parameters")
                .iter()
                .skip(1)
                .map(|p| BoundActionParameter {
                    name: text(p, "Name"),
                    type_name: type_name(p, "/Type/TypeName"),
                })
                .collect(),
            return_type: type_name(a, "/ReturnType/TypeName"),
        })
        .collect();
    let entity_label_id = text(&public, "LabelId");
    Ok(EntitySchemaResult {
        label: label(&entity_label_id),
        label_id: entity_label_id,
        read_only: public
            .get("IsReadOnly")
            .and_then(Value::as_bool)
            .unwrap_or(entity.is_read_only),
        entity_set: entity.public_collection_name,
        public_entity_name: entity.public_entity_name,
        name: entity.name,
        category: entity.entity_category,
        language: args.language,
        keys,
        properties: props,
        navigation_properties: navigation,
        actions,
        unresolved_labels: labels.note(),
    })
}
