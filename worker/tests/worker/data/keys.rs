//! Keys typed by the metadata: a record keyed by a date-time (the
//! simulator's `ExchangeRates`, keyed by `RateTypeName, FromCurrency,
//! ToCurrency, StartDate`) is read, updated, deleted and batched by the
//! key a query shows; a value that does not fit its type is refused before
//! anything is sent; string keys still work when the metadata cannot be
//! read.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{BATCH, DELETE, GET, QUERY, SimEnv, UPDATE, assert_failure};
use crate::{
    call, request,
    simulator::{Stub, store, worker_on},
};

/// The key of the first EUR to USD rate, as a query shows it.
async fn eur_rate_key(env: &SimEnv) -> Value {
    let out = env
        .call(
            QUERY,
            json!({"entity_set": "ExchangeRates",
                   "filter": "FromCurrency eq 'EUR' and ToCurrency eq 'USD'",
                   "select": ["RateTypeName", "FromCurrency", "ToCurrency", "StartDate"],
                   "orderby": "StartDate", "top": 1}),
        )
        .await;
    let row = &out.ok()["rows"][0];
    let key: serde_json::Map<String, Value> =
        ["RateTypeName", "FromCurrency", "ToCurrency", "StartDate"]
            .iter()
            .map(|k| ((*k).to_owned(), row[*k].clone()))
            .collect();
    assert!(key["StartDate"].is_string(), "{row}");
    Value::Object(key)
}

/// The simulator's path of `key`, its date-time bare as D365FO takes it.
fn rate_path(key: &Value) -> String {
    format!(
        "/data/ExchangeRates(RateTypeName='{}',FromCurrency='{}',ToCurrency='{}',StartDate={})",
        key["RateTypeName"].as_str().unwrap(),
        key["FromCurrency"].as_str().unwrap(),
        key["ToCurrency"].as_str().unwrap(),
        key["StartDate"].as_str().unwrap()
    )
}

/// Requests that reached `ExchangeRates` records or `$batch`.
async fn keyed_requests(env: &SimEnv) -> u64 {
    let (_, body) = env.sim_get("/_sim/requests").await;
    body["by_path"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(path, _)| path.starts_with("/data/ExchangeRates(") || *path == "/data/$batch")
        .map(|(_, n)| n.as_u64().unwrap())
        .sum()
}

#[tokio::test]
async fn a_record_keyed_by_a_date_time_is_read_updated_and_deleted() {
    let env = SimEnv::start().await;
    let key = eur_rate_key(&env).await;
    let start = key["StartDate"].as_str().unwrap().to_owned();
    let (status, stored) = env.sim_get(&rate_path(&key)).await;
    assert_eq!(status, StatusCode::OK, "{stored}");

    let read = env
        .call(GET, json!({"entity_set": "ExchangeRates", "key": key}))
        .await;
    assert_eq!(read.ok()["record"]["Rate"], stored["Rate"]);

    // The same instant with an offset: its `+` reaches D365FO as a plus.
    let shifted = start.replace("T00:00:00Z", "T02:00:00+02:00");
    assert_ne!(shifted, start, "the seeded rates start at midnight UTC");
    let mut offset_key = key.clone();
    offset_key["StartDate"] = json!(shifted);
    let read = env
        .call(
            GET,
            json!({"entity_set": "ExchangeRates", "key": offset_key}),
        )
        .await;
    assert_eq!(read.ok()["record"]["StartDate"], start.as_str());

    let updated = env
        .call(
            UPDATE,
            json!({"entity_set": "ExchangeRates", "key": key, "fields": {"Rate": 1.2345}}),
        )
        .await;
    assert_eq!(updated.ok()["record"]["Rate"].as_f64(), Some(1.2345));
    let (_, stored) = env.sim_get(&rate_path(&key)).await;
    assert_eq!(stored["Rate"].as_f64(), Some(1.2345));

    let deleted = env
        .call(DELETE, json!({"entity_set": "ExchangeRates", "key": key}))
        .await;
    assert_eq!(deleted.ok()["deleted"], true);
    let (status, _) = env.sim_get(&rate_path(&key)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_batch_addresses_records_by_a_date_time() {
    let env = SimEnv::start().await;
    let key = eur_rate_key(&env).await;
    let called = env
        .call(
            BATCH,
            json!({"operations": [
                {"op": "update", "entity_set": "ExchangeRates", "key": key, "changeset": "a",
                 "fields": {"Rate": 0.5}},
                {"op": "get", "entity_set": "ExchangeRates", "key": key, "select": ["Rate"]},
                {"op": "delete", "entity_set": "ExchangeRates", "key": key}
            ]}),
        )
        .await;
    let out = called.ok();
    let statuses: Vec<u64> = out["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [200, 200, 204], "{out}");
    assert_eq!(out["results"][1]["record"]["Rate"].as_f64(), Some(0.5));
    let (status, _) = env.sim_get(&rate_path(&key)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_key_value_that_does_not_fit_its_type_is_refused_and_nothing_is_sent() {
    let env = SimEnv::start().await;
    let key = eur_rate_key(&env).await;
    let before = keyed_requests(&env).await;
    let mut date_only = key.clone();
    date_only["StartDate"] = json!(&key["StartDate"].as_str().unwrap()[..10]);
    let expected = [
        "`key.StartDate` of ExchangeRates has type Edm.DateTimeOffset",
        "\"2019-10-04T12:00:00Z\"",
    ];
    for (tool, args) in [
        (
            GET,
            json!({"entity_set": "ExchangeRates", "key": date_only}),
        ),
        (
            UPDATE,
            json!({"entity_set": "ExchangeRates", "key": date_only, "fields": {"Rate": 9}}),
        ),
        (
            DELETE,
            json!({"entity_set": "ExchangeRates", "key": date_only}),
        ),
    ] {
        assert_failure(&env.call(tool, args).await, "invalid_arguments", &expected);
    }
    let batch = json!({"operations": [
        {"op": "get", "entity_set": "ExchangeRates", "key": key},
        {"op": "delete", "entity_set": "ExchangeRates", "key": date_only}
    ]});
    let called = env.call(BATCH, batch).await;
    assert_failure(
        &called,
        "invalid_arguments",
        &["operations[1]: ", expected[0]],
    );
    assert_eq!(keyed_requests(&env).await, before, "nothing was sent");
    let (status, _) = env.sim_get(&rate_path(&key)).await;
    assert_eq!(status, StatusCode::OK, "the record is still there");
}

#[tokio::test]
async fn string_keys_are_sent_quoted_when_the_metadata_cannot_be_read() {
    // The stub answers the record and nothing else: no module list, so no
    // metadata can be read.
    let stub = Stub::start().await;
    let path = "/a/data/CustomersV3(CustomerAccount='US-001',dataAreaId='usmf')";
    stub.answer(path, 200, json!({"CustomerAccount": "US-001"}));
    let worker = worker_on(&stub.env("a"), &store());
    let called = call(
        &worker,
        request(
            GET,
            json!({"entity_set": "CustomersV3",
                   "key": {"dataAreaId": "usmf", "CustomerAccount": "US-001"}}),
        ),
    )
    .await;
    assert_eq!(called.ok()["record"]["CustomerAccount"], "US-001");
    assert_eq!(stub.hits(path), 1);
}
