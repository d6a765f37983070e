//! What the metadata tools return, as `structuredContent`; their output
//! schemas are derived from these types. A label D365FO did not return is
//! sent as `null`, so its field is required and may be null.

use schemars::JsonSchema;
use serde::Serialize;

/// The result of `d365fo_test_connection`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ConnectionResult {
    // Whether D365FO answered an authenticated query.
    pub ok: bool,
    // The environment's name.
    pub environment: String,
    // The environment's URL.
    pub base_url: String,
    // The round-trip time, in milliseconds.
    pub latency_ms: f64,
    // What happened: connected, or the error's code and message.
    pub message: String,
}

/// The result of `d365fo_get_environment_info`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct EnvironmentInfoResult {
    // The environment's name.
    pub environment: String,
    // The environment's URL.
    pub base_url: String,
    // The application version, e.g. 10.0.41.
    pub application_version: String,
    // The platform build version.
    pub platform_version: String,
}

/// Where a page of search results stands in the whole: flattened into each
/// search's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Paging {
    // How many results matched.
    pub total: usize,
    // How many this page holds.
    pub returned: usize,
    // Whether more follow this page.
    pub more: bool,
    // The `skip` of the next page, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_skip: Option<usize>,
}

impl Paging {
    /// The page of `returned` results after `skip` of `total`.
    pub fn new(total: usize, skip: usize, returned: usize) -> Self {
        let more = skip + returned < total;
        Self {
            total,
            returned,
            more,
            next_skip: more.then_some(skip + returned),
        }
    }
}

/// The result of `d365fo_search_entities`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SearchEntitiesResult {
    // The words searched for.
    pub query: String,
    // The language of the labels.
    pub language: String,
    // Where this page stands in the whole.
    #[serde(flatten)]
    pub page: Paging,
    // The page's entities, best match first.
    pub entities: Vec<EntityHit>,
}

// One entity a search found.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct EntityHit {
    // The entity set, as /data serves it.
    pub entity_set: String,
    // The public entity name.
    pub public_entity_name: String,
    // The AOT name.
    pub name: String,
    // The label's id.
    pub label_id: String,
    // The label's text; null when it was not read.
    pub label: Option<String>,
    // Master, Transaction, Reference, Document, Parameters…
    pub category: String,
    // Whether OData serves it.
    pub data_service_enabled: bool,
    // Whether data management (import and export) uses it.
    pub data_management_enabled: bool,
    // Whether it refuses writes.
    pub read_only: bool,
    // How well it matched.
    pub score: u32,
}

/// The result of `d365fo_get_entity_schema`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct EntitySchemaResult {
    // The entity set, as /data serves it.
    pub entity_set: String,
    // The public entity name.
    pub public_entity_name: String,
    // The AOT name.
    pub name: String,
    // The label's id.
    pub label_id: String,
    // The label's text; null when it was not read.
    pub label: Option<String>,
    // Master, Transaction, Reference, Document, Parameters…
    pub category: String,
    // Whether it refuses writes.
    pub read_only: bool,
    // The language of the labels.
    pub language: String,
    // The key fields, as d365fo_get_entity_record takes them.
    pub keys: Vec<String>,
    // The fields, relations and bound actions. Their items are listed as
    // plain objects: a model reads them from the result, and spelling out
    // their shape would add 1.5 KB to every agent's tools/list.
    #[schemars(with = "Vec<serde_json::Map<String, serde_json::Value>>")]
    pub properties: Vec<EntityProperty>,
    #[schemars(with = "Vec<serde_json::Map<String, serde_json::Value>>")]
    pub navigation_properties: Vec<NavigationProperty>,
    #[schemars(with = "Vec<serde_json::Map<String, serde_json::Value>>")]
    pub actions: Vec<BoundAction>,
    /// Present when some labels could not be read (they are null): how many, and the first error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unresolved_labels: Option<UnresolvedLabels>,
}

// One field of an entity.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct EntityProperty {
    // The field's name.
    pub name: String,
    // Its EDM or enumeration type name.
    #[serde(rename = "type")]
    pub type_name: String,
    // Its D365FO data type.
    pub data_type: String,
    // The label's id.
    pub label_id: String,
    // The label's text; null when it was not read.
    pub label: Option<String>,
    // Whether it is part of the key.
    pub is_key: bool,
    // Whether a create must give it.
    pub mandatory: bool,
    // Whether an update may change it; null when D365FO does not say.
    pub allow_edit: Option<bool>,
    // Whether a create may set it; null when D365FO does not say.
    pub allow_edit_on_create: Option<bool>,
    // The enumeration of an enum-typed field.
    #[serde(rename = "enum", skip_serializing_if = "Option::is_none")]
    pub enumeration: Option<PropertyEnum>,
}

// The enumeration of an enum-typed field.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PropertyEnum {
    // The enumeration's name.
    pub name: String,
    // Its members.
    pub members: Vec<PropertyEnumMember>,
}

// One member of an enum-typed field's enumeration.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PropertyEnumMember {
    // The name a filter or a write uses.
    pub name: String,
    // The integer value; null when D365FO gave none.
    pub value: Option<i64>,
    // The label's text; null when it was not read.
    pub label: Option<String>,
}

// A relation of an entity to another.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct NavigationProperty {
    // The name `$expand` takes.
    pub name: String,
    // The related entity.
    pub related_entity: String,
    // One or many.
    pub cardinality: String,
    // The fields that relate them.
    pub constraints: Vec<NavigationConstraint>,
}

// A field of an entity and the related entity's field it matches.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct NavigationConstraint {
    // This entity's field.
    pub property: String,
    // The related entity's field.
    pub referenced_property: String,
}

// An action bound to an entity.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct BoundAction {
    // The action's name.
    pub name: String,
    // BoundToEntitySet or BoundToEntityInstance.
    pub binding: String,
    // Its parameters after the binding one.
    pub parameters: Vec<BoundActionParameter>,
    // Its return type; null for none.
    pub return_type: Option<String>,
}

// A parameter of an action bound to an entity.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct BoundActionParameter {
    // The name the JSON body uses.
    pub name: String,
    // Its EDM type; null when D365FO does not say.
    #[serde(rename = "type")]
    pub type_name: Option<String>,
}

// How many labels could not be read, and the first error.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct UnresolvedLabels {
    // How many.
    pub count: usize,
    // The first error's message.
    pub first_error: String,
}

/// The result of `d365fo_search_actions`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SearchActionsResult {
    // The words searched for.
    pub query: String,
    // Where this page stands in the whole.
    #[serde(flatten)]
    pub page: Paging,
    // The page's actions, best match first.
    pub actions: Vec<ActionHit>,
}

// One action a search found.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ActionHit {
    // The action's name.
    pub name: String,
    // Unbound, BoundToEntitySet or BoundToEntityInstance.
    pub binding: String,
    // The entity it is bound to; null when unbound.
    pub entity: Option<String>,
    // The entity set to call it on; null when unbound or unknown.
    pub entity_set: Option<String>,
    // Its parameters after the binding one.
    pub parameters: Vec<ActionParameter>,
    // Its return type; null for none.
    pub return_type: Option<String>,
    // Where to call it under /data; null when unknown.
    pub path: Option<String>,
    // How well it matched.
    pub score: u32,
}

// A parameter of an action.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ActionParameter {
    // The name the JSON body uses.
    pub name: String,
    // Its EDM type.
    #[serde(rename = "type")]
    pub type_name: String,
    // Whether it may be left out.
    pub nullable: bool,
}

/// The result of `d365fo_search_enumerations`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SearchEnumsResult {
    // The words searched for.
    pub query: String,
    // The language of the labels.
    pub language: String,
    // Where this page stands in the whole.
    #[serde(flatten)]
    pub page: Paging,
    // The page's enumerations, best match first.
    pub enumerations: Vec<EnumHit>,
}

// One enumeration a search found.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct EnumHit {
    // The enumeration's name.
    pub name: String,
    // The label's id.
    pub label_id: String,
    // The label's text; null when it was not read.
    pub label: Option<String>,
    // How well it matched.
    pub score: u32,
}

/// The result of `d365fo_get_enumeration`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct EnumResult {
    // The enumeration's name.
    pub name: String,
    // The label's id.
    pub label_id: String,
    // The label's text; null when it was not read.
    pub label: Option<String>,
    // The language of the labels.
    pub language: String,
    // Its members.
    pub members: Vec<EnumMember>,
    /// Present when some labels could not be read (they are null): how many, and the first error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unresolved_labels: Option<UnresolvedLabels>,
}

// One member of an enumeration.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct EnumMember {
    // The name a filter or a write uses.
    pub name: String,
    /// The member's integer value; null when D365FO gave none.
    pub value: Option<i64>,
    // The label's id.
    pub label_id: String,
    // The label's text; null when it was not read.
    pub label: Option<String>,
}

/// The result of `d365fo_get_label`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct LabelResult {
    // The label id asked for.
    pub label_id: String,
    // The language asked for.
    pub language: String,
    // The label's text.
    pub text: String,
}

/// The result of `d365fo_get_labels`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct LabelsResult {
    // The language asked for.
    pub language: String,
    // How many labels have a text.
    pub found: usize,
    // How many D365FO has no text for.
    pub missing: usize,
    // How many could not be read.
    pub failed: usize,
    // One per id asked for, in order.
    pub labels: Vec<LabelText>,
}

// One label of `d365fo_get_labels`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct LabelText {
    // The label id asked for.
    pub label_id: String,
    // Whether it has a text.
    pub found: bool,
    // The text; null when not found.
    pub text: Option<String>,
    /// Why the lookup failed; absent when D365FO answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The result of `d365fo_get_installed_modules`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct InstalledModulesResult {
    // The hash of the modules and versions that keys the metadata cache.
    pub version_hash: String,
    // How many modules.
    pub count: usize,
    // The modules.
    pub modules: Vec<InstalledModule>,
}

// One installed module (model).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct InstalledModule {
    // The model's name, e.g. ApplicationSuite.
    pub name: String,
    // Its version.
    pub version: String,
    // The package (module) it belongs to.
    pub module: String,
    // Who publishes it.
    pub publisher: String,
    // Its display name.
    pub display_name: String,
}
