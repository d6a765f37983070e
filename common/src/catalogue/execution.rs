//! Execution tools: OData actions, JSON services and reports.
//!
//! Actions and JSON services may change data, and D365FO offers no way to
//! tell from outside which ones do, so both tools are declared destructive
//! and not idempotent: the edge never sends them to a second worker, and the
//! worker records each call's request id before sending it, so a replay is
//! refused instead of applied twice. Discovering JSON services is a GET and
//! gets its own read-only tool rather than a `method` switch, because
//! annotations describe a tool, not one way of calling it. Running a report
//! renders a document from data that already exists and changes nothing, so
//! it is read-only and may be retried like a read.

mod results;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};

pub use self::results::{
    ActionBinding, ActionResult, ReportDocument, ReportResult, ServiceListResult, ServiceParameter,
    ServiceResult,
};
use super::args::{de, execution as fields};
use super::{Effects, Group, ToolSpec, input, output};

/// Tool names of this group.
pub mod names {
    /// An OData action, unbound or bound to an entity set or one record.
    pub const CALL_ACTION: &str = "d365fo_call_action";
    /// A JSON service operation, `POST /api/services/{group}/{service}/{operation}`.
    pub const CALL_JSON_SERVICE: &str = "d365fo_call_json_service";
    /// JSON service discovery: groups, services, operations, parameters.
    pub const LIST_JSON_SERVICES: &str = "d365fo_list_json_services";
    /// An SSRS report rendered as a PDF and returned as an embedded resource.
    pub const RUN_REPORT: &str = "d365fo_run_report";
}

/// Tools that may change D365FO data and must run at most once.
const RUNS_ONCE: Effects = Effects {
    read_only: false,
    destructive: true,
    idempotent: false,
    open_world: true,
};

/// This group's tools, in listing order.
pub fn specs() -> Vec<ToolSpec> {
    vec![
        call_action(),
        call_json_service(),
        list_json_services(),
        run_report(),
    ]
}

/// The description of `parameters`, with an example of the tool's.
macro_rules! parameters {
    ($example:literal) => {
        concat!(
            "Parameters as a JSON object of name to value, sent as the request body, e.g. ",
            $example,
            ". Omit when there are none."
        )
    };
}

/// Arguments of `d365fo_call_action`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionArgs {
    /// Action name, e.g. GetApplicationVersion; the
    /// Microsoft.Dynamics.DataEntities. prefix may be left out.
    #[serde(deserialize_with = "fields::action")]
    #[schemars(length(min = 1))]
    pub action: String,
    /// Entity set the action is bound to, e.g. DataManagementEntities. Omit
    /// for an unbound action.
    #[serde(default, deserialize_with = "fields::entity_set")]
    #[schemars(length(min = 1))]
    pub entity_set: Option<String>,
    /// For an action bound to one record: that record's key, as for
    /// d365fo_get_entity_record, e.g. {"dataAreaId": "usmf", "CustomerAccount":
    /// "US-001"}. Needs `entity_set`.
    #[serde(default, deserialize_with = "fields::key")]
    #[schemars(with = "Option<super::args::data::Key>")]
    pub key: Option<super::args::data::Key>,
    /// Parameters sent as the request body.
    #[serde(default, deserialize_with = "fields::parameters")]
    #[schemars(description = parameters!("{\"CompanyId\": \"DEMF\"}"))]
    pub parameters: Map<String, Value>,
    /// With `key`: the record belongs to a company other than the default one.
    #[serde(default, deserialize_with = "de::cross_company")]
    pub cross_company: bool,
}

/// Arguments of `d365fo_call_json_service`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CallArgs {
    /// Service group, e.g. UserSessionService.
    #[serde(deserialize_with = "fields::service_group")]
    #[schemars(length(min = 1))]
    pub service_group: String,
    /// Service within the group, e.g. AifUserSessionService.
    #[serde(deserialize_with = "fields::service")]
    #[schemars(length(min = 1))]
    pub service: String,
    /// Operation of the service, e.g. GetUserSessionInfo.
    #[serde(deserialize_with = "fields::operation")]
    #[schemars(length(min = 1))]
    pub operation: String,
    /// Parameters sent as the request body.
    #[serde(default, deserialize_with = "fields::parameters")]
    #[schemars(description = parameters!(
        "{\"start\": \"2024-05-01T00:00:00Z\", \"end\": \"2024-05-01T01:00:00Z\"}"
    ))]
    pub parameters: Map<String, Value>,
}

/// Arguments of `d365fo_list_json_services`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListArgs {
    /// Service group whose services to list, e.g. UserSessionService.
    #[serde(default, deserialize_with = "fields::opt_service_group")]
    #[schemars(length(min = 1))]
    pub service_group: Option<String>,
    /// Service whose operations to list, e.g. AifUserSessionService. Needs
    /// `service_group`.
    #[serde(default, deserialize_with = "fields::opt_service")]
    #[schemars(length(min = 1))]
    pub service: Option<String>,
    /// Operation whose parameters to show, e.g. GetUserSessionInfo. Needs
    /// `service_group` and `service`.
    #[serde(default, deserialize_with = "fields::opt_operation")]
    #[schemars(length(min = 1))]
    pub operation: Option<String>,
}

/// Arguments of `d365fo_run_report`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportArgs {
    /// Report controller class, e.g. SalesInvoiceController.
    #[serde(deserialize_with = "fields::controller")]
    #[schemars(length(min = 1))]
    pub controller: String,
    /// Company (dataAreaId) the document belongs to, e.g. USMF.
    #[serde(deserialize_with = "fields::legal_entity")]
    #[schemars(length(min = 1))]
    pub legal_entity: String,
    /// Table holding the document, e.g. CustInvoiceJour.
    #[serde(deserialize_with = "fields::data_table")]
    #[schemars(length(min = 1))]
    pub data_table: String,
    /// Field of that table identifying the document, e.g. InvoiceId.
    #[serde(deserialize_with = "fields::data_field")]
    #[schemars(length(min = 1))]
    pub data_field: String,
    /// The document's value in that field, e.g. CIV-000708.
    #[serde(deserialize_with = "fields::document_id")]
    #[schemars(length(min = 1))]
    pub document_id: String,
    /// Data contract class (default SrsCopilotArgsContract).
    #[serde(default, deserialize_with = "fields::contract")]
    #[schemars(length(min = 1))]
    pub contract: Option<String>,
    /// Extra report parameters, name to value (default none).
    #[serde(default, deserialize_with = "fields::report_parameters")]
    pub report_parameters: Map<String, Value>,
}

fn call_action() -> ToolSpec {
    ToolSpec {
        group: Group::Execution,
        name: names::CALL_ACTION,
        title: "Call an OData action",
        description: "Calls an OData action of D365FO and returns what it returns. Actions run \
            business logic and MAY CHANGE DATA; each call runs at most once (it is resent only \
            when D365FO throttled it before running it), so check the result before calling \
            again. Find actions, their binding and \
            parameters with d365fo_search_actions. Three forms: unbound, just `action`, e.g. \
            `{\"action\": \"GetCompanyName\", \"parameters\": {\"CompanyId\": \"DEMF\"}}`; bound \
            to an entity set, add `entity_set`, e.g. `{\"action\": \"GetApplicationVersion\", \
            \"entity_set\": \"DataManagementEntities\"}`; bound to one record, add its `key` too, \
            e.g. `{\"action\": \"PrintAccountStatement\", \"entity_set\": \"CustomersV3\", \
            \"key\": {\"dataAreaId\": \"usmf\", \"CustomerAccount\": \"US-001\"}, \"parameters\": \
            {\"FromDate\": \"2024-01-01T00:00:00Z\", \"ToDate\": \"2024-12-31T23:59:59Z\"}}`. \
            Dates are ISO 8601 with a zone. The result is the action's return value (`result`), \
            or null for an action that returns nothing.",
        input_schema: input::<ActionArgs>(),
        output_schema: Some(output::<ActionResult>()),
        examples: &[
            r#"{"action": "GetCompanyName", "parameters": {"CompanyId": "DEMF"}}"#,
            r#"{"action": "GetApplicationVersion", "entity_set": "DataManagementEntities"}"#,
            r#"{"action": "PrintAccountStatement", "entity_set": "CustomersV3", "key": {"dataAreaId": "usmf", "CustomerAccount": "US-001"}, "parameters": {"FromDate": "2024-01-01T00:00:00Z", "ToDate": "2024-12-31T23:59:59Z"}}"#,
        ],
        effects: RUNS_ONCE,
    }
}

fn call_json_service() -> ToolSpec {
    ToolSpec {
        group: Group::Execution,
        name: names::CALL_JSON_SERVICE,
        title: "Call a JSON service",
        description: "Calls an operation of a D365FO custom (JSON) service, \
            POST /api/services/{service_group}/{service}/{operation}, and returns its result. \
            Service operations run X++ code and MAY CHANGE DATA; each call runs at most once \
            (it is resent only when D365FO throttled it before running it). Find groups, services, operations and their parameter names with \
            d365fo_list_json_services first. Example: `{\"service_group\": \
            \"UserSessionService\", \"service\": \"AifUserSessionService\", \"operation\": \
            \"GetUserSessionInfo\"}`; with parameters: `{\"service_group\": \
            \"SysSqlDiagnosticService\", \"service\": \"SysSqlDiagnosticServiceOperations\", \
            \"operation\": \"GetAxSqlResourceStats\", \"parameters\": {\"start\": \
            \"2024-05-01T00:00:00Z\", \"end\": \"2024-05-01T01:00:00Z\"}}`. Every parameter the \
            operation declares must be present.",
        input_schema: input::<CallArgs>(),
        output_schema: Some(output::<ServiceResult>()),
        examples: &[
            r#"{"service_group": "UserSessionService", "service": "AifUserSessionService", "operation": "GetUserSessionInfo"}"#,
            r#"{"service_group": "SysSqlDiagnosticService", "service": "SysSqlDiagnosticServiceOperations", "operation": "GetAxSqlResourceStats", "parameters": {"start": "2024-05-01T00:00:00Z", "end": "2024-05-01T01:00:00Z"}}"#,
        ],
        effects: RUNS_ONCE,
    }
}

fn list_json_services() -> ToolSpec {
    ToolSpec {
        group: Group::Execution,
        name: names::LIST_JSON_SERVICES,
        title: "List JSON services",
        description: "Discovers D365FO's custom (JSON) services, one level at a time, without \
            running anything. No arguments: the service groups. With `service_group`: its \
            services. With `service_group` and `service`: its operations. With all three and \
            `operation`: that operation's parameters (name and type) and return type. Example: \
            `{\"service_group\": \"UserSessionService\", \"service\": \
            \"AifUserSessionService\"}` lists GetUserSessionInfo and the others. Use it before \
            d365fo_call_json_service to get names and parameters right.",
        input_schema: input::<ListArgs>(),
        output_schema: Some(output::<ServiceListResult>()),
        examples: &[
            r#"{}"#,
            r#"{"service_group": "UserSessionService", "service": "AifUserSessionService"}"#,
        ],
        effects: Effects::READ,
    }
}

fn run_report() -> ToolSpec {
    ToolSpec {
        group: Group::Execution,
        name: names::RUN_REPORT,
        title: "Run a report as PDF",
        description: "Renders a D365FO business document (an SSRS report such as a customer \
            invoice, sales confirmation or purchase order) for one record and returns the PDF \
            as an embedded resource (application/pdf), with its size and page count. It reads \
            data and changes nothing. Name the report by its controller class and the record by \
            table, field and value, e.g. a customer invoice: `{\"controller\": \
            \"SalesInvoiceController\", \"legal_entity\": \"USMF\", \"data_table\": \
            \"CustInvoiceJour\", \"data_field\": \"InvoiceId\", \"document_id\": \
            \"CIV-000708\"}`. Other common controllers: FreeTextInvoiceController \
            (CustInvoiceJour, InvoiceId), SalesConfirmController (CustConfirmJour, ConfirmId), \
            PurchPurchaseOrderController (VendPurchOrderJour, PurchId). Reports larger than \
            10 MiB are refused; render one document at a time.",
        input_schema: input::<ReportArgs>(),
        output_schema: Some(output::<ReportResult>()),
        examples: &[
            r#"{"controller": "SalesInvoiceController", "legal_entity": "USMF", "data_table": "CustInvoiceJour", "data_field": "InvoiceId", "document_id": "CIV-000708"}"#,
        ],
        effects: Effects::READ,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_are_destructive_and_run_once_while_reads_are_read_only() {
        let specs = specs();
        let effects = |name: &str| {
            specs
                .iter()
                .find(|s| s.name == name)
                .map(|s| s.effects)
                .unwrap()
        };
        for name in [names::CALL_ACTION, names::CALL_JSON_SERVICE] {
            let e = effects(name);
            assert!(!e.read_only && e.destructive && !e.idempotent, "{name}");
        }
        for name in [names::LIST_JSON_SERVICES, names::RUN_REPORT] {
            assert_eq!(effects(name), Effects::READ, "{name}");
        }
        assert!(specs.iter().all(|s| s.group == Group::Execution));
        assert!(specs.iter().all(|s| s.output_schema.is_some()));
    }
}
