//! Cluster test: the legacy HTTP+SSE transport (2024-11-05) across two
//! edges sharing Redis — the stream on one edge, the POSTs on the other.

// Tests fail loudly on anything unexpected.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::{Cluster, redis::RedisServer};

/// An SSE response read event by event.
struct SseReader {
    response: reqwest::Response,
    buffer: String,
}

impl SseReader {
    async fn open(edge: &str) -> Self {
        let response = reqwest::Client::new()
            .get(format!("{edge}/sse"))
            .header("accept", "text/event-stream")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        Self {
            response,
            buffer: String::new(),
        }
    }

    /// The next event: (event name, data).
    async fn next(&mut self) -> (String, String) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut name = "message".to_owned();
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim());
                    }
                }
                if data.is_empty() {
                    continue; // a keep-alive comment
                }
                return (name, data);
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .expect("an SSE event within 15 s")
                .unwrap()
                .expect("the stream stays open");
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// The next JSON-RPC message on the stream.
    async fn message(&mut self) -> Value {
        let (name, data) = self.next().await;
        assert_eq!(name, "message");
        serde_json::from_str(&data).unwrap()
    }
}

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

    let mut stream = SseReader::open(&a).await;
    let (name, endpoint) = stream.next().await;
    assert_eq!(name, "endpoint");
    assert!(endpoint.starts_with("/message?sessionId="), "{endpoint}");

    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2024-11-05", "capabilities": {},
        "clientInfo": {"name": "legacy-test", "version": "0"}}});
    assert_eq!(post(&b, &endpoint, &init.to_string()).await.0, 202);
    let answer = stream.message().await;
    assert_eq!(answer["id"], 1);
    assert_eq!(answer["result"]["serverInfo"]["name"], "d365mcp");

    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    assert_eq!(post(&b, &endpoint, &initialized.to_string()).await.0, 202);
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
        "name": "d365fo_query_entities",
        "arguments": {"entity_set": "CustomersV3", "top": 2, "select": ["CustomerAccount"]}}});
    assert_eq!(post(&b, &endpoint, &call.to_string()).await.0, 202);
    let answer = stream.message().await;
    assert_eq!(answer["id"], 2, "{answer}");
    let rows = answer["result"]["structuredContent"]["rows"]
        .as_array()
        .unwrap();
    assert_eq!(rows.len(), 2);

    // The stream's own edge takes POSTs too.
    let list = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list"});
    assert_eq!(post(&a, &endpoint, &list.to_string()).await.0, 202);
    assert_eq!(stream.message().await["id"], 3);

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
