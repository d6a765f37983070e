//! `d365fo_execute_batch` against the simulator: changesets applied whole
//! or not at all, results in order, and the errors of bad batches.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{BATCH, GET, SimEnv, assert_failure, customer_key, customer_path};
use crate::request;

/// Asserts that one operation's result failed with `code`, its message
/// holding `words`.
fn failed_with(result: &Value, code: &str, words: &str) {
    assert_eq!(result["ok"], false, "{result}");
    assert_eq!(result["error"]["code"], code, "{result}");
    let message = result["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(words), "{result}");
}

fn group_path(id: &str) -> String {
    format!("/data/CustomerGroups(dataAreaId='usmf',CustomerGroupId='{id}')")
}

#[tokio::test]
async fn a_batch_runs_changesets_and_reads_in_order() {
    let env = SimEnv::start().await;
    let called = env
        .call(
            BATCH,
            json!({"operations": [
                {"op": "create", "entity_set": "CustomerGroups", "changeset": "a",
                 "fields": {"CustomerGroupId": "80", "Description": "Export"}},
                {"op": "create", "entity_set": "CustomersV3", "changeset": "a",
                 "fields": {"CustomerAccount": "US-950", "CustomerGroupId": "80"}},
                {"op": "update", "entity_set": "CustomersV3", "changeset": "a", "key_ref": 1,
                 "fields": {"CreditLimit": 42}},
                {"op": "get", "entity_set": "CustomersV3", "key": customer_key("usmf", "US-001"),
                 "select": ["CustomerAccount"]},
                {"op": "get", "entity_set": "CustomersV3", "key": customer_key("usmf", "US-950")},
                {"op": "delete", "entity_set": "CustomersV3", "key": customer_key("usmf", "US-002")}
            ]}),
        )
        .await;
    let out = called.ok();
    assert_eq!(
        (
            out["operations"].as_u64(),
            out["succeeded"].as_u64(),
            out["failed"].as_u64()
        ),
        (Some(6), Some(6), Some(0)),
        "{out}"
    );
    let r = out["results"].as_array().unwrap();
    let statuses: Vec<u64> = r.iter().map(|x| x["status"].as_u64().unwrap()).collect();
    let indexes: Vec<u64> = r.iter().map(|x| x["index"].as_u64().unwrap()).collect();
    assert_eq!(statuses, [201, 201, 200, 200, 200, 204], "{out}");
    assert_eq!(indexes, [0, 1, 2, 3, 4, 5]);
    assert_eq!(r[1]["key"], customer_key("usmf", "US-950"));
    assert_eq!(r[2]["record"]["CreditLimit"].as_f64(), Some(42.0));
    assert_eq!(r[3]["record"]["CustomerAccount"], "US-001");
    assert_eq!(
        r[4]["record"]["CreditLimit"].as_f64(),
        Some(42.0),
        "reads see the changeset before them"
    );
    assert_eq!(r[0]["changeset"], "a");

    let (status, stored) = env.sim_get(&customer_path("usmf", "US-950")).await;
    assert_eq!(
        (status, stored["CreditLimit"].as_f64()),
        (StatusCode::OK, Some(42.0))
    );
    let (status, _) = env.sim_get(&customer_path("usmf", "US-002")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_changeset_that_fails_half_way_leaves_nothing_applied() {
    let env = SimEnv::start().await;
    let called = env
        .call(
            BATCH,
            json!({"operations": [
                {"op": "create", "entity_set": "CustomerGroups", "changeset": "a",
                 "fields": {"CustomerGroupId": "81", "Description": "Rolled back"}},
                {"op": "update", "entity_set": "CustomersV3", "changeset": "a",
                 "key": customer_key("usmf", "US-003"), "fields": {"CreditLimit": 99}},
                {"op": "create", "entity_set": "CustomersV3", "changeset": "a",
                 "fields": {"CustomerAccount": "US-951", "CustomerGroupId": "99"}},
                {"op": "create", "entity_set": "CustomerGroups", "changeset": "b",
                 "fields": {"CustomerGroupId": "82", "Description": "Kept"}}
            ]}),
        )
        .await;
    let out = called.ok();
    assert_eq!(
        (out["succeeded"].as_u64(), out["failed"].as_u64()),
        (Some(1), Some(3)),
        "{out}"
    );
    let r = &out["results"];
    for i in [0, 1] {
        assert_eq!(r[i]["rolled_back"], true, "{}", r[i]);
        failed_with(&r[i], "rolled_back", "operation 2");
    }
    // D365FO's shape: the changeset answered with the failing request's
    // part alone, a 500 carrying the refusal. A refusal, not an outage.
    assert_eq!(r[2]["status"], 500);
    assert_eq!(r[2]["error"]["code"], "upstream_rejected", "{}", r[2]);
    assert!(
        r[2]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not found in the relating table"),
        "{}",
        r[2]
    );
    assert_eq!(
        (r[3]["ok"].clone(), r[3]["status"].clone()),
        (json!(true), json!(201))
    );

    let (status, _) = env.sim_get(&group_path("81")).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "the create before the failure was rolled back"
    );
    let (_, stored) = env.sim_get(&customer_path("usmf", "US-003")).await;
    assert_ne!(
        stored["CreditLimit"].as_f64(),
        Some(99.0),
        "the update was rolled back"
    );
    let (status, _) = env.sim_get(&group_path("82")).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "another changeset stands on its own"
    );
}

#[tokio::test]
async fn per_operation_errors_keep_d365fos_words() {
    let env = SimEnv::start().await;
    let read = env
        .call(BATCH, json!({"operations": [{"op": "get", "entity_set": "CustomersV3", "key": customer_key("usmf", "US-001")}]}))
        .await;
    let etag = read.ok()["results"][0]["etag"].as_str().unwrap().to_owned();
    env.call(
        super::UPDATE,
        json!({"entity_set": "CustomersV3", "key": customer_key("usmf", "US-001"), "fields": {"CreditLimit": 5}}),
    )
    .await
    .ok();
    let called = env
        .call(
            BATCH,
            json!({"operations": [
                {"op": "get", "entity_set": "CustomerV3", "key": customer_key("usmf", "US-001")},
                {"op": "get", "entity_set": "CustomersV3", "key": customer_key("demf", "DE-001")},
                {"op": "update", "entity_set": "CustomersV3", "key": customer_key("usmf", "US-001"),
                 "fields": {"CreditLimit": 6}, "if_match": etag},
                {"op": "create", "entity_set": "CustomersV3", "fields": {"CustomerAccount": "US-001", "CustomerGroupId": "10"}}
            ]}),
        )
        .await;
    let r = &called.ok()["results"];
    let error = |i: usize| {
        (
            r[i]["error"]["code"].as_str().unwrap(),
            r[i]["error"]["message"].as_str().unwrap(),
        )
    };
    assert_eq!(error(0).0, "not_found");
    assert!(error(0).1.contains("d365fo_search_entities"), "{}", r[0]);
    assert_eq!(error(1).0, "not_found");
    assert!(error(1).1.contains("cross_company: true"), "{}", r[1]);
    assert_eq!(r[2]["status"], 412);
    assert!(error(2).1.contains("new @odata.etag"), "{}", r[2]);
    assert!(error(3).1.contains("already exists"), "{}", r[3]);
    let (_, stored) = env.sim_get(&customer_path("usmf", "US-001")).await;
    assert_eq!(
        stored["CreditLimit"].as_f64(),
        Some(5.0),
        "the stale update changed nothing"
    );
}

#[tokio::test]
async fn bad_batches_are_refused_before_anything_is_sent() {
    let env = SimEnv::start().await;
    let create = |id: &str, cs: Option<&str>| {
        let mut op = json!({"op": "create", "entity_set": "CustomerGroups", "fields": {"CustomerGroupId": id}});
        if let Some(cs) = cs {
            op["changeset"] = json!(cs);
        }
        op
    };
    let too_many: Vec<Value> = (0..101).map(|n| create(&format!("G{n}"), None)).collect();
    let cases = [
        (json!({"operations": too_many}), "at most 100"),
        (json!({"operations": []}), "at least one operation"),
        (
            json!({"operations": {"op": "get"}}),
            "`operations` must be an array",
        ),
        (json!({}), "missing field `operations`"),
        (
            json!({"operations": [create("G1", Some("a")), create("G2", None), create("G3", Some("a"))]}),
            "changeset \"a\" must be one run",
        ),
        (
            json!({"operations": [create("G1", None), {"op": "get", "entity_set": "CustomerGroups", "key": {"CustomerGroupId": "10"}, "changeset": "a"}]}),
            "operations[1]: (get) a get cannot be part of a changeset",
        ),
        (
            json!({"operations": [create("G1", None), {"op": "merge", "entity_set": "X"}]}),
            "operations[1]: `op` must be",
        ),
    ];
    for (args, part) in cases {
        assert_failure(&env.call(BATCH, args).await, "invalid_arguments", &[part]);
    }
    for id in ["G0", "G1", "G2"] {
        let (status, _) = env.sim_get(&group_path(id)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{id} was not created");
    }
}

#[tokio::test]
async fn records_past_the_result_bound_are_left_out_not_failed() {
    let env = SimEnv::start().await;
    let order = |n: &str| json!({"dataAreaId": "usmf", "SalesOrderNumber": n});
    let one = env
        .call(
            GET,
            json!({"entity_set": "SalesOrderHeadersV2", "key": order("000001"),
                   "expand": ["SalesOrderLines"]}),
        )
        .await;
    let limit = one.ok()["record"].to_string().len() + 1000;
    let small = env.worker_with_max_result_bytes(limit);
    let gets: Vec<Value> = ["000001", "000002", "000003"]
        .iter()
        .map(|n| {
            json!({"op": "get", "entity_set": "SalesOrderHeadersV2", "key": order(n),
                   "expand": ["SalesOrderLines"]})
        })
        .collect();
    let called = env
        .call_with(&small, request(BATCH, json!({ "operations": gets })))
        .await;
    let out = called.ok();
    assert_eq!(out["succeeded"], 3, "{out}");
    let results = out["results"].as_array().unwrap();
    let omitted = results
        .iter()
        .filter(|r| r["record_omitted"] == true)
        .count();
    assert!(omitted >= 1, "{out}");
    assert!(out["note"].as_str().unwrap().contains("left out"), "{out}");
    let size: usize = results.iter().map(|r| r.to_string().len()).sum();
    assert!(size <= limit, "{size} > {limit}");
}

#[tokio::test]
async fn a_changeset_refused_for_a_duplicate_names_it_and_leaves_nothing_unknown() {
    let env = SimEnv::start().await;
    let called = env
        .call(
            BATCH,
            json!({"operations": [
                {"op": "create", "entity_set": "CustomerGroups", "changeset": "a",
                 "fields": {"CustomerGroupId": "84", "Description": "Rolled back"}},
                {"op": "create", "entity_set": "Currencies", "changeset": "a",
                 "fields": {"CurrencyCode": "USD", "Name": "Again"}},
                {"op": "delete", "entity_set": "CustomerGroups", "changeset": "b",
                 "key": {"dataAreaId": "usmf", "CustomerGroupId": "nope"}}
            ]}),
        )
        .await;
    let out = called.ok();
    assert_eq!(out["failed"], 3, "{out}");
    let r = &out["results"];
    assert_eq!(r[0]["rolled_back"], true, "{}", r[0]);
    failed_with(&r[0], "rolled_back", "operation 1");
    // The duplicate: D365FO's message, as a conflict, never retryable.
    assert_eq!(r[1]["status"], 500, "{}", r[1]);
    failed_with(&r[1], "conflict", "The record already exists");
    // A missing record in a changeset of its own: not found, with the hint.
    failed_with(
        &r[2],
        "not_found",
        "No record of `CustomerGroups` has that key",
    );
    for result in r.as_array().unwrap() {
        assert_ne!(result["error"]["code"], "outcome_unknown", "{result}");
    }
    let (status, _) = env.sim_get(&group_path("84")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "rolled back");
}
