//! One W3C trace from the MCP client to D365FO: the trace id a client
//! sends (in `params._meta`, or as the HTTP `traceparent` header) crosses
//! the edge and the gRPC hop to the worker and reaches the simulator, each
//! hop on a span id of its own; an invalid one is ignored.

// Tests fail loudly on anything unexpected.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::{Value, json};
use support::{Cluster, mcp::stateless_call, raw};

const QUERY: &str = "d365fo_query_entities";
const CLIENT_SPAN: &str = "00f067aa0ba902b7";

fn query() -> Value {
    json!({"entity_set": "CustomersV3", "top": 2})
}

fn traceparent(trace_id: &str) -> String {
    format!("00-{trace_id}-{CLIENT_SPAN}-01")
}

/// The requests the simulator received in trace `trace_id`.
async fn seen_at_sim(cluster: &Cluster, trace_id: &str) -> Vec<Value> {
    let url = format!("{}/_sim/traces?trace_id={trace_id}", cluster.sim.url());
    let page: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
    page["requests"].as_array().unwrap().clone()
}

/// Asserts that D365FO saw `trace_id`, with the worker's span as parent
/// (not the client's) and the client's `tracestate`, on every request.
fn assert_continued(seen: &[Value], trace_id: &str, tracestate: Option<&str>) {
    assert!(
        !seen.is_empty(),
        "the simulator saw no request of {trace_id}"
    );
    for request in seen {
        let sent = request["traceparent"].as_str().unwrap();
        let fields: Vec<&str> = sent.split('-').collect();
        assert_eq!(fields.len(), 4, "{sent}");
        assert_eq!(fields[0], "00", "{sent}");
        assert_eq!(fields[1], trace_id, "{sent}");
        assert_ne!(fields[2], CLIENT_SPAN, "a hop of its own: {sent}");
        assert_ne!(fields[2], "0000000000000000", "{sent}");
        assert_eq!(fields[3], "01", "the client's flags: {sent}");
        assert_eq!(request["tracestate"].as_str(), tracestate, "{request}");
    }
}

fn assert_answered(events: &[raw::Event]) {
    let answer = raw::answer(events);
    assert!(
        answer["result"]["structuredContent"].is_object(),
        "{answer}"
    );
}

#[tokio::test]
async fn a_trace_id_in_meta_reaches_d365fo_over_grpc() {
    let cluster = Cluster::builder().start().await;
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let meta = json!({"traceparent": traceparent(trace_id), "tracestate": "congo=t61rcWkgMzE"});
    let response = stateless_call(&cluster.mcp_url(0), QUERY, query(), meta)
        .send()
        .await
        .unwrap();
    assert_answered(&raw::events(&response.text().await.unwrap()));
    let seen = seen_at_sim(&cluster, trace_id).await;
    assert_continued(&seen, trace_id, Some("congo=t61rcWkgMzE"));
}

#[tokio::test]
async fn a_traceparent_header_is_followed_when_meta_has_none() {
    let cluster = Cluster::builder().start().await;
    let url = cluster.mcp_url(0);
    let session = raw::open(&url, None).await;
    let call = |id, meta| raw::tool_call(id, QUERY, query(), meta);

    // A 2025 session's call with the header alone.
    let by_header = "0af7651916cd43dd8448eb211c80319c";
    let response = raw::post(&url, Some(&session), None, &call(1, json!({})))
        .header("traceparent", traceparent(by_header))
        .send()
        .await
        .unwrap();
    assert_answered(&raw::events(&response.text().await.unwrap()));
    assert_continued(&seen_at_sim(&cluster, by_header).await, by_header, None);

    // `_meta` wins over the header; an invalid `_meta` value is ignored
    // (the header is used) and is no error to the client.
    let in_meta = "11111111111111111111111111111111";
    let in_header = "22222222222222222222222222222222";
    let response = raw::post(
        &url,
        Some(&session),
        None,
        &call(2, json!({"traceparent": traceparent(in_meta)})),
    )
    .header("traceparent", traceparent(in_header))
    .send()
    .await
    .unwrap();
    assert_answered(&raw::events(&response.text().await.unwrap()));
    assert_continued(&seen_at_sim(&cluster, in_meta).await, in_meta, None);
    assert!(seen_at_sim(&cluster, in_header).await.is_empty());

    let fallback = "33333333333333333333333333333333";
    let invalid = format!("01-{}-{CLIENT_SPAN}-01", "4".repeat(32));
    let response = raw::post(
        &url,
        Some(&session),
        None,
        &call(3, json!({"traceparent": invalid})),
    )
    .header("traceparent", traceparent(fallback))
    .send()
    .await
    .unwrap();
    assert_answered(&raw::events(&response.text().await.unwrap()));
    assert_continued(&seen_at_sim(&cluster, fallback).await, fallback, None);
}
