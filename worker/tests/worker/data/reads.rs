//! Reads with `$expand`, through the cursor, and the errors reads get.

use serde_json::{Value, json};

use super::{GET, QUERY, SimEnv, assert_failure, customer_key};
use crate::request;

fn lines(row: &Value) -> &Vec<Value> {
    row["SalesOrderLines"].as_array().expect("expanded lines")
}

#[tokio::test]
async fn query_expands_one_level_and_the_cursor_keeps_it() {
    let env = SimEnv::start().await;
    let expand = json!([{"name": "SalesOrderLines", "select": ["ItemNumber", "LineAmount"]}]);
    let first = env
        .call(
            QUERY,
            json!({"entity_set": "SalesOrderHeadersV2", "select": ["SalesOrderNumber"],
                   "expand": expand, "orderby": "SalesOrderNumber", "top": 1}),
        )
        .await;
    let out = first.ok();
    assert_eq!(out["returned"], 1);
    assert_eq!(out["more"], true);
    let row = &out["rows"][0];
    assert_eq!(row["SalesOrderNumber"], "000001");
    assert!(!lines(row).is_empty());
    for line in lines(row) {
        assert!(line["ItemNumber"].is_string(), "{line}");
        assert!(
            line.get("SalesOrderNumber").is_none(),
            "nested select applied: {line}"
        );
    }

    let cursor = out["next_cursor"].as_str().unwrap();
    let next = env
        .call(
            QUERY,
            json!({"entity_set": "SalesOrderHeadersV2", "cursor": cursor}),
        )
        .await;
    let row = &next.ok()["rows"][0];
    assert_eq!(row["SalesOrderNumber"], "000002");
    assert!(!lines(row).is_empty(), "the cursor carries expand: {row}");
}

#[tokio::test]
async fn get_record_expands_by_name() {
    let env = SimEnv::start().await;
    let out = env
        .call(
            GET,
            json!({"entity_set": "SalesOrderHeadersV2",
                   "key": {"dataAreaId": "usmf", "SalesOrderNumber": "000001"},
                   "expand": ["SalesOrderLines"]}),
        )
        .await;
    let record = &out.ok()["record"];
    assert_eq!(record["SalesOrderNumber"], "000001");
    assert!(
        lines(record)
            .iter()
            .all(|l| l["SalesOrderNumber"] == "000001")
    );
}

#[tokio::test]
async fn read_errors_are_clear() {
    let env = SimEnv::start().await;
    // An unknown navigation property: D365FO's own message.
    let called = env
        .call(
            QUERY,
            json!({"entity_set": "CustomersV3", "expand": ["Orders"]}),
        )
        .await;
    assert_failure(
        &called,
        "upstream_rejected",
        &["Could not find a property named 'Orders'"],
    );
    // An unknown entity set points at the tool that finds names.
    let called = env.call(QUERY, json!({"entity_set": "CustomerV3"})).await;
    assert_failure(
        &called,
        "not_found",
        &["'CustomerV3'", "d365fo_search_entities"],
    );
    let called = env
        .call(
            GET,
            json!({"entity_set": "Nope", "key": customer_key("usmf", "US-001")}),
        )
        .await;
    assert_failure(&called, "not_found", &["d365fo_search_entities"]);
    // Another company's record needs cross_company, and the error says so.
    let called = env
        .call(
            GET,
            json!({"entity_set": "CustomersV3", "key": customer_key("demf", "DE-001")}),
        )
        .await;
    assert_failure(&called, "not_found", &["cross_company: true"]);
    let called = env
        .call(
            GET,
            json!({"entity_set": "CustomersV3", "key": customer_key("demf", "DE-001"),
                   "cross_company": true}),
        )
        .await;
    assert_eq!(called.ok()["record"]["CustomerAccount"], "DE-001");
    // Missing key fields: D365FO's message.
    let called = env
        .call(
            GET,
            json!({"entity_set": "CustomersV3", "key": {"dataAreaId": "usmf"}}),
        )
        .await;
    assert_failure(
        &called,
        "upstream_rejected",
        &["key in the request URI is not valid"],
    );
    // Wrong types never reach D365FO.
    for (args, part) in [
        (
            json!({"entity_set": "CustomersV3", "expand": "SalesOrderLines"}),
            "`expand` must be an array",
        ),
        (
            json!({"entity_set": "CustomersV3", "expand": [{"name": "A", "top": 1}]}),
            "unknown field \"top\"",
        ),
        (
            json!({"entity_set": "CustomersV3", "expand": ["A/B"]}),
            "each `expand` name",
        ),
    ] {
        assert_failure(&env.call(QUERY, args).await, "invalid_arguments", &[part]);
    }
    let called = env
        .call(GET, json!({"entity_set": "CustomersV3", "key": "US-001"}))
        .await;
    assert_failure(&called, "invalid_arguments", &["`key` must be an object"]);
}

#[tokio::test]
async fn a_record_past_the_result_bound_is_refused_with_what_to_narrow() {
    let env = SimEnv::start().await;
    let key = json!({"dataAreaId": "usmf", "SalesOrderNumber": "000001"});
    let expanded = json!({"entity_set": "SalesOrderHeadersV2", "key": key,
                          "expand": ["SalesOrderLines"]});
    let plain = json!({"entity_set": "SalesOrderHeadersV2", "key": key});
    let len = |v: &Value| v["record"].to_string().len();
    let full = len(env.call(GET, expanded.clone()).await.ok());
    let header = len(env.call(GET, plain.clone()).await.ok());
    let limit = header + (full - header) / 2;
    assert!(
        header < limit && limit < full,
        "{header} < {limit} < {full}"
    );

    let small = env.worker_with_max_result_bytes(limit);
    let called = env.call_with(&small, request(GET, expanded)).await;
    assert_failure(
        &called,
        "invalid_arguments",
        &[
            &format!("the record alone is {full} bytes"),
            &format!("the {limit} bytes"),
            "`select`",
            "`expand`",
        ],
    );
    assert!(!called.failure().retryable);
    // Narrowed, the same record fits.
    let called = env.call_with(&small, request(GET, plain)).await;
    assert_eq!(called.ok()["record"]["SalesOrderNumber"], "000001");
}

#[tokio::test]
async fn a_top_past_the_row_limit_says_so_and_the_cursor_goes_on() {
    let env = SimEnv::start().await;
    let capped = env.worker_with_max_rows(3);
    let query = |top: u64| {
        request(
            QUERY,
            json!({"entity_set": "CustomersV3", "select": ["CustomerAccount"],
                   "orderby": "CustomerAccount", "top": top}),
        )
    };
    let called = env.call_with(&capped, query(10)).await;
    let out = called.ok();
    assert_eq!(
        (out["returned"].as_u64(), out["more"].as_bool()),
        (Some(3), Some(true))
    );
    let note = out["note"].as_str().expect("a note on the cut");
    for part in ["at most 3 rows per call", "`top` 10", "next_cursor"] {
        assert!(note.contains(part), "{part:?} not in {note:?}");
    }
    let cursor = out["next_cursor"].as_str().unwrap();
    let next = env
        .call_with(
            &capped,
            request(
                QUERY,
                json!({"entity_set": "CustomersV3", "cursor": cursor}),
            ),
        )
        .await;
    let accounts = |v: &Value| -> Vec<String> {
        v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["CustomerAccount"].as_str().unwrap().to_owned())
            .collect()
    };
    let all = accounts(
        env.call(
            QUERY,
            json!({"entity_set": "CustomersV3", "select": ["CustomerAccount"],
                                             "orderby": "CustomerAccount", "top": 6}),
        )
        .await
        .ok(),
    );
    assert_eq!(
        accounts(next.ok()),
        all[3..6],
        "the cursor resumes after the cut"
    );

    // A `top` within the limit is the caller's own bound: no note.
    let called = env.call_with(&capped, query(3)).await;
    assert_eq!(called.ok()["more"], true);
    assert!(called.ok().get("note").is_none(), "{}", called.ok());
}
