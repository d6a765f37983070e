//! The data plane over HTTP: `$expand`, `$count`, writes with `If-Match`
//! and validation, and seeding at scale (`$batch` is in `batch`).

use reqwest::StatusCode;
use serde_json::{Value as Json, json};
use sim::SimConfig;
use sim::data::Scale;

use crate::support::Sim;

pub(crate) async fn get(sim: &Sim, path: &str) -> (StatusCode, Json) {
    let res = sim.http.get(sim.url(path)).send().await.unwrap();
    let status = res.status();
    let text = res.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Json::String(text)),
    )
}

async fn send(
    sim: &Sim,
    method: &str,
    path: &str,
    if_match: Option<&str>,
    body: Option<Json>,
) -> reqwest::Response {
    let mut req = sim.http.request(method.parse().unwrap(), sim.url(path));
    if let Some(tag) = if_match {
        req = req.header("If-Match", tag);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    req.send().await.unwrap()
}

/// Asserts D365FO's error shape and that the inner message contains `text`.
pub(crate) fn assert_error(body: &Json, text: &str) {
    let e = &body["error"];
    assert_eq!(e["code"], "", "{body}");
    assert!(e["message"].is_string(), "{body}");
    assert!(
        e["innererror"]["message"].as_str().unwrap().contains(text),
        "{body}"
    );
    assert!(e["innererror"]["type"].is_string(), "{body}");
}

#[tokio::test]
async fn expand_one_level_with_nested_select() {
    let sim = Sim::default().await;
    let (status, body) = get(
        &sim,
        "/data/SalesOrderHeadersV2?$top=3&$select=SalesOrderNumber,OrderTotalAmount&$expand=SalesOrderLines($select=ItemNumber,LineAmount)",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let ctx = body["@odata.context"].as_str().unwrap();
    assert!(
        ctx.ends_with("#SalesOrderHeadersV2(SalesOrderNumber,OrderTotalAmount,SalesOrderLines(ItemNumber,LineAmount))"),
        "{ctx}"
    );
    for header in body["value"].as_array().unwrap() {
        let lines = header["SalesOrderLines"].as_array().unwrap();
        assert!(!lines.is_empty());
        let sum: f64 = lines
            .iter()
            .map(|l| l["LineAmount"].as_f64().unwrap())
            .sum();
        assert!((sum - header["OrderTotalAmount"].as_f64().unwrap()).abs() < 0.01);
        for line in lines {
            let keys: Vec<&String> = line.as_object().unwrap().keys().collect();
            assert_eq!(keys, ["@odata.etag", "ItemNumber", "LineAmount"]);
        }
    }

    let (status, line) = get(
        &sim,
        "/data/SalesOrderLines(dataAreaId='usmf',InventoryLotId='000001')?$expand=SalesOrderHeaderV2",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{line}");
    assert_eq!(
        line["SalesOrderHeaderV2"]["SalesOrderNumber"],
        line["SalesOrderNumber"]
    );

    let (status, err) = get(&sim, "/data/SalesOrderHeadersV2?$expand=Nope").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(
        &err,
        "Could not find a property named 'Nope' on type 'Microsoft.Dynamics.DataEntities.SalesOrderHeaderV2'.",
    );
    let (status, err) = get(&sim, "/data/SalesOrderHeadersV2?$expand=CurrencyCode").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&err, "is not a navigation property");
    let (status, _) = get(
        &sim,
        "/data/SalesOrderHeadersV2?$expand=SalesOrderLines/SalesOrderHeaderV2",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn count_segment_and_count_option() {
    let sim = Sim::default().await;
    let res = sim
        .http
        .get(sim.url("/data/CustomersV3/$count"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert_eq!(res.text().await.unwrap(), "50");
    let (_, all) = get(&sim, "/data/CustomersV3/$count?cross-company=true").await;
    assert_eq!(all, json!(250));
    let (_, none) = get(
        &sim,
        "/data/CustomersV3/$count?$filter=CustomerAccount%20eq%20'nobody'",
    )
    .await;
    assert_eq!(none, json!(0));
    let (_, body) = get(&sim, "/data/SalesOrderLines?$count=true&$top=1").await;
    assert!(body["@odata.count"].as_u64().unwrap() > 1);
    assert_eq!(body["value"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn create_read_update_delete_with_etags() {
    let sim = Sim::default().await;
    let res = send(&sim, "POST", "/data/CustomersV3", None,
        Some(json!({"CustomerAccount": "US-NEW", "CustomerGroupId": "10", "OrganizationName": "Fresh Co", "CreditLimit": 1000}))).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(
        location,
        sim.url("/data/CustomersV3(dataAreaId='usmf',CustomerAccount='US-NEW')")
    );
    let created: Json = res.json().await.unwrap();
    assert!(
        created["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("#CustomersV3/$entity")
    );
    assert_eq!(created["dataAreaId"], "usmf");
    let etag1 = created["@odata.etag"].as_str().unwrap().to_owned();

    let key = "/data/CustomersV3(dataAreaId='usmf',CustomerAccount='US-NEW')";
    let (status, read) = get(&sim, key).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read["@odata.etag"], etag1.as_str());
    assert_eq!(read["OrganizationName"], "Fresh Co");

    let res = send(
        &sim,
        "PATCH",
        key,
        Some(&etag1),
        Some(json!({"CreditLimit": 2500})),
    )
    .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let (_, read) = get(&sim, key).await;
    assert_eq!(read["CreditLimit"], 2500);
    assert_eq!(read["OrganizationName"], "Fresh Co", "PATCH merges");
    let etag2 = read["@odata.etag"].as_str().unwrap().to_owned();
    assert_ne!(etag1, etag2, "the ETag changes on every update");

    let res = send(
        &sim,
        "PATCH",
        key,
        Some(&etag1),
        Some(json!({"CreditLimit": 1})),
    )
    .await;
    assert_eq!(res.status(), StatusCode::PRECONDITION_FAILED);
    assert_error(&res.json().await.unwrap(), "update conflict");
    let res = send(
        &sim,
        "PATCH",
        key,
        Some("*"),
        Some(json!({"CreditLimit": 3000})),
    )
    .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);

    let res = send(
        &sim,
        "PUT",
        key,
        None,
        Some(json!({"CustomerGroupId": "20"})),
    )
    .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let (_, read) = get(&sim, key).await;
    assert_eq!(
        read["OrganizationName"], "",
        "PUT resets what it leaves out"
    );
    assert_eq!(read["CustomerGroupId"], "20");

    let res = send(&sim, "DELETE", key, Some(&etag2), None).await;
    assert_eq!(res.status(), StatusCode::PRECONDITION_FAILED);
    let res = send(&sim, "DELETE", key, None, None).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let (status, _) = get(&sim, key).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    for method in ["PATCH", "DELETE"] {
        let res = send(&sim, method, key, None, Some(json!({"CreditLimit": 1}))).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{method}");
        assert_error(
            &res.json().await.unwrap(),
            "No resources were found when selecting for update.",
        );
    }
}

#[tokio::test]
async fn validation_errors_have_the_d365_shape() {
    let sim = Sim::default().await;
    let cases = [
        (
            json!({"CustomerAccount": "US-X1"}),
            "Field 'CustomerGroupId' must be filled in.",
        ),
        (
            json!({"CustomerAccount": "US-X2", "CustomerGroupId": "10", "Bogus": 1}),
            "The property 'Bogus' does not exist",
        ),
        (
            json!({"CustomerAccount": "US-X3", "CustomerGroupId": "10", "CreditLimit": "lots"}),
            "Cannot convert the literal 'lots' to the expected type 'Edm.Decimal'.",
        ),
        (
            json!({"CustomerAccount": "US-001", "CustomerGroupId": "10"}),
            "The record already exists.",
        ),
        (
            json!({"CustomerAccount": "US-X4", "CustomerGroupId": "99"}),
            "The value '99' in field 'CustomerGroupId' is not found in the relating table 'Customer groups'.",
        ),
        (
            json!({"CustomerAccount": "US-X5", "CustomerGroupId": "10", "CustomerType": "Robot"}),
            "not a valid enumeration type constant",
        ),
    ];
    for (body, text) in cases {
        let res = send(&sim, "POST", "/data/CustomersV3", None, Some(body.clone())).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{body}");
        assert_error(&res.json().await.unwrap(), text);
    }
    let res = sim
        .http
        .post(sim.url("/data/CustomersV3"))
        .header("content-type", "application/json")
        .body("{nope")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);

    // The company comes from dataAreaId in the body, in any case.
    let res = send(
        &sim,
        "POST",
        "/data/CustomersV3",
        None,
        Some(json!({"dataAreaId": "DEMF", "CustomerAccount": "DE-NEW", "CustomerGroupId": "30"})),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert!(
        res.headers()["location"]
            .to_str()
            .unwrap()
            .contains("dataAreaId='demf'")
    );
    let (status, _) = get(
        &sim,
        "/data/CustomersV3(dataAreaId='demf',CustomerAccount='DE-NEW')?cross-company=true",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn date_time_keys_are_unquoted() {
    let sim = Sim::default().await;
    let (status, body) = get(
        &sim,
        "/data/ExchangeRates(RateTypeName='Default',FromCurrency='EUR',ToCurrency='USD',StartDate=2023-01-01T00:00:00Z)",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["StartDate"], "2023-01-01T00:00:00Z");
    let (status, body) = get(
        &sim,
        "/data/MainAccounts?$filter=MainAccountRecId%20gt%205637144576&$top=1",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["value"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_larger_scale_seeds_proportionally() {
    let started = std::time::Instant::now();
    let sim = Sim::start(SimConfig {
        scale: Scale::Rows(100_000),
        ..SimConfig::default()
    })
    .await;
    let mut total = 0;
    for set in [
        "CustomersV3",
        "VendorsV2",
        "ReleasedProductsV2",
        "SalesOrderHeadersV2",
        "SalesOrderLines",
    ] {
        let (_, n) = get(&sim, &format!("/data/{set}/$count?cross-company=true")).await;
        total += n.as_u64().unwrap();
    }
    assert!((90_000..115_000).contains(&total), "{total}");
    let (status, body) = get(
        &sim,
        "/data/SalesOrderLines?cross-company=true&$skip=50000&$top=2",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["value"].as_array().unwrap().len(), 2);
    eprintln!("100k rows seeded and counted in {:?}", started.elapsed());
}

#[tokio::test]
async fn expanding_each_lines_header_is_a_lookup_at_scale() {
    let sim = Sim::start(SimConfig {
        scale: Scale::Rows(50_000),
        ..SimConfig::default()
    })
    .await;
    let started = std::time::Instant::now();
    let (status, body) = get(
        &sim,
        "/data/SalesOrderLines?cross-company=true&$top=1000&$skip=20000&$expand=SalesOrderHeaderV2",
    )
    .await;
    let took = started.elapsed();
    assert_eq!(status, StatusCode::OK, "{body}");
    let lines = body["value"].as_array().unwrap();
    assert_eq!(lines.len(), 1000);
    for line in lines {
        let header = &line["SalesOrderHeaderV2"];
        assert_eq!(
            header["SalesOrderNumber"], line["SalesOrderNumber"],
            "{line}"
        );
        assert_eq!(header["dataAreaId"], line["dataAreaId"], "{line}");
    }
    let companies: std::collections::HashSet<&str> = lines
        .iter()
        .filter_map(|l| l["dataAreaId"].as_str())
        .collect();
    assert!(!companies.is_empty());
    // A scan per line took seconds here; a key lookup per line takes milliseconds.
    assert!(took < std::time::Duration::from_secs(5), "{took:?}");
}
