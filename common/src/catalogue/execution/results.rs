//! What the execution tools return, as `structuredContent`; their output
//! schemas are derived from these types.

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Serialize;
use serde_json::Value;

use crate::catalogue::any_json_schema;

/// The result of `d365fo_call_action`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ActionResult {
    // The action's name, as called.
    pub action: String,
    // How it was addressed.
    #[schemars(schema_with = "binding_schema")]
    pub binding: ActionBinding,
    // The entity set it was bound to, when it was bound.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entity_set: Option<String>,
    /// The action's return value; null when it returns nothing or is omitted.
    #[schemars(schema_with = "any_json_schema")]
    pub result: Value,
    // Bytes of the return value's JSON.
    pub result_bytes: usize,
    // Whether the return value was left out for its size; `note` says so.
    pub result_omitted: bool,
    // Why the return value was left out, when it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// How an action is addressed, as [`ActionResult::binding`] says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionBinding {
    /// Neither an entity set nor a key.
    Unbound,
    /// Bound to an entity set.
    EntitySet,
    /// Bound to one record of an entity set.
    Record,
}

impl ActionBinding {
    /// Every binding, as it serializes.
    pub const NAMES: [&str; 3] = ["unbound", "entity_set", "record"];
}

/// The schema of [`ActionBinding`]: a string, one of its
/// [`NAMES`](ActionBinding::NAMES) (a derived one would be a `oneOf` of
/// `const`s, which not every client reads).
fn binding_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "string", "enum": ActionBinding::NAMES })
}

/// The result of `d365fo_call_json_service`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ServiceResult {
    // The service group called.
    pub service_group: String,
    // The service called.
    pub service: String,
    // The operation called.
    pub operation: String,
    /// The operation's return value; null when it returns nothing or is omitted.
    #[schemars(schema_with = "any_json_schema")]
    pub result: Value,
    // Bytes of the return value's JSON.
    pub result_bytes: usize,
    // Whether the return value was left out for its size; `note` says so.
    pub result_omitted: bool,
    // Why the return value was left out, when it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The result of `d365fo_list_json_services`: the names given, and the
/// level below the last of them.
#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct ServiceListResult {
    // The service group given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_group: Option<String>,
    // The service given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    // The operation given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    // The service groups, when no name was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_groups: Option<Vec<String>>,
    // The services of the service group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub services: Option<Vec<String>>,
    // The operations of the service.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operations: Option<Vec<String>>,
    // The operation's parameters, in order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Vec<ServiceParameter>>,
    // The operation's return type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub returns: Option<String>,
}

// One parameter of a JSON service operation.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ServiceParameter {
    // The name `parameters` uses.
    pub name: String,
    // Its type, as D365FO names it.
    #[serde(rename = "type")]
    pub type_name: String,
}

/// The result of `d365fo_run_report`, beside the PDF itself (an embedded
/// resource of the same call).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ReportResult {
    // The report's controller class.
    pub controller: String,
    // The legal entity it ran in.
    pub legal_entity: String,
    // The record it was rendered for.
    pub document: ReportDocument,
    // The embedded resource's URI.
    pub uri: String,
    // Always `application/pdf`.
    pub mime_type: String,
    // Bytes of the PDF.
    pub size_bytes: usize,
    // Pages of the PDF, when it says so in the clear.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pages: Option<usize>,
}

// The record a report was rendered for.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ReportDocument {
    // The table, e.g. CustInvoiceJour.
    pub data_table: String,
    // The field identifying the document, e.g. InvoiceId.
    pub data_field: String,
    // The document's value in that field, e.g. CIV-000708.
    pub document_id: String,
}
