//! Output schemas agree with the results the worker sends: for every tool
//! with an output schema, sample results built from its result type and
//! serialized as the worker serializes them (optional fields both given
//! and left out) are accepted by the schema, checked with the `agreement`
//! validator.

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::{agreement::errors, data, execution as exec, metadata, names, output, server, tools};

mod metadata_samples;

fn value(result: &impl Serialize) -> Value {
    serde_json::to_value(result).unwrap()
}

/// Sample results of each tool, as the worker would send them.
fn samples() -> Vec<(&'static str, Value)> {
    let environment = |auth| server::EnvironmentConfig {
        name: "contoso".into(),
        base_url: "https://contoso.operations.dynamics.com".into(),
        auth,
        default: true,
    };
    let none = server::AuthConfig {
        kind: "none".into(),
        tenant_id: None,
        client_id: None,
        client_secret: None,
        credential: None,
        on_behalf_of: None,
        authority_host: None,
    };
    let entra = server::AuthConfig {
        kind: "entra_client_credentials".into(),
        tenant_id: Some("t".into()),
        client_id: Some("c".into()),
        client_secret: Some("(set, redacted)".into()),
        credential: Some("client_secret".into()),
        on_behalf_of: Some("preferred".into()),
        authority_host: Some("https://login.microsoftonline.com".into()),
    };
    let mut samples = vec![
        (
            names::GET_PERFORMANCE_STATS,
            value(&server::StatsResult {
                scope: "cluster".into(),
                worker: "w1".into(),
                uptime_s: 12,
                nodes: 3,
                since_reset_unix_s: None,
                calls: json!({"total": {"calls": 0}}),
                upstream: json!({}),
                cache: json!({"schema": {"l1_hits": 0}}),
            }),
        ),
        (
            names::RESET_PERFORMANCE_STATS,
            value(&server::ResetResult {
                worker: "w1".into(),
                reset: true,
                nodes: 3,
            }),
        ),
        (
            names::GET_SERVER_CONFIG,
            value(&server::ConfigResult {
                worker: "w1".into(),
                version: "0.1.0".into(),
                default_environment: "contoso".into(),
                environments: vec![environment(entra), environment(none)],
                request_timeout_ms: 30_000,
                connect_timeout_ms: 5_000,
                max_rows: 1_000,
                max_result_bytes: 1 << 20,
                cache: json!({"ttl_secs": 3600}),
            }),
        ),
    ];
    samples.extend(data_samples());
    samples.extend(execution_samples());
    for ok in [true, false] {
        let result = metadata::ConnectionResult {
            ok,
            environment: "contoso".into(),
            base_url: "https://contoso.operations.dynamics.com".into(),
            latency_ms: 81.5,
            message: "connected".into(),
        };
        samples.push((names::TEST_CONNECTION, value(&result)));
    }
    let info = metadata::EnvironmentInfoResult {
        environment: "contoso".into(),
        base_url: "https://contoso.operations.dynamics.com".into(),
        application_version: "10.0.41".into(),
        platform_version: "7.0.7367.49".into(),
    };
    samples.push((names::GET_ENVIRONMENT_INFO, value(&info)));
    samples.extend(metadata_samples::samples());
    samples
}

fn data_samples() -> Vec<(&'static str, Value)> {
    let key: Map<String, Value> =
        serde_json::from_value(json!({"dataAreaId": "usmf", "CustomerAccount": "US-001"})).unwrap();
    let record = json!({"@odata.etag": "W/\"1\"", "CustomerAccount": "US-001"});
    let query = |more: bool| data::QueryResult {
        entity_set: "CustomersV3".into(),
        rows: vec![record.clone()],
        returned: 1,
        total_count: more.then_some(7),
        more,
        next_cursor: more.then(|| "c1".into()),
        note: more.then(|| "cut".into()),
    };
    let written = data::WriteResult {
        entity_set: "CustomersV3".into(),
        key: Some(key.clone()),
        etag: Some("W/\"2\"".into()),
        record: Some(record.clone()),
        record_omitted: Some(false),
        note: Some("n".into()),
    };
    let bare = data::WriteResult {
        entity_set: "CustomersV3".into(),
        ..data::WriteResult::default()
    };
    let op = |ok: bool| data::OpResult {
        index: 0,
        op: "get".into(),
        entity_set: "CustomersV3".into(),
        ok,
        ..data::OpResult::default()
    };
    let full_op = data::OpResult {
        changeset: Some("a".into()),
        status: Some(201),
        key: Some(key.clone()),
        etag: Some("W/\"2\"".into()),
        record: Some(record.clone()),
        rolled_back: Some(true),
        record_omitted: Some(true),
        error: Some(data::BatchError {
            code: "conflict".into(),
            message: "m".into(),
        }),
        note: Some("n".into()),
        ..op(false)
    };
    vec![
        (names::QUERY_ENTITIES, value(&query(true))),
        (names::QUERY_ENTITIES, value(&query(false))),
        (
            names::GET_ENTITY_RECORD,
            value(&data::RecordResult {
                entity_set: "CustomersV3".into(),
                record: record.clone(),
            }),
        ),
        (names::CREATE_ENTITY_RECORD, value(&written)),
        (names::CREATE_ENTITY_RECORD, value(&bare)),
        (names::UPDATE_ENTITY_RECORD, value(&written)),
        (
            names::DELETE_ENTITY_RECORD,
            value(&data::DeleteResult {
                entity_set: "CustomersV3".into(),
                key,
                deleted: true,
            }),
        ),
        (
            names::EXECUTE_BATCH,
            value(&data::BatchResult {
                operations: 2,
                succeeded: 1,
                failed: 1,
                results: vec![op(true), full_op],
                note: Some("n".into()),
            }),
        ),
    ]
}

fn execution_samples() -> Vec<(&'static str, Value)> {
    let action = |binding, result: Value, omitted: bool| exec::ActionResult {
        action: "GetCompanyName".into(),
        binding,
        entity_set: (binding != exec::ActionBinding::Unbound).then(|| "CustomersV3".into()),
        result_bytes: result.to_string().len(),
        result,
        result_omitted: omitted,
        note: omitted.then(|| "left out".into()),
    };
    let service = |result: Value| exec::ServiceResult {
        service_group: "UserSessionService".into(),
        service: "AifUserSessionService".into(),
        operation: "GetUserSessionInfo".into(),
        result_bytes: result.to_string().len(),
        result_omitted: false,
        result,
        note: None,
    };
    let operation = exec::ServiceListResult {
        service_group: Some("g".into()),
        service: Some("s".into()),
        operation: Some("o".into()),
        parameters: Some(vec![exec::ServiceParameter {
            name: "start".into(),
            type_name: "DateTime".into(),
        }]),
        returns: Some("void".into()),
        ..exec::ServiceListResult::default()
    };
    let groups = exec::ServiceListResult {
        service_groups: Some(vec!["g".into()]),
        ..exec::ServiceListResult::default()
    };
    let services = exec::ServiceListResult {
        service_group: Some("g".into()),
        services: Some(vec!["s".into()]),
        ..exec::ServiceListResult::default()
    };
    let operations = exec::ServiceListResult {
        service_group: Some("g".into()),
        service: Some("s".into()),
        operations: Some(vec!["o".into()]),
        ..exec::ServiceListResult::default()
    };
    let report = |pages| exec::ReportResult {
        controller: "SalesInvoiceController".into(),
        legal_entity: "USMF".into(),
        document: exec::ReportDocument {
            data_table: "CustInvoiceJour".into(),
            data_field: "InvoiceId".into(),
            document_id: "CIV-000708".into(),
        },
        uri: "d365fo://contoso/reports/SalesInvoiceController/USMF/CIV-000708.pdf".into(),
        mime_type: "application/pdf".into(),
        size_bytes: 1234,
        pages,
    };
    let mut samples = Vec::new();
    for (binding, result, omitted) in [
        (exec::ActionBinding::Unbound, json!("DEMF"), false),
        (exec::ActionBinding::EntitySet, json!({"A": [1, 2]}), false),
        (exec::ActionBinding::Record, Value::Null, true),
        (exec::ActionBinding::Record, Value::Null, false),
    ] {
        samples.push((names::CALL_ACTION, value(&action(binding, result, omitted))));
    }
    for result in [
        json!({"SessionId": "x"}),
        json!(3.5),
        json!([true]),
        Value::Null,
    ] {
        samples.push((names::CALL_JSON_SERVICE, value(&service(result))));
    }
    for list in [groups, services, operations, operation] {
        samples.push((names::LIST_JSON_SERVICES, value(&list)));
    }
    samples.push((names::RUN_REPORT, value(&report(Some(2)))));
    samples.push((names::RUN_REPORT, value(&report(None))));
    samples
}

#[test]
fn every_output_schema_accepts_its_sample_results() {
    let samples = samples();
    let mut problems = Vec::new();
    for tool in tools() {
        let Some(schema) = &tool.output_schema else {
            continue;
        };
        let mine: Vec<&Value> = samples
            .iter()
            .filter(|(name, _)| *name == tool.name)
            .map(|(_, v)| v)
            .collect();
        assert!(!mine.is_empty(), "{} has no sample result", tool.name);
        for sample in mine {
            for wrong in errors(schema, sample) {
                problems.push(format!("{}: {wrong}", tool.name));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// A result omits an absent `Option` (not required, of T's type) and sends
/// a `null` one (required, `anyOf` T or null); everything else is required.
#[test]
fn optional_results_are_omitted_and_nulls_are_said() {
    #[derive(Serialize, schemars::JsonSchema)]
    struct Sample {
        /// Always there.
        name: String,
        /// Sent as null when unknown.
        label: Option<String>,
        /// Left out when unknown.
        #[serde(skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    }
    let schema = output::<Sample>();
    assert_eq!(schema["type"], "object");
    assert_eq!(schema["required"], json!(["name", "label"]));
    assert_eq!(
        schema["properties"]["note"],
        json!({"type": "string", "description": "Left out when unknown."})
    );
    assert_eq!(
        schema["properties"]["label"],
        json!({
            "description": "Sent as null when unknown.",
            "anyOf": [{"type": "string"}, {"type": "null"}]
        })
    );
    for sample in [
        Sample {
            name: "a".into(),
            label: None,
            note: None,
        },
        Sample {
            name: "a".into(),
            label: Some("b".into()),
            note: Some("c".into()),
        },
    ] {
        assert_eq!(errors(&schema, &value(&sample)), Vec::<String>::new());
    }
    let missing = json!({"name": "a"});
    assert!(!errors(&schema, &missing).is_empty(), "label is required");
}

/// Doc comments become descriptions a model reads: no rustdoc links.
#[test]
fn output_descriptions_carry_no_rustdoc_links() {
    fn walk(tool: &str, schema: &Value, problems: &mut Vec<String>) {
        match schema {
            Value::Object(node) => {
                if let Some(Value::String(text)) = node.get("description")
                    && text.contains("[`")
                {
                    problems.push(format!("{tool}: {text}"));
                }
                for child in node.values() {
                    walk(tool, child, problems);
                }
            }
            Value::Array(items) => items.iter().for_each(|i| walk(tool, i, problems)),
            _ => {}
        }
    }
    let mut problems = Vec::new();
    for tool in tools() {
        if let Some(schema) = &tool.output_schema {
            walk(tool.name, schema, &mut problems);
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
