//! `d365fo_call_json_service` and `d365fo_list_json_services` against the
//! simulator.

use serde_json::json;

use super::{LIST, SERVICE, Sim, assert_fails, run};

#[tokio::test]
async fn operations_run_with_and_without_parameters() {
    let sim = Sim::start().await;
    let worker = sim.worker();
    let session = run(
        &worker,
        SERVICE,
        json!({"service_group": "UserSessionService", "service": "AifUserSessionService",
               "operation": "GetUserSessionInfo"}),
    )
    .await;
    let out = session.ok();
    assert_eq!(out["service_group"], "UserSessionService");
    assert_eq!(out["operation"], "GetUserSessionInfo");
    assert_eq!(out["result"]["Company"], "USMF");
    assert_eq!(out["result_omitted"], false);

    let stats = run(
        &worker,
        SERVICE,
        json!({"service_group": "SysSqlDiagnosticService",
               "service": "SysSqlDiagnosticServiceOperations",
               "operation": "GetAxSqlResourceStats",
               "parameters": {"start": "2024-05-01T00:00:00Z", "end": "2024-05-01T01:00:00Z"}}),
    )
    .await;
    let rows = stats.ok()["result"].as_array().unwrap();
    assert_eq!(rows[0]["Start"], "2024-05-01T00:00:00Z");

    let scalar = run(
        &worker,
        SERVICE,
        json!({"service_group": "UserSessionService", "service": "AifUserSessionService",
               "operation": "IsSinglePartitionSystem", "parameters": null}),
    )
    .await;
    assert_eq!(scalar.ok()["result"], true);
}

#[tokio::test]
async fn discovery_walks_groups_services_operations_and_parameters() {
    let sim = Sim::start().await;
    let worker = sim.worker();
    let groups = run(&worker, LIST, json!({})).await;
    let groups = groups.ok()["service_groups"].as_array().unwrap().clone();
    assert!(groups.contains(&json!("UserSessionService")), "{groups:?}");

    let services = run(
        &worker,
        LIST,
        json!({"service_group": "UserSessionService"}),
    )
    .await;
    assert_eq!(services.ok()["services"], json!(["AifUserSessionService"]));
    assert_eq!(services.ok()["service_group"], "UserSessionService");

    let operations = run(
        &worker,
        LIST,
        json!({"service_group": "UserSessionService", "service": "AifUserSessionService"}),
    )
    .await;
    let operations = operations.ok()["operations"].as_array().unwrap().clone();
    assert!(operations.contains(&json!("GetUserSessionInfo")));

    let signature = run(
        &worker,
        LIST,
        json!({"service_group": "SysSqlDiagnosticService",
               "service": "SysSqlDiagnosticServiceOperations",
               "operation": "GetAxSqlResourceStats"}),
    )
    .await;
    let out = signature.ok();
    assert_eq!(
        out["parameters"],
        json!([{"name": "start", "type": "DateTime"}, {"name": "end", "type": "DateTime"}])
    );
    assert_eq!(out["returns"], "SysSqlResourceStats[]");
}

#[tokio::test]
async fn unknown_names_are_not_found_with_a_hint() {
    let sim = Sim::start().await;
    let worker = sim.worker();
    for (group, service, operation) in [
        ("NoSuchGroup", "AifUserSessionService", "GetUserSessionInfo"),
        ("UserSessionService", "NoSuchService", "GetUserSessionInfo"),
        (
            "UserSessionService",
            "AifUserSessionService",
            "NoSuchOperation",
        ),
    ] {
        let called = run(
            &worker,
            SERVICE,
            json!({"service_group": group, "service": service, "operation": operation}),
        )
        .await;
        assert_fails(
            &called,
            "not_found",
            &["No HTTP resource was found", "d365fo_list_json_services"],
        );
    }
    let listed = run(&worker, LIST, json!({"service_group": "NoSuchGroup"})).await;
    assert_fails(&listed, "not_found", &["List the level above"]);
}

#[tokio::test]
async fn parameters_the_operation_cannot_read_are_invalid_arguments() {
    let sim = Sim::start().await;
    let worker = sim.worker();
    let stats = |parameters: serde_json::Value| {
        json!({"service_group": "SysSqlDiagnosticService",
               "service": "SysSqlDiagnosticServiceOperations",
               "operation": "GetAxSqlResourceStats", "parameters": parameters})
    };
    for (parameters, message) in [
        (
            json!({"start": "2024-05-01T00:00:00Z"}),
            "Parameter 'end' is not found",
        ),
        (
            json!({"start": "yesterday", "end": "2024-05-01T00:00:00Z"}),
            "'yesterday' was not recognized as a valid DateTime",
        ),
    ] {
        let called = run(&worker, SERVICE, stats(parameters)).await;
        let text = assert_fails(
            &called,
            "invalid_arguments",
            &[
                "could not read `parameters`",
                message,
                "d365fo_list_json_services",
            ],
        );
        assert!(!called.failure().retryable, "{text}");
    }
}

#[tokio::test]
async fn wrong_types_are_invalid_arguments() {
    let sim = Sim::start().await;
    let worker = sim.worker();
    let base = json!({"service_group": "G", "service": "S", "operation": "O"});
    let with = |field: &str, value: serde_json::Value| {
        let mut args = base.clone();
        args[field] = value;
        args
    };
    for (args, message) in [
        (
            json!({"service": "S", "operation": "O"}),
            "missing field `service_group`",
        ),
        (
            with("service_group", json!(5)),
            "`service_group` must be a name",
        ),
        (
            with("service", json!("a/b")),
            "`service` must be a plain name",
        ),
        (
            with("operation", json!(null)),
            "`operation` must be a string, got null",
        ),
        (
            with("parameters", json!([1, 2])),
            "`parameters` must be an object",
        ),
        (with("method", json!("GET")), "unknown field `method`"),
    ] {
        let called = run(&worker, SERVICE, args).await;
        assert_fails(
            &called,
            "invalid_arguments",
            &["d365fo_call_json_service", message],
        );
    }
    for (args, message) in [
        (json!({"service": "S"}), "need `service_group`"),
        (
            json!({"service_group": "G", "operation": "O"}),
            "`operation` needs `service`",
        ),
        (
            json!({"service_group": "G/.."}),
            "`service_group` must be a plain name",
        ),
    ] {
        let called = run(&worker, LIST, args).await;
        assert_fails(
            &called,
            "invalid_arguments",
            &["d365fo_list_json_services", message],
        );
    }
}
