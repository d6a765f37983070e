//! Metadata tools: connection, versions, installed modules, entity, action
//! and enumeration search, schemas, labels. All read-only, idempotent and
//! open-world; all but the connection and version tools are served from
//! the metadata cache after the first call.

mod results;

use schemars::JsonSchema;
use serde::Deserialize;

pub use self::results::{
    ActionHit, ActionParameter, BoundAction, BoundActionParameter, ConnectionResult, EntityHit,
    EntityProperty, EntitySchemaResult, EnumHit, EnumMember, EnumResult, EnvironmentInfoResult,
    InstalledModule, InstalledModulesResult, LabelResult, LabelText, LabelsResult,
    NavigationConstraint, NavigationProperty, Paging, PropertyEnum, PropertyEnumMember,
    SearchActionsResult, SearchEntitiesResult, SearchEnumsResult, UnresolvedLabels,
};
use super::args::{NoArgs, metadata as args};
use super::{Effects, Group, ToolSpec, input, output};

/// Tool names of this group.
pub mod names {
    /// Checks that D365FO answers.
    pub const TEST_CONNECTION: &str = "d365fo_test_connection";
    /// Application and platform versions.
    pub const GET_ENVIRONMENT_INFO: &str = "d365fo_get_environment_info";
    /// Ranked entity search.
    pub const SEARCH_ENTITIES: &str = "d365fo_search_entities";
    /// One entity's schema.
    pub const GET_ENTITY_SCHEMA: &str = "d365fo_get_entity_schema";
    /// Ranked action search.
    pub const SEARCH_ACTIONS: &str = "d365fo_search_actions";
    /// Ranked enumeration search.
    pub const SEARCH_ENUMERATIONS: &str = "d365fo_search_enumerations";
    /// One enumeration with members.
    pub const GET_ENUMERATION: &str = "d365fo_get_enumeration";
    /// One label text.
    pub const GET_LABEL: &str = "d365fo_get_label";
    /// Many label texts.
    pub const GET_LABELS: &str = "d365fo_get_labels";
    /// Installed modules and the version hash.
    pub const GET_INSTALLED_MODULES: &str = "d365fo_get_installed_modules";
}

/// The description of `language`.
const LANGUAGE: &str = "Label language, e.g. \"de\" (default en-us).";

/// What a label id looks like; the reader checks the same rule.
const LABEL_ID_PATTERN: &str = "^@[A-Za-z0-9_:.-]+$";

/// The description of a search's `query`, with an example of the tool's.
macro_rules! query {
    ($example:literal) => {
        concat!("Words to look for, e.g. \"", $example, "\".")
    };
}

/// The description of a search's `top`.
const TOP: &str = "Most results (default 20).";

/// The description of a search's `skip`.
const SKIP: &str = "`next_skip` of the previous page.";

/// Arguments of `d365fo_search_entities`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchEntitiesArgs {
    /// Words to look for; empty lists everything.
    #[serde(default, deserialize_with = "args::query")]
    #[schemars(length(max = args::MAX_TEXT), description = query!("sales order"))]
    pub query: String,
    /// Entity category, e.g. "Master".
    #[serde(default, deserialize_with = "args::text")]
    pub category: Option<String>,
    /// Only entities OData serves (true) or not.
    #[serde(default, deserialize_with = "args::flag")]
    pub data_service_enabled: Option<bool>,
    /// Only read-only (true) or writable entities.
    #[serde(default, deserialize_with = "args::flag")]
    pub read_only: Option<bool>,
    /// Most results to return.
    #[serde(default = "args::default_top", deserialize_with = "args::top")]
    #[schemars(range(min = 1, max = args::MAX_TOP), description = TOP)]
    pub top: usize,
    /// Results to skip.
    #[serde(default, deserialize_with = "args::skip")]
    #[schemars(description = SKIP)]
    pub skip: usize,
    /// Language of label texts.
    #[serde(
        default = "args::default_language",
        deserialize_with = "args::language"
    )]
    #[schemars(description = LANGUAGE)]
    pub language: String,
}

/// Arguments of `d365fo_get_entity_schema`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SchemaArgs {
    /// Entity set or entity name, e.g. "CustomersV3".
    #[serde(deserialize_with = "args::entity_name")]
    #[schemars(length(min = 1))]
    pub entity: String,
    /// Language of label texts.
    #[serde(
        default = "args::default_language",
        deserialize_with = "args::language"
    )]
    #[schemars(description = LANGUAGE)]
    pub language: String,
}

/// Arguments of `d365fo_search_actions`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchActionsArgs {
    /// Words to look for; empty lists everything.
    #[serde(default, deserialize_with = "args::query")]
    #[schemars(length(max = args::MAX_TEXT), description = query!("version"))]
    pub query: String,
    /// Only actions bound to this entity, e.g. "CustomersV3".
    #[serde(default, deserialize_with = "args::text")]
    pub entity: Option<String>,
    /// How the action is bound: one of [`args::BINDINGS`], in any case.
    #[serde(default, deserialize_with = "args::text")]
    #[schemars(schema_with = "args::binding_schema", description = "")]
    pub binding: Option<String>,
    /// Most results to return.
    #[serde(default = "args::default_top", deserialize_with = "args::top")]
    #[schemars(range(min = 1, max = args::MAX_TOP), description = TOP)]
    pub top: usize,
    /// Results to skip.
    #[serde(default, deserialize_with = "args::skip")]
    #[schemars(description = SKIP)]
    pub skip: usize,
}

/// Arguments of `d365fo_search_enumerations`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchEnumsArgs {
    /// Words to look for; empty lists everything.
    #[serde(default, deserialize_with = "args::query")]
    #[schemars(length(max = args::MAX_TEXT), description = query!("sales status"))]
    pub query: String,
    /// Most results to return.
    #[serde(default = "args::default_top", deserialize_with = "args::top")]
    #[schemars(range(min = 1, max = args::MAX_TOP), description = TOP)]
    pub top: usize,
    /// Results to skip.
    #[serde(default, deserialize_with = "args::skip")]
    #[schemars(description = SKIP)]
    pub skip: usize,
    /// Language of label texts.
    #[serde(
        default = "args::default_language",
        deserialize_with = "args::language"
    )]
    #[schemars(description = LANGUAGE)]
    pub language: String,
}

/// Arguments of `d365fo_get_enumeration`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnumArgs {
    /// Enumeration name, e.g. "NoYes".
    #[serde(deserialize_with = "args::enum_name")]
    #[schemars(length(min = 1))]
    pub name: String,
    /// Language of label texts.
    #[serde(
        default = "args::default_language",
        deserialize_with = "args::language"
    )]
    #[schemars(description = LANGUAGE)]
    pub language: String,
}

/// Arguments of `d365fo_get_label`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LabelArgs {
    /// Label id, e.g. "@SYS13342".
    #[serde(deserialize_with = "args::label_id")]
    #[schemars(regex(pattern = LABEL_ID_PATTERN), length(max = args::MAX_LABEL_ID))]
    pub label_id: String,
    /// Language of label texts.
    #[serde(
        default = "args::default_language",
        deserialize_with = "args::language"
    )]
    #[schemars(description = LANGUAGE)]
    pub language: String,
}

/// Arguments of `d365fo_get_labels`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LabelsArgs {
    /// Label ids, e.g. ["@SYS13342"].
    #[serde(deserialize_with = "args::label_ids")]
    #[schemars(
        length(min = 1, max = args::MAX_LABEL_IDS),
        inner(regex(pattern = LABEL_ID_PATTERN), length(max = args::MAX_LABEL_ID))
    )]
    pub label_ids: Vec<String>,
    /// Language of label texts.
    #[serde(
        default = "args::default_language",
        deserialize_with = "args::language"
    )]
    #[schemars(description = LANGUAGE)]
    pub language: String,
}

/// The specs of this group, in listing order.
pub fn specs() -> Vec<ToolSpec> {
    vec![
        ToolSpec {
            group: Group::Metadata,
            name: names::TEST_CONNECTION,
            title: "Test connection",
            description: "Checks that D365FO answers and accepts this server's credentials.",
            input_schema: input::<NoArgs>(),
            output_schema: Some(output::<ConnectionResult>()),
            examples: &[r#"{}"#],
            effects: Effects::READ,
        },
        ToolSpec {
            group: Group::Metadata,
            name: names::GET_ENVIRONMENT_INFO,
            title: "Get environment info",
            description: "Returns the environment's URL and application and platform versions.",
            input_schema: input::<NoArgs>(),
            output_schema: Some(output::<EnvironmentInfoResult>()),
            examples: &[r#"{}"#],
            effects: Effects::READ,
        },
        ToolSpec {
            group: Group::Metadata,
            name: names::SEARCH_ENTITIES,
            title: "Search data entities",
            description: "Finds data entities by name or label, best match first: the way to the\
                `entity_set` the data tools take.",
            input_schema: input::<SearchEntitiesArgs>(),
            output_schema: Some(output::<SearchEntitiesResult>()),
            examples: &[
                r#"{"query": "customer"}"#,
                r#"{"query": "sales order", "category": "Transaction", "data_service_enabled": true, "top": 5}"#,
            ],
            effects: Effects::READ,
        },
        ToolSpec {
            group: Group::Metadata,
            name: names::GET_ENTITY_SCHEMA,
            title: "Get an entity's schema",
            description: "Returns an entity's fields (type, key, mandatory, label, enum members),\
                navigation properties and actions. Read it before filtering or writing: `keys` is\
                what `key` takes.",
            input_schema: input::<SchemaArgs>(),
            output_schema: Some(output::<EntitySchemaResult>()),
            examples: &[
                r#"{"entity": "CustomersV3"}"#,
                r#"{"entity": "CustomerV3", "language": "de"}"#,
            ],
            effects: Effects::READ,
        },
        ToolSpec {
            group: Group::Metadata,
            name: names::SEARCH_ACTIONS,
            title: "Search OData actions",
            description: "Finds OData actions by name, with their binding, parameters and return type.",
            input_schema: input::<SearchActionsArgs>(),
            output_schema: Some(output::<SearchActionsResult>()),
            examples: &[
                r#"{"query": "version"}"#,
                r#"{"entity": "CustomersV3", "binding": "BoundToEntityInstance"}"#,
            ],
            effects: Effects::READ,
        },
        ToolSpec {
            group: Group::Metadata,
            name: names::SEARCH_ENUMERATIONS,
            title: "Search enumerations",
            description: "Finds enumerations (value lists of enum fields) by name or label.",
            input_schema: input::<SearchEnumsArgs>(),
            output_schema: Some(output::<SearchEnumsResult>()),
            examples: &[r#"{"query": "sales status", "skip": 20}"#],
            effects: Effects::READ,
        },
        ToolSpec {
            group: Group::Metadata,
            name: names::GET_ENUMERATION,
            title: "Get an enumeration",
            description: "Returns an enumeration's members: names, values, labels. Filters use the name:\
                Microsoft.Dynamics.DataEntities.SalesStatus'Invoiced'.",
            input_schema: input::<EnumArgs>(),
            output_schema: Some(output::<EnumResult>()),
            examples: &[r#"{"name": "SalesStatus"}"#],
            effects: Effects::READ,
        },
        ToolSpec {
            group: Group::Metadata,
            name: names::GET_LABEL,
            title: "Get a label",
            description: "Returns the text of one label id (e.g. @SYS13342).",
            input_schema: input::<LabelArgs>(),
            output_schema: Some(output::<LabelResult>()),
            examples: &[r#"{"label_id": "@SYS13342"}"#],
            effects: Effects::READ,
        },
        ToolSpec {
            group: Group::Metadata,
            name: names::GET_LABELS,
            title: "Get many labels",
            description: "Returns the texts of up to 100 label ids, in order, each with `found`.",
            input_schema: input::<LabelsArgs>(),
            output_schema: Some(output::<LabelsResult>()),
            examples: &[r#"{"label_ids": ["@SYS13342", "@SYS7399"], "language": "de"}"#],
            effects: Effects::READ,
        },
        ToolSpec {
            group: Group::Metadata,
            name: names::GET_INSTALLED_MODULES,
            title: "Get installed modules",
            description: "Lists installed modules and versions, and their `version_hash`.",
            input_schema: input::<NoArgs>(),
            output_schema: Some(output::<InstalledModulesResult>()),
            examples: &[r#"{}"#],
            effects: Effects::READ,
        },
    ]
}
