//! The label tools, installed modules and the connection tools against the
//! simulator.

use serde_json::json;

use super::{
    metadata_tools::{fails, run},
    simulator::Sim,
};

#[tokio::test]
async fn labels_one_and_many() {
    let sim = Sim::start().await;
    let one = run(&sim, "d365fo_get_label", json!({"label_id": "@SYS13342"})).await;
    assert_eq!(one.ok()["text"], "Company");
    let de = run(
        &sim,
        "d365fo_get_label",
        json!({"label_id": "@SYS13342", "language": "DE"}),
    )
    .await;
    assert_eq!(
        (de.ok()["text"].clone(), de.ok()["language"].clone()),
        (json!("Unternehmen"), json!("de"))
    );
    fails(
        &sim,
        "d365fo_get_label",
        json!({"label_id": "@SYS0"}),
        "not_found",
        "has no text",
    )
    .await;
    fails(
        &sim,
        "d365fo_get_label",
        json!({"label_id": "@SYS13342", "language": "fr"}),
        "not_found",
        "\"fr\"",
    )
    .await;
    fails(
        &sim,
        "d365fo_get_label",
        json!({"label_id": "SYS1"}),
        "invalid_arguments",
        "`label_id` must be a label id",
    )
    .await;
    fails(
        &sim,
        "d365fo_get_label",
        json!({"label_id": "@SYS1", "language": 7}),
        "invalid_arguments",
        "`language`",
    )
    .await;

    // @NOPE1 is unknown: the simulator answers 404 with an empty body, as
    // D365FO's label endpoint does, and it is a missing label, not an outage.
    let many = run(
        &sim,
        "d365fo_get_labels",
        json!({"label_ids": ["@SYS13342", "@NOPE1", "@SYS13342"]}),
    )
    .await;
    let out = many.ok();
    assert_eq!(out["found"], 2);
    assert_eq!(out["missing"], 1);
    assert_eq!(
        out["labels"][1],
        json!({"label_id": "@NOPE1", "found": false, "text": null})
    );
    assert_eq!(out["labels"][2]["text"], "Company");
    let too_many: Vec<String> = (0..101).map(|i| format!("@SYS{i}")).collect();
    fails(
        &sim,
        "d365fo_get_labels",
        json!({"label_ids": too_many}),
        "invalid_arguments",
        "at most 100",
    )
    .await;
    fails(
        &sim,
        "d365fo_get_labels",
        json!({"label_ids": []}),
        "invalid_arguments",
        "non-empty array",
    )
    .await;
    fails(
        &sim,
        "d365fo_get_labels",
        json!({"label_ids": [5]}),
        "invalid_arguments",
        "each `label_ids` entry",
    )
    .await;
    fails(
        &sim,
        "d365fo_get_labels",
        json!({"label_ids": "@SYS1"}),
        "invalid_arguments",
        "`label_ids`",
    )
    .await;
}

#[tokio::test]
async fn installed_modules_and_the_version_hash() {
    let sim = Sim::start().await;
    let called = run(&sim, "d365fo_get_installed_modules", json!({})).await;
    let out = called.ok();
    assert_eq!(out["version_hash"].as_str().unwrap().len(), 16);
    assert_eq!(out["count"], out["modules"].as_array().unwrap().len());
    let suite = out["modules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "ApplicationSuite")
        .unwrap();
    assert_eq!(suite["publisher"], "Microsoft Corporation");
    fails(
        &sim,
        "d365fo_get_installed_modules",
        json!({"verbose": true}),
        "invalid_arguments",
        "unknown field",
    )
    .await;
    fails(
        &sim,
        "d365fo_get_installed_modules",
        json!({"environment": 3}),
        "invalid_arguments",
        "`environment` must be a string",
    )
    .await;
    fails(
        &sim,
        "d365fo_get_installed_modules",
        json!([1]),
        "invalid_arguments",
        "JSON object",
    )
    .await;
}

#[tokio::test]
async fn connection_and_environment_info_against_the_simulator() {
    let sim = Sim::start().await;
    let ok = run(&sim, "d365fo_test_connection", json!({})).await;
    assert_eq!(ok.ok()["ok"], true);
    let info = run(&sim, "d365fo_get_environment_info", json!({})).await;
    assert_eq!(info.ok()["application_version"], "10.0.41");
    fails(
        &sim,
        "d365fo_get_environment_info",
        json!({"x": 1}),
        "invalid_arguments",
        "unknown field",
    )
    .await;
}
