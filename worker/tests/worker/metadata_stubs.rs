//! The metadata tools against the [`Stub`]: what D365FO or a gateway may
//! answer that the simulator never does (gateway 404s, unreadable module
//! lists, failing or slow labels).

use std::{
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use serde_json::{Value, json};
use worker::Worker;

use super::{
    call,
    metadata_tools::conforms,
    request,
    simulator::{Stub, label_path, modules_path, store, worker_on},
};

#[tokio::test]
async fn only_d365fos_own_404_is_remembered_as_missing() {
    let stub = Stub::start().await;
    stub.value(
        &modules_path("a"),
        json!(["Name: ApplicationSuite | Version: 10.0.1"]),
    );
    let worker = worker_on(&stub.env("a"), &store());
    // A gateway's HTML 404 says nothing about the label: an error, asked
    // again next time.
    let gateway = label_path("a", "@GW1", "en-us");
    stub.answer(
        &gateway,
        404,
        "<html><head><title>404 - File or directory not found.</title></head></html>",
    );
    for n in 1..=2 {
        let called = call(
            &worker,
            request("d365fo_get_label", json!({"label_id": "@GW1"})),
        )
        .await;
        let failure = called.failure();
        assert_eq!(failure.code, "upstream_unavailable", "{}", failure.message);
        assert!(
            failure.message.contains("File or directory not found"),
            "{}",
            failure.message
        );
        assert_eq!(stub.hits(&gateway), n, "not cached");
    }
    // D365FO's own 404 (its OData error JSON) is remembered.
    let missing = label_path("a", "@NOPE1", "en-us");
    for _ in 0..2 {
        let called = call(
            &worker,
            request("d365fo_get_label", json!({"label_id": "@NOPE1"})),
        )
        .await;
        assert_eq!(called.failure().code, "not_found");
    }
    assert_eq!(stub.hits(&missing), 1);
}

/// D365FO's label endpoint as recorded: an unknown label is a 404 with an
/// empty body (a missing label, remembered like one), and a JSON body may
/// start with a UTF-8 byte-order mark (read, not refused as invalid JSON).
#[tokio::test]
async fn an_empty_404_is_a_missing_label_and_a_byte_order_mark_is_skipped() {
    let stub = Stub::start().await;
    stub.value(
        &modules_path("a"),
        json!(["Name: ApplicationSuite | Version: 10.0.1"]),
    );
    let worker = worker_on(&stub.env("a"), &store());
    let empty = label_path("a", "@EMPTY1", "en-us");
    stub.answer(&empty, 404, "");
    for _ in 0..2 {
        let called = call(
            &worker,
            request("d365fo_get_label", json!({"label_id": "@EMPTY1"})),
        )
        .await;
        assert_eq!(
            called.failure().code,
            "not_found",
            "{}",
            called.failure().message
        );
    }
    assert_eq!(stub.hits(&empty), 1, "remembered as missing");

    let marked = label_path("a", "@BOM1", "en-us");
    let body = json!({"Id": "@BOM1", "Language": "en-us", "Value": "Marked"});
    stub.answer(&marked, 200, format!("\u{feff}{body}"));
    let called = call(
        &worker,
        request("d365fo_get_label", json!({"label_id": "@BOM1"})),
    )
    .await;
    assert_eq!(called.ok()["text"], "Marked");
}

#[tokio::test]
async fn environments_never_share_entries_through_an_unreadable_module_list() {
    let stub = Stub::start().await;
    let shared = store();
    // The same label id means something else in each environment.
    for (env, text) in [("a", "Alpha"), ("b", "Beta")] {
        stub.answer(
            &label_path(env, "@SYS1", "en-us"),
            200,
            json!({"Id": "@SYS1", "Language": "en-us", "Value": text}),
        );
    }
    let a = worker_on(&stub.env("a"), &shared);
    let b = worker_on(&stub.env("b"), &shared);
    let label = || request("d365fo_get_label", json!({"label_id": "@SYS1"}));
    // Module lists nothing can be read from: every call fails, saying which
    // environment answered what, and nothing is read or cached.
    for answer in [json!([]), json!([{"Id": 1}, 7]), json!([null, ""])] {
        for (env, worker) in [("a", &a), ("b", &b)] {
            stub.value(&modules_path(env), answer.clone());
            let called = call(worker, label()).await;
            let failure = called.failure();
            assert_eq!(failure.code, "upstream_unavailable", "{}", failure.message);
            for needle in [
                stub.env(env).as_str().trim_end_matches('/'),
                "GetInstalledModules",
                &answer.to_string(),
            ] {
                assert!(
                    failure.message.contains(needle),
                    "{answer}: {:?} lacks {needle:?}",
                    failure.message
                );
            }
        }
    }
    for env in ["a", "b"] {
        assert_eq!(stub.hits(&label_path(env, "@SYS1", "en-us")), 0);
    }
    // Modules as objects with name and version fields are read, and two
    // versions key two sets of entries.
    stub.value(
        &modules_path("a"),
        json!([{"Name": "ApplicationSuite", "Version": "10.0.1", "Publisher": "Microsoft"}]),
    );
    stub.value(
        &modules_path("b"),
        json!([{"name": "ApplicationSuite", "version": "10.0.2"}]),
    );
    for (worker, text) in [(&a, "Alpha"), (&b, "Beta"), (&a, "Alpha")] {
        assert_eq!(call(worker, label()).await.ok()["text"], text);
    }
    let modules = call(&b, request("d365fo_get_installed_modules", json!({}))).await;
    assert_eq!(modules.ok()["modules"][0]["version"], "10.0.2");
}

/// Environment `env` on the stub: entity `Things` (a key and an enum-typed
/// field) and enumeration `Mood`, whose labels answer, except `@BAD`,
/// whose lookup fails with HTTP 500 every time.
fn one_entity(stub: &Stub, env: &str) {
    stub.value(
        &modules_path(env),
        json!(["Name: ApplicationSuite | Version: 10.0.1"]),
    );
    stub.value(
        &format!("/{env}/Metadata/DataEntities"),
        json!([{"Name": "ThingEntity", "PublicEntityName": "Thing",
                "PublicCollectionName": "Things", "LabelId": "@L1", "EntityCategory": "Master",
                "DataServiceEnabled": true, "DataManagementEnabled": true, "IsReadOnly": false}]),
    );
    stub.answer(
        &format!("/{env}/Metadata/PublicEntities('Thing')"),
        200,
        json!({"Name": "Thing", "EntitySetName": "Things", "LabelId": "@L1", "IsReadOnly": false,
               "Properties": [
                   {"Name": "Id", "TypeName": "Edm.String", "DataType": "String",
                    "LabelId": "@L2", "IsKey": true, "IsMandatory": true},
                   {"Name": "Mood", "TypeName": "Microsoft.Dynamics.DataEntities.Mood",
                    "DataType": "Enum", "LabelId": "@BAD", "IsKey": false, "IsMandatory": false}],
               "NavigationProperties": [], "Actions": []}),
    );
    stub.answer(
        &format!("/{env}/Metadata/PublicEnumerations('Mood')"),
        200,
        json!({"Name": "Mood", "LabelId": "@L3", "Members": [
            {"Name": "Glad", "Value": 0, "LabelId": "@L4"},
            // No value: D365FO's records are not always whole.
            {"Name": "Odd", "LabelId": "@BAD"}]}),
    );
    for (id, text) in [
        ("@L1", "Things"),
        ("@L2", "Thing id"),
        ("@L3", "Mood"),
        ("@L4", "Glad"),
    ] {
        stub.answer(
            &label_path(env, id, "en-us"),
            200,
            json!({"Id": id, "Language": "en-us", "Value": text}),
        );
    }
    stub.answer(
        &label_path(env, "@BAD", "en-us"),
        500,
        json!({"error": {"code": "", "message": "An error has occurred.",
                         "innererror": {"message": "Label service failed.", "type": "X"}}}),
    );
}

#[tokio::test]
async fn a_label_that_fails_is_a_null_with_a_note_not_a_failed_call() {
    let stub = Stub::start().await;
    one_entity(&stub, "a");
    let worker = worker_on(&stub.env("a"), &store());
    let noted = |out: &Value| {
        assert_eq!(out["unresolved_labels"]["count"], 1, "{out}");
        let why = out["unresolved_labels"]["first_error"].as_str().unwrap();
        assert!(why.contains("Label service failed."), "{why}");
    };

    let schema = call(
        &worker,
        request("d365fo_get_entity_schema", json!({"entity": "Things"})),
    )
    .await;
    let out = schema.ok();
    conforms("d365fo_get_entity_schema", out);
    assert_eq!(out["label"], "Things");
    assert_eq!(out["properties"][0]["label"], "Thing id");
    let mood = &out["properties"][1];
    assert_eq!(mood["label"], Value::Null);
    assert_eq!(mood["enum"]["members"][0]["label"], "Glad");
    assert_eq!(mood["enum"]["members"][1]["label"], Value::Null);
    noted(out);

    let enumeration = call(
        &worker,
        request("d365fo_get_enumeration", json!({"name": "Mood"})),
    )
    .await;
    let out = enumeration.ok();
    assert_eq!(out["label"], "Mood");
    assert_eq!(out["members"][1]["label"], Value::Null);
    assert_eq!(out["members"][1]["value"], Value::Null);
    noted(out);
    conforms("d365fo_get_enumeration", out);

    // d365fo_get_labels answers per id: the failed one says why.
    let many = call(
        &worker,
        request(
            "d365fo_get_labels",
            json!({"label_ids": ["@L1", "@BAD", "@NOPE"]}),
        ),
    )
    .await;
    let out = many.ok();
    conforms("d365fo_get_labels", out);
    assert_eq!(
        (&out["found"], &out["missing"], &out["failed"]),
        (&json!(1), &json!(1), &json!(1)),
        "{out}"
    );
    let bad = &out["labels"][1];
    assert_eq!((&bad["found"], &bad["text"]), (&json!(false), &Value::Null));
    assert!(
        bad["error"]
            .as_str()
            .unwrap()
            .contains("Label service failed."),
        "{bad}"
    );
    assert!(out["labels"][2].get("error").is_none(), "{out}");
    // When every lookup fails there is nothing to return but why.
    let none = call(
        &worker,
        request("d365fo_get_labels", json!({"label_ids": ["@BAD"]})),
    )
    .await;
    assert_eq!(none.failure().code, "upstream_unavailable");
}

#[tokio::test]
async fn a_label_that_times_out_is_a_null_but_the_calls_deadline_fails_the_call() {
    let stub = Stub::start().await;
    one_entity(&stub, "a");
    stub.answer_after(
        &label_path("a", "@L4", "en-us"),
        Duration::from_secs(3),
        200,
        json!({"Id": "@L4", "Language": "en-us", "Value": "Glad"}),
    );
    // One request timing out is one label's failure…
    let mut config = super::config(&stub.env("a"));
    config.request_timeout = Duration::from_millis(300);
    let hurried = Arc::new(Worker::new(config, store()).unwrap());
    let called = call(
        &hurried,
        request("d365fo_get_enumeration", json!({"name": "Mood"})),
    )
    .await;
    let out = called.ok();
    assert_eq!(out["members"][0]["label"], Value::Null);
    assert_eq!(out["unresolved_labels"]["count"], 2, "{out}");
    // …while the call's own deadline passing fails the call.
    let worker = worker_on(&stub.env("a"), &store());
    let mut req = request("d365fo_get_enumeration", json!({"name": "Mood"}));
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis();
    req.deadline_unix_ms = u64::try_from(now_ms).unwrap() + 1000;
    let called = call(&worker, req).await;
    assert_eq!(called.failure().code, "deadline_exceeded");
}
