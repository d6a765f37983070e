//! Cluster test: a worker told to stop (SIGTERM) drains within its
//! `D365MCP_DRAIN_TIMEOUT`, however long the calls it runs would take, and
//! the edge still answers the call it cut off.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::{Cluster, mcp};

#[tokio::test]
async fn a_worker_stops_at_the_end_of_its_drain_and_the_call_is_answered() {
    // Every D365FO answer takes 20 s; the worker may drain for 500 ms.
    let mut cluster = Cluster::builder()
        .sim_arg("--latency-ms")
        .sim_arg("20000")
        .worker_arg("--cache-warm-up")
        .worker_arg("false")
        .worker_arg("--drain-timeout")
        .worker_arg("500ms")
        .start()
        .await;
    let call = tokio::spawn(
        mcp::stateless_call(
            &cluster.mcp_url(0),
            "d365fo_query_entities",
            json!({"entity_set": "Currencies", "top": 1}),
            json!({}),
        )
        .send(),
    );
    support::cluster::wait_for_sim_request(&cluster.sim.url()).await;

    let stopping = Instant::now();
    cluster.workers[0].terminate().await;
    let took = stopping.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "the worker took {took:?} to stop, not its 500 ms drain"
    );

    // The edge answers the cut-off call (a JSON-RPC answer, not a hang).
    let response = tokio::time::timeout(Duration::from_secs(20), call)
        .await
        .expect("the call is answered")
        .expect("the call's task")
        .expect("an HTTP answer");
    let body: serde_json::Value = response.json().await.expect("a JSON-RPC answer");
    let failed = body.get("error").is_some() || body["result"]["isError"] == true;
    assert!(failed, "the cut-off read reports a failure: {body}");
}
