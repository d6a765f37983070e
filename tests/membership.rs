//! Worker membership: workers and edges started with `--redis-url` only (no
//! `--workers`) form one cluster. Edges follow the workers that register:
//! a killed worker drops out when its lease runs out, a stopped one at once,
//! a new one joins and takes calls; a Redis outage empties no ring.

// Tests fail loudly on anything unexpected.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::{
    io::{BufRead, BufReader, Write},
    net::TcpStream,
    time::{Duration, Instant},
};

use bytes::Bytes;
use common::{
    membership::WORKERS,
    store::{MemberStore, RedisStore},
};
use serde_json::json;
use support::{
    cluster::Process,
    mcp::{self, Era},
    redis::RedisServer,
};

/// Edges re-read the members this often.
const REFRESH: &str = "250ms";

async fn start_worker(sim: &Process, redis: &RedisServer, ttl: &str) -> Process {
    let (sim, redis) = (sim.url(), redis.url());
    let args = [
        "worker",
        "--listen",
        "127.0.0.1:0",
        "--d365fo-base-url",
        &sim,
        "--redis-url",
        &redis,
        "--heartbeat-interval",
        "250ms",
        "--heartbeat-ttl",
        ttl,
        "--cache-warm-up",
        "false",
    ];
    Process::start("worker", &args, &[]).await
}

async fn start_edge(redis: &RedisServer) -> Process {
    let redis = redis.url();
    let args = [
        "edge",
        "--listen",
        "127.0.0.1:0",
        "--redis-url",
        &redis,
        "--members-refresh",
        REFRESH,
        "--health-interval",
        "250ms",
    ];
    Process::start("edge", &args, &[]).await
}

/// The worker URLs `edge`'s `/ready` lists, sorted.
async fn listed(edge: &Process) -> Vec<String> {
    let body: serde_json::Value = edge.ready().await;
    let mut urls: Vec<String> = body["workers"]
        .as_array()
        .expect("a worker list")
        .iter()
        .map(|w| w["url"].as_str().expect("a URL").to_owned())
        .collect();
    urls.sort();
    urls
}

/// Waits until `edge` lists exactly `workers`; returns how long that took.
async fn wait_for_workers(edge: &Process, workers: &[&Process], within: Duration) -> Duration {
    let mut expected: Vec<String> = workers.iter().map(|w| w.url()).collect();
    expected.sort();
    let started = Instant::now();
    loop {
        let now = listed(edge).await;
        if now == expected {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "edge lists {now:?}, not {expected:?}, after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A read-only call through `edge` succeeds.
async fn call_through(edge: &Process) {
    let client = mcp::connect(&format!("{}/mcp", edge.url()), Era::Stateless2026).await;
    let result = mcp::call_ok(
        &client,
        "d365fo_query_entities",
        json!({"entity_set": "CustomersV3", "top": 2, "select": ["CustomerAccount"]}),
    )
    .await;
    let rows = &result.structured_content.expect("structured content")["rows"];
    assert_eq!(rows.as_array().map(Vec::len), Some(2), "{rows}");
}

/// Runs one command on `server` over a plain connection and returns the
/// first line of the reply.
fn redis_command(server: &RedisServer, args: &[&str]) -> String {
    let address = server.url().replace("redis://", "");
    let mut stream = TcpStream::connect(address).expect("connect to redis-server");
    let mut request = format!("*{}\r\n", args.len());
    for arg in args {
        request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
    }
    stream.write_all(request.as_bytes()).expect("send");
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).expect("reply");
    line.trim_end().to_owned()
}

#[tokio::test]
async fn the_member_keys_carry_the_prefix_one_hash_tag_and_a_ttl() {
    let server = RedisServer::start();
    let store = RedisStore::open(&server.url()).unwrap();
    let lease = Duration::from_secs(30);
    store
        .heartbeat(WORKERS, "w1", Bytes::from_static(b"{}"), lease)
        .await
        .unwrap();
    for key in [
        "d365mcp:members:v1:{workers}:expiry",
        "d365mcp:members:v1:{workers}:payload",
    ] {
        let reply = redis_command(&server, &["PTTL", key]);
        let ttl: i64 = reply.trim_start_matches(':').parse().expect(&reply);
        assert!((20_000..=30_000).contains(&ttl), "{key}: PTTL {ttl}");
    }
    store.leave(WORKERS, "w1").await.unwrap();
    assert_eq!(
        redis_command(&server, &["HLEN", "d365mcp:members:v1:{workers}:payload"]),
        ":0",
        "leaving removes the payload too"
    );
}

#[tokio::test]
async fn edges_follow_the_workers_that_register_in_redis() {
    let redis = RedisServer::start();
    let sim = Process::start("sim", &["sim", "--listen", "127.0.0.1:0"], &[]).await;
    // The first dies (a short lease); the second stops gracefully (a lease
    // so long that only its leaving can drop it in time).
    let mut dies = start_worker(&sim, &redis, "2s").await;
    let mut stops = start_worker(&sim, &redis, "60s").await;
    let edges = [start_edge(&redis).await, start_edge(&redis).await];
    for edge in &edges {
        wait_for_workers(edge, &[&dies, &stops], Duration::from_secs(5)).await;
        call_through(edge).await;
    }

    dies.kill().await;
    let dropped = wait_for_workers(&edges[0], &[&stops], Duration::from_secs(8)).await;
    eprintln!("a killed worker left the ring after {dropped:?}");
    wait_for_workers(&edges[1], &[&stops], Duration::from_secs(2)).await;
    for edge in &edges {
        call_through(edge).await;
    }

    let joins = start_worker(&sim, &redis, "2s").await;
    for edge in &edges {
        wait_for_workers(edge, &[&stops, &joins], Duration::from_secs(5)).await;
    }

    stops.terminate().await;
    for edge in &edges {
        // Far sooner than its 60 s lease: it left.
        wait_for_workers(edge, &[&joins], Duration::from_secs(5)).await;
        // Only the newcomer is left to take the call.
        call_through(edge).await;
    }
}

#[tokio::test]
async fn a_redis_outage_keeps_the_ring_and_heartbeats_resume_after_it() {
    let redis = RedisServer::start();
    let sim = Process::start("sim", &["sim", "--listen", "127.0.0.1:0"], &[]).await;
    let workers = [
        start_worker(&sim, &redis, "1s").await,
        start_worker(&sim, &redis, "1s").await,
    ];
    let all: Vec<&Process> = workers.iter().collect();
    let edge = start_edge(&redis).await;
    wait_for_workers(&edge, &all, Duration::from_secs(5)).await;

    let port = redis.kill();
    // Several leases long: a ring built from an empty read would be empty.
    // A sleep on purpose: what is tested is that nothing happens in it.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(listed(&edge).await.len(), 2, "the edge keeps its workers");
    call_through(&edge).await;

    // The restarted Redis is empty: the workers must register again, as a
    // new edge that knew nothing before sees.
    let redis = RedisServer::start_on(port);
    let watching = Instant::now();
    while watching.elapsed() < Duration::from_millis(1500) {
        // The first edge drops neither while they do.
        assert_eq!(listed(&edge).await.len(), 2, "the edge dropped a worker");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let newcomer = start_edge(&redis).await;
    wait_for_workers(&newcomer, &all, Duration::from_secs(5)).await;
    call_through(&newcomer).await;
    wait_for_workers(&edge, &all, Duration::from_secs(1)).await;
    call_through(&edge).await;
}
