//! `GET /_sim/journal`: the writes the application answered, for audits.

use reqwest::StatusCode;
use serde_json::{Value, json};
use sim::SimConfig;
use sim::faults::FaultConfig;

use crate::support::Sim;

async fn journal(sim: &Sim, query: &str) -> (StatusCode, Value) {
    let response = sim
        .http
        .get(sim.url(&format!("/_sim/journal{query}")))
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap())
}

async fn create(sim: &Sim, account: &str) -> StatusCode {
    sim.http
        .post(sim.url("/data/CustomersV3"))
        .header("content-type", "application/json")
        .body(
            json!({
                "dataAreaId": "usmf", "CustomerAccount": account,
                "OrganizationName": "Journaled", "CustomerGroupId": "10"
            })
            .to_string(),
        )
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn records_writes_that_reached_the_application_with_their_status() {
    let sim = Sim::start(SimConfig {
        journal: true,
        ..SimConfig::default()
    })
    .await;
    assert_eq!(create(&sim, "J-1").await, StatusCode::CREATED);
    // The same key again: it reached the application, which refused it.
    assert!(create(&sim, "J-1").await.is_client_error());
    // Reads are not writes.
    sim.http
        .get(sim.url("/data/CustomersV3?$top=1"))
        .send()
        .await
        .unwrap();
    let (status, body) = journal(&sim, "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let entries = body["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{body}");
    assert_eq!(entries[0]["seq"], 1);
    assert_eq!(entries[0]["method"], "POST");
    assert_eq!(entries[0]["path"], "/data/CustomersV3");
    assert_eq!(entries[0]["status"], 201);
    assert!(entries[0]["body"].as_str().unwrap().contains("\"J-1\""));
    assert!(entries[1]["status"].as_u64().unwrap() >= 400);
    assert_eq!(body["last"], 2);
    let (_, after) = journal(&sim, "?after=1&limit=5").await;
    assert_eq!(after["entries"].as_array().unwrap().len(), 1);

    // A write refused by an injected fault never reached the application.
    let faults = json!({"error_503_rate": 1.0}).to_string();
    let put = sim
        .http
        .put(sim.url("/_sim/faults"))
        .body(faults)
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::OK);
    assert_eq!(create(&sim, "J-2").await, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(journal(&sim, "").await.1["last"], 2);

    let (status, body) = journal(&sim, "?after=x").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let reset = sim.http.post(sim.url("/_sim/reset")).send().await.unwrap();
    assert_eq!(reset.status(), StatusCode::NO_CONTENT);
    assert_eq!(journal(&sim, "").await.1["entries"], json!([]));
}

#[tokio::test]
async fn is_off_unless_asked_for() {
    let sim = Sim::start(SimConfig {
        faults: FaultConfig::default(),
        ..SimConfig::default()
    })
    .await;
    let (status, body) = journal(&sim, "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        body["error"].as_str().unwrap().contains("--journal"),
        "{body}"
    );
}
