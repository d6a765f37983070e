//! Cluster test: `subscriptions/listen` (2026-07-28). A D365FO service
//! update noticed by the worker reaches listeners on both edges through
//! Redis, as `notifications/resources/updated` for the resources they named.

// Tests fail loudly on anything unexpected.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use serde_json::json;
use support::{Cluster, cluster::sim_requests, raw, redis::RedisServer, sse::SseReader};

/// A 2025 session's standalone stream (`GET`) on `mcp_url`.
async fn standalone(mcp_url: &str, session: &str) -> SseReader {
    SseReader::get(
        mcp_url,
        &[
            ("mcp-session-id", session),
            ("mcp-protocol-version", raw::PROTOCOL),
        ],
    )
    .await
}

/// A `subscriptions/listen` stream on `mcp_url` for `uris`.
async fn listen(mcp_url: &str, uris: &[&str]) -> SseReader {
    let body = json!({"jsonrpc": "2.0", "id": "listen-1", "method": "subscriptions/listen",
    "params": {
        "notifications": {"resourceSubscriptions": uris},
        "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {}
        }
    }});
    let response = reqwest::Client::new()
        .post(mcp_url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "subscriptions/listen")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    SseReader::new(response)
}

async fn version_reads(sim: &str) -> u64 {
    let counts = sim_requests(sim).await;
    counts["by_path"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(path, _)| path.ends_with("GetInstalledModules"))
        .map(|(_, n)| n.as_u64().unwrap())
        .sum()
}

async fn cluster(redis: &RedisServer) -> Cluster {
    let url = redis.url();
    Cluster::builder()
        .edges(2)
        .worker_arg("--redis-url")
        .worker_arg(&url)
        .worker_arg("--cache-version-refresh")
        .worker_arg("1s")
        .edge_arg("--redis-url")
        .edge_arg(&url)
        .start()
        .await
}

/// Waits until the worker has read the version twice (so it knows the old
/// one), then gives D365FO a service update.
async fn upgrade(sim: &str) {
    for _ in 0..100 {
        if version_reads(sim).await >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(version_reads(sim).await >= 2);
    let upgraded = reqwest::Client::new()
        .post(format!("{sim}/_sim/upgrade"))
        .send()
        .await
        .unwrap();
    assert_eq!(upgraded.status(), 200);
}

/// A 2025 session subscribes through one edge and holds its stream on the
/// other: the update arrives on the stream.
#[tokio::test]
async fn a_session_subscribed_on_one_edge_hears_on_its_stream_at_the_other() {
    let redis = RedisServer::start();
    let cluster = cluster(&redis).await;
    let (a, b) = (cluster.mcp_url(0), cluster.mcp_url(1));
    let session = raw::open(&a, None).await;
    let mut stream = standalone(&a, &session).await;
    let schema = "d365fo://entities/CustomersV3/schema";
    let subscribe = json!({"jsonrpc": "2.0", "id": 1, "method": "resources/subscribe",
                           "params": {"uri": schema}});
    let (status, events) = raw::request(&b, &session, None, &subscribe).await;
    assert_eq!(status, 200);
    assert!(raw::answer(&events)["result"].is_object(), "{events:?}");
    let bad = json!({"jsonrpc": "2.0", "id": 2, "method": "resources/subscribe",
                     "params": {"uri": "d365fo://nothing"}});
    let (_, events) = raw::request(&b, &session, None, &bad).await;
    assert!(raw::answer(&events)["error"].is_object(), "{events:?}");

    upgrade(&cluster.sim.url()).await;
    let update = stream.message(Duration::from_secs(10)).await;
    assert_eq!(
        update["method"], "notifications/resources/updated",
        "{update}"
    );
    assert_eq!(update["params"]["uri"], schema);
}

#[tokio::test]
async fn a_service_update_reaches_listeners_on_every_edge() {
    let redis = RedisServer::start();
    let cluster = cluster(&redis).await;
    let schema = "d365fo://entities/CustomersV3/schema";
    let other = "d365fo://environments/elsewhere";
    let mut listeners = Vec::new();
    for edge in 0..2 {
        let mut listen = listen(&cluster.mcp_url(edge), &[schema, other, "https://not-ours"]).await;
        let ack = listen.message(Duration::from_secs(5)).await;
        assert_eq!(
            ack["method"], "notifications/subscriptions/acknowledged",
            "{ack}"
        );
        let accepted = &ack["params"]["notifications"]["resourceSubscriptions"];
        assert_eq!(accepted, &json!([schema, other]), "{ack}");
        listeners.push(listen);
    }

    upgrade(&cluster.sim.url()).await;

    for listen in &mut listeners {
        let update = listen.message(Duration::from_secs(10)).await;
        assert_eq!(
            update["method"], "notifications/resources/updated",
            "{update}"
        );
        assert_eq!(
            update["params"]["uri"], schema,
            "only the default environment changed"
        );
    }
}
