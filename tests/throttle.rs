//! Cluster test: D365FO's throttling is shared by workers on one Redis. A
//! 429 that one worker gets holds back another worker process, which then
//! refuses calls without sending D365FO anything.

// Tests fail loudly on anything unexpected.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::json;
use support::{
    cluster::{Process, edge_for, sim_requests},
    mcp,
    redis::RedisServer,
};

async fn query(edge: &Process) -> String {
    mcp::stateless_call(
        &format!("{}/mcp", edge.url()),
        "d365fo_query_entities",
        json!({"entity_set": "CustomersV3", "top": 1, "select": ["CustomerAccount"]}),
        json!({}),
    )
    .send()
    .await
    .unwrap()
    .text()
    .await
    .unwrap()
}

#[tokio::test]
async fn a_429_seen_by_one_worker_holds_back_the_other() {
    let redis = RedisServer::start();
    let url = redis.url();
    let sim = Process::start("sim", &["sim", "--listen", "127.0.0.1:0"], &[]).await;
    let sim_url = sim.url();
    let mut workers = Vec::new();
    for _ in 0..2 {
        let args = [
            "worker",
            "--listen",
            "127.0.0.1:0",
            "--d365fo-base-url",
            &sim_url,
            "--redis-url",
            &url,
            "--cache-warm-up",
            "false",
        ];
        workers.push(Process::start("worker", &args, &[]).await);
    }
    // One edge per worker, so each call's worker is known. A call may run
    // 5 s: shorter than the Retry-After, so a throttled call fails at once.
    let mut edges = Vec::new();
    for worker in &workers {
        edges.push(edge_for(&worker.url(), &["--call-timeout", "5s"]).await);
    }
    // Both workers have started; now D365FO allows one more request a minute.
    let faults = json!({"throttle": {"requests": 1, "window_secs": 60, "retry_after_secs": 30}});
    let put = reqwest::Client::new()
        .put(format!("{sim_url}/_sim/faults"))
        .json(&faults)
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);

    // Worker 0 uses the one request, then is told 429.
    assert!(query(&edges[0]).await.contains("\"rows\""));
    let throttled = query(&edges[0]).await;
    assert!(throttled.contains("throttled"), "{throttled}");

    // Worker 1 was never told, yet refuses at once without asking D365FO.
    let before = sim_requests(&sim_url).await["total"].as_u64().unwrap();
    let held_back = query(&edges[1]).await;
    assert!(held_back.contains("throttled"), "{held_back}");
    assert!(held_back.contains("\"isError\":true"), "{held_back}");
    let after = sim_requests(&sim_url).await["total"].as_u64().unwrap();
    assert_eq!(
        after, before,
        "worker 1 sent D365FO a request while it was throttled"
    );
}
