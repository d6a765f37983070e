//! The JSON services under `/api/services` and their discovery GETs.

use reqwest::StatusCode;
use serde_json::{Value as Json, json};

use crate::support::Sim;

pub(crate) async fn post(sim: &Sim, path: &str, body: &Json) -> (StatusCode, Json) {
    let res = sim
        .http
        .post(sim.url(path))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let text = res.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}: {text}")),
    )
}

async fn get(sim: &Sim, path: &str) -> (StatusCode, Json) {
    let res = sim.http.get(sim.url(path)).send().await.unwrap();
    (res.status(), res.json().await.unwrap())
}

#[tokio::test]
async fn json_service_discovery() {
    let sim = Sim::default().await;
    let (status, groups) = get(&sim, "/api/services").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        groups["ServiceGroups"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["Name"] == "UserSessionService")
    );
    let (_, services) = get(&sim, "/api/services/UserSessionService").await;
    assert_eq!(
        services,
        json!({"Services": [{"Name": "AifUserSessionService"}]})
    );
    let (_, ops) = get(
        &sim,
        "/api/services/UserSessionService/AifUserSessionService",
    )
    .await;
    assert!(
        ops["Operations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["Name"] == "GetUserSessionInfo")
    );
    let (_, op) = get(
        &sim,
        "/api/services/UserSessionService/AifUserSessionService/GetUserSessionInfo",
    )
    .await;
    assert_eq!(
        op,
        json!({"Parameters": [], "Return": {"Name": "return", "Type": "AifUserSessionInfo"}})
    );
    let (_, op) = get(&sim, "/api/services/SysSqlDiagnosticService/SysSqlDiagnosticServiceOperations/GetAxSqlResourceStats").await;
    assert_eq!(
        op["Parameters"][0],
        json!({"Name": "start", "Type": "DateTime"})
    );
    let (status, e) = get(&sim, "/api/services/NoSuchGroup").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        e["Message"]
            .as_str()
            .unwrap()
            .contains("No HTTP resource was found")
    );
}

#[tokio::test]
async fn json_service_calls() {
    let sim = Sim::default().await;
    let (status, info) = post(
        &sim,
        "/api/services/UserSessionService/AifUserSessionService/GetUserSessionInfo",
        &json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(info["Company"], "USMF");
    assert_eq!(info["CurrencyInfo"]["CurrencyCode"], "USD");
    assert_eq!(info["$id"], "1");
    let (_, single) = post(
        &sim,
        "/api/services/usersessionservice/aifusersessionservice/IsSinglePartitionSystem",
        &json!({}),
    )
    .await;
    assert_eq!(single, json!(true));
    let path = "/api/services/SysSqlDiagnosticService/SysSqlDiagnosticServiceOperations/GetAxSqlResourceStats";
    let (status, stats) = post(
        &sim,
        path,
        &json!({"start": "2024-01-01T00:00:00Z", "end": "2024-01-02T00:00:00Z"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(stats.as_array().is_some_and(|a| !a.is_empty()));
    let (status, e) = post(&sim, path, &json!({"start": "2024-01-01T00:00:00Z"})).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(e["ExceptionType"], "XppServicesDeserializationException");
    assert!(
        e["Message"]
            .as_str()
            .unwrap()
            .contains("Parameter 'end' is not found within the request content body.")
    );
    let (status, _) = post(
        &sim,
        "/api/services/UserSessionService/AifUserSessionService/Nope",
        &json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
