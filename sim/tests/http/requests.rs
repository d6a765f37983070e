//! `GET /_sim/requests`: what D365FO's endpoints received, by path.

use reqwest::StatusCode;
use serde_json::{Value, json};
use sim::SimConfig;
use sim::faults::FaultConfig;

use crate::support::Sim;

async fn counts(sim: &Sim) -> Value {
    sim.admin_json("/_sim/requests").await
}

#[tokio::test]
async fn counts_requests_by_decoded_path_and_resets() {
    let sim = Sim::default().await;
    assert_eq!(counts(&sim).await, json!({"total": 0, "by_path": {}}));
    for path in [
        "/Metadata/Labels(Id='%40SYS13342',Language='en-us')",
        "/Metadata/Labels(Id='@SYS13342',Language='en-us')",
        "/data/CustomersV3?$top=1",
        "/data/CustomersV3?$top=2",
        "/data/NoSuchSet",
        "/api/services",
        // Not D365FO's endpoints: never counted.
        "/_sim/faults",
        "/elsewhere",
    ] {
        sim.http.get(sim.url(path)).send().await.unwrap();
    }
    let body = counts(&sim).await;
    assert_eq!(body["total"], 6, "{body}");
    assert_eq!(
        body["by_path"],
        json!({
            "/Metadata/Labels(Id='@SYS13342',Language='en-us')": 2,
            "/data/CustomersV3": 2,
            "/data/NoSuchSet": 1,
            "/api/services": 1,
        })
    );
    let reset = sim.http.post(sim.url("/_sim/reset")).send().await.unwrap();
    assert_eq!(reset.status(), StatusCode::NO_CONTENT);
    assert_eq!(counts(&sim).await, json!({"total": 0, "by_path": {}}));
}

#[tokio::test]
async fn requests_refused_by_faults_are_counted() {
    let sim = Sim::start(SimConfig {
        faults: FaultConfig {
            error_503_rate: 1.0,
            ..FaultConfig::default()
        },
        ..SimConfig::default()
    })
    .await;
    let response = sim.http.get(sim.url("/data")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(counts(&sim).await["by_path"]["/data"], 1);
}

async fn installed_modules(sim: &Sim) -> Vec<Value> {
    let url =
        sim.url("/data/SystemNotifications/Microsoft.Dynamics.DataEntities.GetInstalledModules");
    let response = sim.http.post(url).json(&json!({})).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    body["value"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_service_update_changes_the_installed_modules_until_reset() {
    let sim = Sim::default().await;
    let before = installed_modules(&sim).await;
    let upgraded = sim
        .http
        .post(sim.url("/_sim/upgrade"))
        .send()
        .await
        .unwrap();
    assert_eq!(upgraded.status(), StatusCode::OK);
    assert_eq!(
        upgraded.json::<Value>().await.unwrap(),
        json!({"upgrades": 1})
    );
    let after = installed_modules(&sim).await;
    assert_eq!(after.len(), before.len());
    assert_ne!(after[0], before[0], "the first module's version moved");
    assert_eq!(after[1..], before[1..]);
    sim.http.post(sim.url("/_sim/reset")).send().await.unwrap();
    assert_eq!(installed_modules(&sim).await, before);
}
