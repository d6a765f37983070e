//! Cluster tests: 2025 Streamable HTTP sessions shared through Redis by two
//! edges (and two workers): a session moves between edges, is bound to its
//! principal, ends everywhere on DELETE, resumes on another edge after the
//! first is killed, and outlives a Redis restart as far as it can.

// Tests fail loudly on anything unexpected.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::{
    Cluster,
    raw::{self, answer, tool_call},
    redis::RedisServer,
};

const ALICE: &str = "alice-key";
const BOB: &str = "bob-key";

/// Two edges and two workers on `redis`, with API keys for alice and bob.
async fn cluster(redis: &RedisServer, sim_args: &[&str]) -> Cluster {
    let keys = std::env::temp_dir().join(format!("d365mcp-keys-{}.toml", std::process::id()));
    std::fs::write(
        &keys,
        "[keys.alice]\nsha256 = \"72ee9d4355ccb9d3a4c9dbf37382e38e75c1b1a225b5bd1f729ee91bbda30c20\"\n\
         [keys.bob]\nsha256 = \"9b94dc1a51a38769f135edf04033ad7f2f487b6c25929be7a861cfc1ab10cf98\"\n",
    )
    .unwrap();
    let url = redis.url();
    let mut builder = Cluster::builder()
        .workers(2)
        .edges(2)
        .worker_arg("--redis-url")
        .worker_arg(&url)
        .edge_arg("--redis-url")
        .edge_arg(&url)
        .edge_arg("--api-keys-file")
        .edge_arg(keys.to_str().unwrap());
    for arg in sim_args {
        builder = builder.sim_arg(arg);
    }
    builder.start().await
}

fn list(id: u64) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/list", "params": {}})
}

fn customers(top: u64) -> Value {
    json!({"entity_set": "CustomersV3", "top": top, "select": ["CustomerAccount"]})
}

#[tokio::test]
async fn a_session_moves_between_edges_belongs_to_its_caller_and_ends_everywhere() {
    let redis = RedisServer::start();
    let cluster = cluster(&redis, &[]).await;
    let (a, b) = (cluster.mcp_url(0), cluster.mcp_url(1));
    let session = raw::open(&a, Some(ALICE)).await;

    // Opened on A, served by B (which restores it from Redis) and by A again.
    let call = tool_call(1, "d365fo_query_entities", customers(2), json!({}));
    let (status, events) = raw::request(&b, &session, Some(ALICE), &call).await;
    assert_eq!(status, 200);
    let rows = &answer(&events)["result"]["structuredContent"]["rows"];
    assert_eq!(rows.as_array().unwrap().len(), 2, "{events:?}");
    let (status, events) = raw::request(&a, &session, Some(ALICE), &list(2)).await;
    assert_eq!(status, 200);
    assert!(answer(&events)["result"]["tools"].is_array());

    // Another principal presenting the id learns nothing: 404 on both edges.
    for edge in [&a, &b] {
        let (status, events) = raw::request(edge, &session, Some(BOB), &list(3)).await;
        assert_eq!(status, 404, "{events:?}");
    }
    // Without a key at all: 401 before any session lookup.
    let (status, _) = raw::request(&b, &session, None, &list(4)).await;
    assert_eq!(status, 401);

    // DELETE on B ends it on A too, at once.
    let deleted = reqwest::Client::new()
        .delete(&b)
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", raw::PROTOCOL)
        .header("authorization", format!("Bearer {ALICE}"))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    for edge in [&a, &b] {
        let (status, events) = raw::request(edge, &session, Some(ALICE), &list(5)).await;
        assert_eq!(status, 404, "{events:?}");
        let error = events[0].message.as_ref().unwrap();
        assert!(
            error["error"]["message"]
                .as_str()
                .unwrap()
                .contains("initialize"),
            "{error}"
        );
    }
}

/// The ids of the events of a POST's SSE stream read until the first event
/// that carries an id, after which the client walks away.
async fn first_event_then_disconnect(url: &str, session: &str, body: &Value) -> String {
    let mut response = raw::post(url, Some(session), Some(ALICE), body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut text = String::new();
    while let Some(chunk) = response.chunk().await.unwrap() {
        text.push_str(&String::from_utf8_lossy(&chunk));
        if let Some(id) = raw::events(&text).into_iter().find_map(|e| e.id) {
            return id;
        }
    }
    panic!("the stream ended before any event id: {text}");
}

/// Resumes `session`'s stream after `last_event_id` on `url`.
async fn resume(url: &str, session: &str, last_event_id: &str) -> Vec<raw::Event> {
    let response = reqwest::Client::new()
        .get(url)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", session)
        .header("mcp-protocol-version", raw::PROTOCOL)
        .header("authorization", format!("Bearer {ALICE}"))
        .header("last-event-id", last_event_id)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    raw::events(&response.text().await.unwrap())
}

#[tokio::test]
async fn a_stream_resumes_on_another_edge_after_the_first_is_killed() {
    let redis = RedisServer::start();
    // Pages of 10 rows with 200 ms each: a 35-row query reports progress
    // four times over most of a second.
    let mut cluster = cluster(&redis, &["--max-page-size", "10", "--latency-ms", "200"]).await;
    let (a, b) = (cluster.mcp_url(0), cluster.mcp_url(1));
    let session = raw::open(&a, Some(ALICE)).await;
    let call = tool_call(
        7,
        "d365fo_query_entities",
        customers(35),
        json!({"progressToken": "rows"}),
    );
    // The client reads the first event on A and loses the connection.
    let first = first_event_then_disconnect(&a, &session, &call).await;

    // It resumes on B while A still runs the call: B follows the log to the end.
    let followed = resume(&b, &session, &first).await;
    let result = answer(&followed);
    assert_eq!(result["id"], 7, "{followed:?}");
    assert_eq!(
        result["result"]["structuredContent"]["rows"]
            .as_array()
            .unwrap()
            .len(),
        35
    );
    let progress: Vec<&raw::Event> = followed
        .iter()
        .filter(|e| {
            e.message
                .as_ref()
                .is_some_and(|m| m["method"] == "notifications/progress")
        })
        .collect();
    assert!(progress.len() >= 3, "{followed:?}");

    // A dies; B replays the same events from Redis, and from a later id
    // only what came after it.
    cluster.edges[0].kill().await;
    let replayed = resume(&b, &session, &first).await;
    let ids = |events: &[raw::Event]| events.iter().map(|e| e.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&replayed), ids(&followed));
    let middle = progress[0].id.clone().unwrap();
    let rest = resume(&b, &session, &middle).await;
    assert_eq!(ids(&rest), ids(&followed)[1..].to_vec());
    assert_eq!(answer(&rest)["id"], 7);

    // The session itself lives on at B.
    let (status, events) = raw::request(&b, &session, Some(ALICE), &list(8)).await;
    assert_eq!(status, 200, "{events:?}");
}

#[tokio::test]
async fn sessions_ride_out_a_redis_restart() {
    let redis = RedisServer::start();
    let cluster = cluster(&redis, &[]).await;
    let (a, b) = (cluster.mcp_url(0), cluster.mcp_url(1));
    let session = raw::open(&a, Some(ALICE)).await;

    let port = redis.kill();
    // /ready says so, and stays 200: stateless calls still work.
    let ready: Value = cluster.edges[1].ready_with(Some(ALICE)).await;
    assert_eq!(ready["store"]["reachable"], false, "{ready}");
    assert!(
        ready["status"].as_str().unwrap().starts_with("degraded"),
        "{ready}"
    );
    // A holds the session in memory and keeps serving it; B cannot check it: 503.
    let (status, events) = raw::request(&a, &session, Some(ALICE), &list(1)).await;
    assert_eq!(status, 200, "{events:?}");
    let (status, events) = raw::request(&b, &session, Some(ALICE), &list(2)).await;
    assert_eq!(status, 503, "{events:?}");
    // Stateless calls need no shared state.
    let stateless =
        support::mcp::stateless_call(&b, "d365fo_query_entities", customers(1), json!({}))
            .header("authorization", format!("Bearer {ALICE}"))
            .send()
            .await
            .unwrap();
    assert_eq!(stateless.status(), 200);
    assert!(
        stateless
            .text()
            .await
            .unwrap()
            .contains("structuredContent")
    );

    // Redis is back (empty: no persistence in this test). The nodes
    // reconnect by themselves; the lost session is 404, a new one works on
    // both edges.
    let _redis = RedisServer::start_on(port);
    let mut status = 0;
    for _ in 0..50 {
        status = raw::request(&b, &session, Some(ALICE), &list(3)).await.0;
        if status != 503 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 404);
    let ready: Value = cluster.edges[1].ready_with(Some(ALICE)).await;
    assert_eq!(ready["store"]["reachable"], true, "{ready}");
    let fresh = raw::open(&b, Some(ALICE)).await;
    let (status, _) = raw::request(&a, &fresh, Some(ALICE), &list(4)).await;
    assert_eq!(status, 200);
}
