//! `d365fo_call_action` against the simulator: the three bindings, results
//! too large to return, and the error each kind of bad input gets.

use base64::Engine as _;
use serde_json::{Value, json};

use super::{ACTION, Sim, assert_fails, run, with_id};
use crate::call;

#[tokio::test]
async fn unbound_set_bound_and_record_bound_actions() {
    let sim = Sim::start().await;
    let worker = sim.worker();

    let unbound = run(
        &worker,
        ACTION,
        json!({"action": "GetCompanyName", "parameters": {"CompanyId": "DEMF"}}),
    )
    .await;
    let out = unbound.ok();
    assert_eq!(out["binding"], "unbound");
    assert_eq!(out["action"], "GetCompanyName");
    assert!(out.get("entity_set").is_none());
    assert!(out["result"].as_str().unwrap().contains("Germany"), "{out}");
    assert_eq!(out["result_omitted"], false);

    // The namespace may be copied along with the name.
    let set = run(
        &worker,
        ACTION,
        json!({"action": "Microsoft.Dynamics.DataEntities.GetApplicationVersion",
               "entity_set": "DataManagementEntities"}),
    )
    .await;
    let out = set.ok();
    assert_eq!(out["binding"], "entity_set");
    assert_eq!(out["entity_set"], "DataManagementEntities");
    assert_eq!(out["action"], "GetApplicationVersion");
    assert_eq!(out["result"], "10.0.41");
    assert_eq!(out["result_bytes"], "\"10.0.41\"".len());

    let modules = run(
        &worker,
        ACTION,
        json!({"action": "GetInstalledModules", "entity_set": "SystemNotifications"}),
    )
    .await;
    let list = modules.ok()["result"].as_array().unwrap();
    assert!(list[0].as_str().unwrap().starts_with("Name: "));

    let record = run(
        &worker,
        ACTION,
        json!({"action": "PrintAccountStatement", "entity_set": "CustomersV3",
               "key": {"dataAreaId": "usmf", "CustomerAccount": "US-001"},
               "parameters": {"FromDate": "2024-01-01T00:00:00Z", "ToDate": "2024-12-31T23:59:59Z"}}),
    )
    .await;
    let out = record.ok();
    assert_eq!(out["binding"], "record");
    let pdf = base64::engine::general_purpose::STANDARD
        .decode(out["result"].as_str().unwrap())
        .unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    assert!(String::from_utf8_lossy(&pdf).contains("US-001"));

    // Content carries the same JSON as text for clients without structured content.
    let (content, structured) = record.result.as_ref().unwrap();
    let text: Value = serde_json::from_str(content[0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(&text, structured);
}

#[tokio::test]
async fn a_result_too_large_is_left_out_of_a_successful_call() {
    let sim = Sim::start().await;
    let worker = std::sync::Arc::new(
        worker::Worker::standalone(crate::config(&sim.base))
            .unwrap()
            .with_max_result_bytes(200),
    );
    let called = run(
        &worker,
        ACTION,
        json!({"action": "GetInstalledModules", "entity_set": "SystemNotifications"}),
    )
    .await;
    let out = called.ok();
    assert_eq!(out["result_omitted"], true);
    assert_eq!(out["result"], Value::Null);
    assert!(out["result_bytes"].as_u64().unwrap() > 200);
    let note = out["note"].as_str().unwrap();
    assert!(note.contains("ran and succeeded"), "{note}");
    assert!(note.contains("do not call it again"), "{note}");
}

#[tokio::test]
async fn wrong_types_and_inconsistent_bindings_are_invalid_arguments() {
    let sim = Sim::start().await;
    let worker = sim.worker();
    let cases = [
        (json!({}), "missing field `action`"),
        (json!({"action": 5}), "`action` must be an action name"),
        (
            json!({"action": "Get/../Version"}),
            "`action` must be a plain name",
        ),
        (
            json!({"action": "A", "entity_set": ["X"]}),
            "`entity_set` must be a name",
        ),
        (
            json!({"action": "A", "entity_set": "S", "key": "US-001"}),
            "`key` must be an object",
        ),
        (
            json!({"action": "A", "entity_set": "S", "key": {"Id": [1]}}),
            "`key.Id` must be a string, number or boolean",
        ),
        (
            json!({"action": "A", "parameters": "CompanyId=DEMF"}),
            "`parameters` must be an object",
        ),
        (
            json!({"action": "A", "key": {"Id": 1}}),
            "`key` needs `entity_set`",
        ),
        (
            json!({"action": "A", "cross_company": true}),
            "`cross_company` applies only",
        ),
        (
            json!({"action": "A", "cross_company": "yes"}),
            "`cross_company` must be true or false",
        ),
        (
            json!({"action": "A", "params": {}}),
            "unknown field `params`",
        ),
    ];
    for (args, message) in cases {
        let called = run(&worker, ACTION, args).await;
        assert_fails(
            &called,
            "invalid_arguments",
            &["d365fo_call_action", message],
        );
    }
}

#[tokio::test]
async fn bad_input_claims_nothing() {
    // A refused call sends nothing and records nothing: the same request id
    // still runs once the arguments are right.
    let sim = Sim::start().await;
    let worker = sim.worker();
    let bad = call(
        &worker,
        with_id(ACTION, json!({"action": 5}), "fix-and-retry"),
    )
    .await;
    assert_fails(&bad, "invalid_arguments", &[]);
    let good = call(
        &worker,
        with_id(
            ACTION,
            json!({"action": "GetApplicationVersion", "entity_set": "DataManagementEntities"}),
            "fix-and-retry",
        ),
    )
    .await;
    assert_eq!(good.ok()["result"], "10.0.41");
}

#[tokio::test]
async fn unknown_actions_sets_and_records_are_not_found_with_a_hint() {
    let sim = Sim::start().await;
    let worker = sim.worker();
    for args in [
        json!({"action": "NoSuchAction"}),
        json!({"action": "NoSuchAction", "entity_set": "DataManagementEntities"}),
        json!({"action": "GetApplicationVersion", "entity_set": "NoSuchSet"}),
        // Instance-bound action called as set-bound: D365FO names no such operation.
        json!({"action": "PrintAccountStatement", "entity_set": "CustomersV3"}),
    ] {
        let called = run(&worker, ACTION, args).await;
        assert_fails(&called, "not_found", &["d365fo_search_actions"]);
    }
    let missing = run(
        &worker,
        ACTION,
        json!({"action": "PrintAccountStatement", "entity_set": "CustomersV3",
               "key": {"dataAreaId": "usmf", "CustomerAccount": "NOPE"},
               "parameters": {"FromDate": "2024-01-01T00:00:00Z", "ToDate": "2024-12-31T00:00:00Z"}}),
    )
    .await;
    assert_fails(
        &missing,
        "not_found",
        &["No resources were found", "d365fo_get_entity_record"],
    );
}

#[tokio::test]
async fn bad_parameters_get_d365fos_own_message() {
    let sim = Sim::start().await;
    let worker = sim.worker();
    let statement = |parameters: Value| {
        json!({"action": "PrintAccountStatement", "entity_set": "CustomersV3",
               "key": {"dataAreaId": "usmf", "CustomerAccount": "US-001"}, "parameters": parameters})
    };
    let cases = [
        (
            statement(json!({"FromDate": "2024-01-01T00:00:00Z"})),
            "The missing parameters are: ToDate.",
        ),
        (
            statement(json!({"FromDate": "soon", "ToDate": "2024-12-31T00:00:00Z"})),
            "'soon'",
        ),
        (
            json!({"action": "GetCompanyName", "parameters": {"CompanyId": "DEMF", "Extra": 1}}),
            "The parameter 'Extra' in the request payload is not a valid parameter",
        ),
        (
            json!({"action": "GetCompanyName", "parameters": {"CompanyId": 42}}),
            "'Edm.String'",
        ),
        (
            json!({"action": "GetCompanyName", "parameters": {"CompanyId": "ZZZZ"}}),
            "Company 'ZZZZ' does not exist.",
        ),
    ];
    for (args, message) in cases {
        let called = run(&worker, ACTION, args).await;
        let text = assert_fails(&called, "upstream_rejected", &["HTTP 400", message]);
        assert!(!called.failure().retryable, "{text}");
        assert!(
            !text.contains("may have run"),
            "a 400 proves it did not run: {text}"
        );
    }
}
