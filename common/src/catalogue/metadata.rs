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
const LANGUAGE: &str = "Language of label texts, e.g. \"en-us\" (default) or \"de\".";

/// What `language` looks like; the reader checks the same rule.
const LANGUAGE_PATTERN: &str = "^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,2}$";

/// What a label id looks like; the reader checks the same rule.
const LABEL_ID_PATTERN: &str = "^@[A-Za-z0-9_:.-]+$";

/// The description of a search's `query`, with an example of the tool's.
macro_rules! query {
    ($example:literal) => {
        concat!(
            "Words to look for, e.g. \"",
            $example,
            "\". Omit to list everything (filtered)."
        )
    };
}

/// The description of a search's `top`.
const TOP: &str = "Most results to return (default 20).";

/// The description of a search's `skip`.
const SKIP: &str = "Results to skip: pass a previous result's `next_skip` to continue.";

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
    /// Only entities OData serves (true) or does not (false).
    #[serde(default, deserialize_with = "args::flag")]
    pub data_service_enabled: Option<bool>,
    /// Only read-only (true) or writable (false) entities.
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
    #[schemars(regex(pattern = LANGUAGE_PATTERN), description = LANGUAGE)]
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
    #[schemars(regex(pattern = LANGUAGE_PATTERN), description = LANGUAGE)]
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
    #[schemars(regex(pattern = LANGUAGE_PATTERN), description = LANGUAGE)]
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
    #[schemars(regex(pattern = LANGUAGE_PATTERN), description = LANGUAGE)]
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
    #[schemars(regex(pattern = LANGUAGE_PATTERN), description = LANGUAGE)]
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
    #[schemars(regex(pattern = LANGUAGE_PATTERN), description = LANGUAGE)]
    pub language: String,
}

/// The specs of this group, in listing order.
pub fn specs() -> Vec<ToolSpec> {
    vec![
        ToolSpec {
            group: Group::Metadata,
            name: names::TEST_CONNECTION,
            title: "Test D365FO connection",
            description: "Checks that the D365FO environment is reachable and that this server \
                can authenticate to it. Returns whether the connection works, the environment URL \
                and the round-trip time. Use it first when other tools fail with connection or \
                authentication errors.",
            input_schema: input::<NoArgs>(),
            output_schema: Some(output::<ConnectionResult>()),
            examples: &[r#"{}"#],
            effects: Effects::READ,
        },
        ToolSpec {
            group: Group::Metadata,
            name: names::GET_ENVIRONMENT_INFO,
            title: "Get D365FO environment info",
            description: "Returns the D365FO environment's URL, application version and platform \
                build version. Use it to tell which release an environment runs before relying \
                on version-specific entities or fields.",
            input_schema: input::<NoArgs>(),
            output_schema: Some(output::<EnvironmentInfoResult>()),
            examples: &[r#"{}"#],
            effects: Effects::READ,
        },
        ToolSpec {
            group: Group::Metadata,
            name: names::SEARCH_ENTITIES,
            title: "Search D365FO data entities",
            description: "Finds D365FO data entities by name or label, best match first (exact name, \
                then prefix, substring, all words, then similar spelling). Use it to find the entity \
                set to pass to d365fo_query_entities or d365fo_get_entity_schema, e.g. \
                {\"query\": \"customer\"} finds CustomersV3. Filters: `category` (Master, \
                Transaction, Reference, Document, Parameters), `data_service_enabled` (true for \
                entities OData serves), `read_only`. Returns `top` results (default 20); when \
                `more` is true pass `next_skip` as `skip` for the next page.",
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
            title: "Get a D365FO entity's schema",
            description: "Returns a data entity's fields with their types, key and mandatory flags \
                and labels, the members of enum-typed fields, navigation properties and bound \
                actions. `entity` is the entity set name (e.g. \"CustomersV3\"), the public entity \
                name (\"CustomerV3\") or the AOT name. Read it before writing a filter or creating \
                a record: `keys` are the fields d365fo_get_entity_record needs, `mandatory` ones \
                must be given on create. Labels come in `language` (default en-us); a label D365FO \
                fails to return is null, and `unresolved_labels` says how many and why. An \
                unknown entity is a not-found error with similar names suggested.",
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
            title: "Search D365FO OData actions",
            description: "Finds OData actions (operations beyond reading and writing rows) by name, \
                best match first, with their binding, parameters, return type and the `path` to \
                call under /data. `entity` limits the search to actions bound to one entity (e.g. \
                \"CustomersV3\"); `binding` to \"Unbound\", \"BoundToEntitySet\" or \
                \"BoundToEntityInstance\". Example: {\"query\": \"version\"} finds \
                GetApplicationVersion. Returns `top` results; when `more` is true pass \
                `next_skip` as `skip`.",
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
            title: "Search D365FO enumerations",
            description: "Finds enumerations (the value lists of enum-typed fields, e.g. NoYes, \
                SalesStatus) by name or label, best match first. Use d365fo_get_enumeration for \
                one enumeration's members. In a $filter an enum value is written \
                Microsoft.Dynamics.DataEntities.SalesStatus'Invoiced'. Returns `top` results; when \
                `more` is true pass `next_skip` as `skip`.",
            input_schema: input::<SearchEnumsArgs>(),
            output_schema: Some(output::<SearchEnumsResult>()),
            examples: &[r#"{"query": "sales status", "skip": 20}"#],
            effects: Effects::READ,
        },
        ToolSpec {
            group: Group::Metadata,
            name: names::GET_ENUMERATION,
            title: "Get a D365FO enumeration",
            description: "Returns an enumeration's members with their names, integer values and \
                labels in `language` (default en-us), e.g. {\"name\": \"SalesStatus\"}. Filters \
                use the member name: Microsoft.Dynamics.DataEntities.SalesStatus'Invoiced'. A \
                label D365FO fails to return is null, and `unresolved_labels` says how many and \
                why. An unknown name is a not-found error.",
            input_schema: input::<EnumArgs>(),
            output_schema: Some(output::<EnumResult>()),
            examples: &[r#"{"name": "SalesStatus"}"#],
            effects: Effects::READ,
        },
        ToolSpec {
            group: Group::Metadata,
            name: names::GET_LABEL,
            title: "Get a D365FO label",
            description: "Returns the text of one label id in `language` (default en-us), e.g. \
                {\"label_id\": \"@SYS13342\"} gives \"Company\". Label ids appear in schemas and \
                search results as `label_id`. For several ids use d365fo_get_labels. A label \
                without text in that language is a not-found error.",
            input_schema: input::<LabelArgs>(),
            output_schema: Some(output::<LabelResult>()),
            examples: &[r#"{"label_id": "@SYS13342"}"#],
            effects: Effects::READ,
        },
        ToolSpec {
            group: Group::Metadata,
            name: names::GET_LABELS,
            title: "Get many D365FO labels",
            description: "Returns the texts of up to 100 label ids in one call, in the order asked, \
                each with `found` true or false, e.g. {\"label_ids\": [\"@SYS13342\", \
                \"@SYS7399\"], \"language\": \"de\"}. Ids D365FO does not know come back with \
                `found: false` rather than failing the call; an id whose lookup failed (D365FO \
                unavailable, throttling) comes back with `found: false` and an `error`. The call \
                fails only when every lookup failed.",
            input_schema: input::<LabelsArgs>(),
            output_schema: Some(output::<LabelsResult>()),
            examples: &[r#"{"label_ids": ["@SYS13342", "@SYS7399"], "language": "de"}"#],
            effects: Effects::READ,
        },
        ToolSpec {
            group: Group::Metadata,
            name: names::GET_INSTALLED_MODULES,
            title: "Get D365FO installed modules",
            description: "Lists the modules (models) installed in the D365FO environment with \
                their versions and publishers, and the `version_hash` over them that keys this \
                server's metadata cache: two environments with the same hash run the same code. \
                Use it to check whether an ISV solution or a feature's module is present.",
            input_schema: input::<NoArgs>(),
            output_schema: Some(output::<InstalledModulesResult>()),
            examples: &[r#"{}"#],
            effects: Effects::READ,
        },
    ]
}
