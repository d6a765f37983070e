//! Cluster test: the legacy HTTP+SSE transport (2024-11-05) across two
//! edges sharing Redis — the stream on one edge, the POSTs on the other.

// Tests fail loudly on anything unexpected.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use serde_json::json;
use support::{Cluster, redis::RedisServer, sse::SseReader};

const WITHIN: Duration = Duration::from_secs(15);

async fn post(edge: &str, endpoint: &str, body: &str) -> (u16, String) {
    let response = reqwest::Client::new()
        .post(format!("{edge}{endpoint}"))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn posts_to_the_other_edge_reach_the_stream() {
    let redis = RedisServer::start();
    let url = redis.url();
    let cluster = Cluster::builder()
        .edges(2)
        .worker_arg("--redis-url")
        .worker_arg(&url)
        .edge_arg("--redis-url")
        .edge_arg(&url)
        .start()
        .await;
    let (a, b) = (cluster.edges[0].url(), cluster.edges[1].url());

    let mut stream = SseReader::get(&format!("{a}/sse"), &[]).await;
    let (name, endpoint) = stream.next(WITHIN).await;
    assert_eq!(name, "endpoint");
    assert!(endpoint.starts_with("/message?sessionId="), "{endpoint}");

    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2024-11-05", "capabilities": {},
        "clientInfo": {"name": "legacy-test", "version": "0"}}});
    assert_eq!(post(&b, &endpoint, &init.to_string()).await.0, 202);
    let answer = stream.message(WITHIN).await;
    assert_eq!(answer["id"], 1);
    assert_eq!(answer["result"]["serverInfo"]["name"], "d365mcp");

    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    assert_eq!(post(&b, &endpoint, &initialized.to_string()).await.0, 202);
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
        "name": "d365fo_query_entities",
        "arguments": {"entity_set": "CustomersV3", "top": 2, "select": ["CustomerAccount"]}}});
    assert_eq!(post(&b, &endpoint, &call.to_string()).await.0, 202);
    let answer = stream.message(WITHIN).await;
    assert_eq!(answer["id"], 2, "{answer}");
    let rows = answer["result"]["structuredContent"]["rows"]
        .as_array()
        .unwrap();
    assert_eq!(rows.len(), 2);

    // The stream's own edge takes POSTs too.
    let list = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list"});
    assert_eq!(post(&a, &endpoint, &list.to_string()).await.0, 202);
    assert_eq!(stream.message(WITHIN).await["id"], 3);

    // Bad requests, on either edge.
    for edge in [&a, &b] {
        let (status, body) = post(
            edge,
            "/message?sessionId=no-such-session",
            &list.to_string(),
        )
        .await;
        assert_eq!(status, 404, "{body}");
        assert!(body.contains("GET /sse"), "{body}");
        let (status, body) = post(edge, &endpoint, "{not json").await;
        assert_eq!(status, 400, "{body}");
        let (status, _) = post(edge, "/message", &list.to_string()).await;
        assert_eq!(status, 400);
    }

    // The client goes away: the session is gone on both edges.
    drop(stream);
    for edge in [&b, &a] {
        let mut status = 0;
        for _ in 0..50 {
            status = post(edge, &endpoint, &list.to_string()).await.0;
            if status == 404 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(status, 404);
    }
}
