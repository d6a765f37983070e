//! Cluster test: the whole cluster on a 3-node Redis Cluster — processes
//! started with `--redis-url seed,seed,seed --redis-cluster` form one
//! cluster by configuration alone. The shared-state features run end to
//! end: a session moves between edges and ends everywhere, a stream
//! resumes on the other edge, a legacy POST reaches the other edge's
//! stream, and an edge given no worker list finds the workers registered
//! in the cluster.

// Tests fail loudly on anything unexpected.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::{
    Cluster,
    cluster::{Process, wait_for},
    raw::{self, answer, tool_call},
    redis_cluster::RedisCluster,
    sse::SseReader,
};

fn list(id: u64) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/list", "params": {}})
}

#[tokio::test]
async fn sessions_and_legacy_streams_span_edges_on_a_redis_cluster() {
    let redis = RedisCluster::start();
    let seeds = redis.urls().join(",");
    let cluster = Cluster::builder()
        .workers(2)
        .edges(2)
        .sim_arg("--max-page-size")
        .sim_arg("10")
        .worker_arg("--redis-url")
        .worker_arg(&seeds)
        .worker_arg("--redis-cluster")
        .edge_arg("--redis-url")
        .edge_arg(&seeds)
        .edge_arg("--redis-cluster")
        .start()
        .await;
    let (a, b) = (cluster.mcp_url(0), cluster.mcp_url(1));

    // A session opened on A serves on B; a resumed stream on B replays A's events.
    let session = raw::open(&a, None).await;
    let call = tool_call(
        1,
        "d365fo_query_entities",
        json!({"entity_set": "CustomersV3", "top": 25, "select": ["CustomerAccount"]}),
        json!({"progressToken": "p"}),
    );
    let (status, events) = raw::request(&a, &session, None, &call).await;
    assert_eq!(status, 200);
    let first = events
        .iter()
        .find_map(|e| e.id.clone())
        .expect("events carry ids");
    let resumed = reqwest::Client::new()
        .get(&b)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", raw::PROTOCOL)
        .header("last-event-id", &first)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .unwrap();
    assert_eq!(resumed.status(), 200);
    let replayed = raw::events(&resumed.text().await.unwrap());
    assert_eq!(answer(&replayed)["id"], 1, "{replayed:?}");
    let (status, _) = raw::request(&b, &session, None, &list(2)).await;
    assert_eq!(status, 200);

    // DELETE on B: 404 on A.
    let deleted = reqwest::Client::new()
        .delete(&b)
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", raw::PROTOCOL)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let (status, _) = raw::request(&a, &session, None, &list(3)).await;
    assert_eq!(status, 404);

    // Legacy: the stream on A, the POST on B, relayed through the cluster's pub/sub.
    let mut stream = SseReader::get(&format!("{}/sse", cluster.edges[0].url()), &[]).await;
    let (_, endpoint) = stream.next(Duration::from_secs(10)).await;
    let init = json!({"jsonrpc": "2.0", "id": 7, "method": "initialize", "params": {
        "protocolVersion": "2024-11-05", "capabilities": {},
        "clientInfo": {"name": "cluster-test", "version": "0"}}});
    let posted = reqwest::Client::new()
        .post(format!("{}{endpoint}", cluster.edges[1].url()))
        .header("content-type", "application/json")
        .body(init.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 202);
    let answer = stream.message(Duration::from_secs(10)).await;
    assert_eq!(answer["id"], 7, "{answer}");

    // An edge told nothing but the Redis Cluster finds both workers there.
    let args = [
        "edge",
        "--listen",
        "127.0.0.1:0",
        "--redis-url",
        &seeds,
        "--redis-cluster",
    ];
    let edge = Process::start("edge", &args, &[]).await;
    wait_for(&format!("{}/ready", edge.url()), 200).await;
    let ready: Value = edge.ready().await;
    assert_eq!(ready["workers"].as_array().unwrap().len(), 2, "{ready}");
    let call = support::mcp::stateless_call(
        &format!("{}/mcp", edge.url()),
        "d365fo_query_entities",
        json!({"entity_set": "CustomersV3", "top": 1}),
        json!({}),
    )
    .send()
    .await
    .unwrap();
    assert!(call.text().await.unwrap().contains("\"rows\""));
}
