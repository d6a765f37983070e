//! The whole catalogue end to end in `d365mcp dev`: every tool is listed
//! with its schemas and annotations, every tool succeeds against the
//! simulator through a real MCP client, and a repeated schema or label
//! lookup is served from the cache without a request to D365FO.
//!
//! `dev` is pointed at a simulator process of its own, so the test can read
//! the simulator's request counter (`/_sim/requests`).

// Tests fail loudly on anything unexpected.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::{Value, json};
use support::{
    cluster::{Process, reset_sim, sim_requests, wait_for},
    mcp::{self, Era},
};

/// Every tool, with arguments that succeed against the simulator's data.
/// Reads first, then writes on records the writes create themselves.
fn calls() -> Vec<(&'static str, Value)> {
    let customer = json!({"dataAreaId": "usmf", "CustomerAccount": "US-001"});
    let new_key = json!({"dataAreaId": "usmf", "CustomerAccount": "US-E2E"});
    vec![
        ("d365fo_test_connection", json!({})),
        ("d365fo_get_environment_info", json!({})),
        ("d365fo_get_installed_modules", json!({})),
        ("d365fo_search_entities", json!({"query": "customer"})),
        ("d365fo_get_entity_schema", json!({"entity": "CustomersV3"})),
        ("d365fo_search_actions", json!({"query": "version"})),
        ("d365fo_search_enumerations", json!({"query": "status"})),
        ("d365fo_get_enumeration", json!({"name": "NoYes"})),
        ("d365fo_get_label", json!({"label_id": "@SYS3391"})),
        (
            "d365fo_get_labels",
            json!({"label_ids": ["@SYS3391", "@SYS11904"], "language": "de"}),
        ),
        (
            "d365fo_query_entities",
            json!({"entity_set": "SalesOrderHeadersV2", "top": 2, "expand": ["SalesOrderLines"]}),
        ),
        (
            "d365fo_get_entity_record",
            json!({"entity_set": "CustomersV3", "key": customer, "select": ["CustomerAccount"]}),
        ),
        (
            "d365fo_create_entity_record",
            json!({"entity_set": "CustomersV3",
                   "fields": {"CustomerAccount": "US-E2E", "CustomerGroupId": "10"}}),
        ),
        (
            "d365fo_update_entity_record",
            json!({"entity_set": "CustomersV3", "key": new_key, "fields": {"CreditLimit": 500}}),
        ),
        (
            "d365fo_execute_batch",
            json!({"operations": [
                {"op": "get", "entity_set": "CustomersV3", "key": new_key},
                {"op": "update", "entity_set": "CustomersV3", "key": new_key,
                 "fields": {"CreditLimit": 600}, "changeset": "a"}
            ]}),
        ),
        (
            "d365fo_delete_entity_record",
            json!({"entity_set": "CustomersV3", "key": new_key}),
        ),
        (
            "d365fo_call_action",
            json!({"action": "GetApplicationVersion", "entity_set": "DataManagementEntities"}),
        ),
        (
            "d365fo_list_json_services",
            json!({"service_group": "UserSessionService"}),
        ),
        (
            "d365fo_call_json_service",
            json!({"service_group": "UserSessionService", "service": "AifUserSessionService",
                   "operation": "GetUserSessionInfo"}),
        ),
        (
            "d365fo_run_report",
            json!({"controller": "SalesInvoiceController", "legal_entity": "USMF",
                   "data_table": "CustInvoiceJour", "data_field": "InvoiceId",
                   "document_id": "CIV-000708"}),
        ),
        ("d365fo_get_server_config", json!({})),
        ("d365fo_get_performance_stats", json!({})),
        ("d365fo_reset_performance_stats", json!({})),
    ]
}

#[tokio::test]
async fn every_tool_works_end_to_end_in_dev() {
    let sim = Process::start("sim", &["sim", "--listen", "127.0.0.1:0"], &[]).await;
    let dev = Process::start(
        "dev",
        &[
            "dev",
            "--listen",
            "127.0.0.1:0",
            "--d365fo-base-url",
            &sim.url(),
            // Every tool with its output schema, not the default surface.
            "--toolsets=all",
            "--tool-output-schemas=on",
        ],
        &[],
    )
    .await;
    wait_for(&format!("{}/ready", dev.url()), 200).await;
    warmed_up(&sim.url()).await;
    let client = mcp::connect(&format!("{}/mcp", dev.url()), Era::Stateless2026).await;

    // The listing: every tool, with its schemas and annotations.
    let listed = client.list_all_tools().await.expect("tools/list");
    let calls = calls();
    let mut names: Vec<&str> = listed.iter().map(|t| t.name.as_ref()).collect();
    names.sort_unstable();
    let mut expected: Vec<&str> = calls.iter().map(|(name, _)| *name).collect();
    expected.sort_unstable();
    assert_eq!(
        names, expected,
        "the listed tools and the tools called differ"
    );
    for tool in &listed {
        let schema = serde_json::to_value(&tool.input_schema).unwrap();
        assert_eq!(
            schema["properties"]["environment"]["type"], "string",
            "{}",
            tool.name
        );
        assert!(
            tool.annotations.is_some(),
            "{} has no annotations",
            tool.name
        );
        assert!(
            tool.output_schema.is_some(),
            "{} has no output schema",
            tool.name
        );
        assert!(tool.description.as_ref().is_some_and(|d| d.len() > 15));
    }
    let delete = listed
        .iter()
        .find(|t| t.name == "d365fo_delete_entity_record")
        .unwrap();
    let hints = delete.annotations.as_ref().unwrap();
    assert_eq!(
        (hints.read_only_hint, hints.destructive_hint),
        (Some(false), Some(true))
    );

    // Every tool succeeds.
    for (tool, arguments) in &calls {
        let result = mcp::call_ok(&client, tool, arguments.clone()).await;
        if *tool == "d365fo_run_report" {
            let content = serde_json::to_value(&result.content).unwrap();
            let pdf = content
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["type"] == "resource")
                .expect("an embedded resource");
            assert_eq!(pdf["resource"]["mimeType"], "application/pdf");
        }
    }

    // A repeated schema or label lookup never reaches D365FO.
    reset_sim(&sim.url()).await;
    for (tool, arguments) in [
        ("d365fo_get_entity_schema", json!({"entity": "CustomersV3"})),
        ("d365fo_get_label", json!({"label_id": "@SYS3391"})),
        (
            "d365fo_get_labels",
            json!({"label_ids": ["@SYS3391", "@SYS11904"], "language": "de"}),
        ),
    ] {
        mcp::call_ok(&client, tool, arguments).await;
    }
    let requests = sim_requests(&sim.url()).await;
    assert_eq!(requests["total"], 0, "D365FO was asked: {requests}");
}

/// Waits until the worker's start-up warm-up has read the entity list.
async fn warmed_up(sim: &str) {
    for _ in 0..100 {
        let requests = sim_requests(sim).await;
        if requests["by_path"]["/Metadata/DataEntities"].as_u64() >= Some(1) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the worker did not warm its cache at start");
}
