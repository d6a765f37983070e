//! `GET /_sim/traces`: the W3C trace context D365FO's endpoints received.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::Sim;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

async fn traces(sim: &Sim, query: &str) -> Value {
    sim.admin_json(&format!("/_sim/traces{query}")).await
}

#[tokio::test]
async fn records_what_each_request_carried_by_trace() {
    let sim = Sim::default().await;
    let traceparent = format!("00-{TRACE}-00f067aa0ba902b7-01");
    sim.http
        .get(sim.url("/data/CustomersV3?$top=1"))
        .header("traceparent", &traceparent)
        .header("tracestate", "congo=t61rcWkgMzE")
        .send()
        .await
        .unwrap();
    // Without trace context, and outside D365FO's endpoints: not recorded.
    sim.http
        .get(sim.url("/data/CustomersV3"))
        .send()
        .await
        .unwrap();
    sim.http
        .get(sim.url("/_sim/faults"))
        .header("traceparent", &traceparent)
        .send()
        .await
        .unwrap();
    sim.http
        .get(sim.url("/Metadata/DataEntities"))
        .header(
            "traceparent",
            "00-11111111111111111111111111111111-2222222222222222-00",
        )
        .send()
        .await
        .unwrap();
    let all = traces(&sim, "").await;
    assert_eq!(all["last"], 2, "{all}");
    let one = traces(&sim, &format!("?trace_id={TRACE}")).await;
    assert_eq!(
        one["requests"],
        json!([{"seq": 1, "method": "GET", "path": "/data/CustomersV3",
                "traceparent": traceparent, "tracestate": "congo=t61rcWkgMzE"}])
    );
    assert_eq!(traces(&sim, "?after=1").await["requests"][0]["seq"], 2);
    let bad = sim
        .http
        .get(sim.url("/_sim/traces?after=x"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    sim.http.post(sim.url("/_sim/reset")).send().await.unwrap();
    assert_eq!(traces(&sim, "").await["requests"], json!([]));
}
