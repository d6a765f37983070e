//! The data plane over HTTP: `$expand`, `$count`, writes with `If-Match`
//! and validation, `$batch` with atomic changesets, and seeding at scale.

use reqwest::StatusCode;
use serde_json::{Value as Json, json};
use sim::SimConfig;
use sim::data::Scale;

use crate::support::Sim;

async fn get(sim: &Sim, path: &str) -> (StatusCode, Json) {
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
fn assert_error(body: &Json, text: &str) {
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
        assert_error(&res.json().await.unwrap(), "The record does not exist.");
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
        "/data/CustomersV3(dataAreaId='demf',CustomerAccount='DE-NEW')",
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

/// The statuses of every `HTTP/1.1 NNN` response line, in order.
fn statuses(body: &str) -> Vec<u16> {
    body.match_indices("HTTP/1.1 ")
        .filter_map(|(i, _)| body.get(i + 9..i + 12)?.parse().ok())
        .collect()
}

fn batch(parts: &[String]) -> String {
    let mut out = String::new();
    for p in parts {
        out.push_str("--batch_b\r\n");
        out.push_str(p);
    }
    out.push_str("--batch_b--\r\n");
    out
}

fn op(method: &str, url: &str, id: usize, body: Option<Json>) -> String {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    format!(
        "--changeset_c\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: {id}\r\n\r\n{method} {url} HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{body}\r\n"
    )
}

fn changeset(ops: &[String]) -> String {
    format!(
        "Content-Type: multipart/mixed; boundary=changeset_c\r\n\r\n{}--changeset_c--\r\n",
        ops.concat()
    )
}

async fn post_batch(sim: &Sim, body: String) -> (StatusCode, String) {
    let res = sim
        .http
        .post(sim.url("/data/$batch"))
        .header("content-type", "multipart/mixed; boundary=batch_b")
        .body(body)
        .send()
        .await
        .unwrap();
    (res.status(), res.text().await.unwrap())
}

#[tokio::test]
async fn batch_runs_changesets_atomically() {
    let sim = Sim::default().await;
    let ok = changeset(&[
        op(
            "POST",
            "/data/CustomerGroups",
            1,
            Some(json!({"CustomerGroupId": "77", "Description": "Batch"})),
        ),
        op(
            "POST",
            "CustomersV3",
            2,
            Some(json!({"CustomerAccount": "US-B1", "CustomerGroupId": "77"})),
        ),
        op("PATCH", "$2", 3, Some(json!({"CreditLimit": 42}))),
    ]);
    let read = "Content-Type: application/http\r\n\r\nGET /data/CustomersV3(dataAreaId='usmf',CustomerAccount='US-B1') HTTP/1.1\r\nAccept: application/json\r\n\r\n".to_owned();
    let (status, text) = post_batch(&sim, batch(&[ok, read])).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(statuses(&text), [201, 201, 204, 200], "{text}");
    assert!(text.contains("\"CreditLimit\":42"), "{text}");

    // The second request fails its foreign key: the first is rolled back.
    let failing = changeset(&[
        op(
            "POST",
            "/data/CustomerGroups",
            1,
            Some(json!({"CustomerGroupId": "88"})),
        ),
        op(
            "POST",
            "/data/CustomersV3",
            2,
            Some(json!({"CustomerAccount": "US-B2", "CustomerGroupId": "99"})),
        ),
    ]);
    let (status, text) = post_batch(&sim, batch(&[failing])).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(statuses(&text), [400], "{text}");
    assert!(text.contains("not found in the relating table"), "{text}");
    let (status, _) = get(
        &sim,
        "/data/CustomerGroups(dataAreaId='usmf',CustomerGroupId='88')",
    )
    .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "the changeset was rolled back"
    );
    let (status, _) = get(
        &sim,
        "/data/CustomerGroups(dataAreaId='usmf',CustomerGroupId='77')",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "the earlier changeset stays");
}

#[tokio::test]
async fn malformed_batches_are_400() {
    let sim = Sim::default().await;
    let res = sim
        .http
        .post(sim.url("/data/$batch"))
        .header("content-type", "multipart/mixed")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_error(&res.json().await.unwrap(), "batch boundary");
    for body in [
        "--batch_b\r\nContent-Type: application/http\r\n\r\nGET /data/Currencies HTTP/1.1\r\n", // no close
        "--batch_b\r\nContent-Type: application/http\r\n\r\nNOT A REQUEST LINE AT ALL\r\n--batch_b--",
        "--batch_b\r\nContent-Type: application/json\r\n\r\n{}\r\n--batch_b--",
    ] {
        let (status, text) = post_batch(&sim, body.to_owned()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_error(&serde_json::from_str(&text).unwrap(), "");
    }
    let get_in_changeset = batch(&[changeset(&[op("GET", "/data/Currencies", 1, None)])]);
    let (status, text) = post_batch(&sim, get_in_changeset).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
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
