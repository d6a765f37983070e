//! Redis round trips per stateless read, counted by Redis itself
//! (`INFO commandstats`) on two servers: the edge's and the worker's, so
//! each side's commands are told apart. The budget (issue 21):
//!
//! - the edge: at most one round trip per call, whatever number of limits
//!   apply — here two, the caller's and its tenant's, decided by one script;
//! - the worker: none per read while no throttle window is open — its
//!   throttle gate and circuit breaker go by their pub/sub-fed views, and
//!   only their timers read the store, once per `RESYNC_INTERVAL` each
//!   however many calls run.
//!
//! Periodic work that is no call's is moved out of the way: the metrics
//! publication and the worker's heartbeat run once at start-up and then
//! every few minutes.

// Tests fail loudly on anything unexpected.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use serde_json::json;
use support::{Cluster, mcp, redis::RedisServer};

/// Calls counted; enough that one round trip per call would stand out of
/// any timer's few.
const CALLS: u64 = 100;

/// Time between calls, so that the calls span several of the worker's old
/// one-second refreshes (a read started by requests would show).
const PACE: Duration = Duration::from_millis(30);

/// How often each of the worker's two views reads the store while
/// subscribed (`worker::d365::throttle::RESYNC_INTERVAL`).
const RESYNC: Duration = Duration::from_secs(5);

/// The buckets of an anonymous read under the default limits: the caller's
/// and its tenant's.
const BUCKETS: u64 = 2;

/// One stateless `d365fo_query_entities` through `url`; panics unless it
/// succeeds.
async fn query(url: &str) {
    let arguments = json!({"entity_set": "CustomersV3", "top": 1, "select": ["CustomerAccount"]});
    let response = mcp::stateless_call(url, "d365fo_query_entities", arguments, json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body = response.text().await.unwrap();
    assert!(
        body.contains("\"result\"") && !body.contains("isError\":true"),
        "{body}"
    );
}

/// Round trips in `calls` (commands since a snapshot) of the edge's
/// server for `CALLS` admitted calls. `INFO commandstats` counts the
/// commands a script runs too: each rate-limit script runs `TIME` once, and
/// every call reads and writes each of its buckets once (`GET`, `SET`),
/// however its scripts are cut. What is beyond that was sent by the edge.
fn edge_round_trips(calls: &BTreeMap<String, u64>) -> u64 {
    let count = |name: &str| calls.get(name).copied().unwrap_or(0);
    let scripts = count("evalsha") + count("eval");
    let in_scripts = [
        ("time", scripts),
        ("get", BUCKETS * CALLS),
        ("set", BUCKETS * CALLS),
    ];
    let sent: u64 = calls
        .iter()
        .filter(|(name, _)| !in_scripts.iter().any(|(inner, _)| inner == name))
        .map(|(_, n)| n)
        .sum();
    let beyond: u64 = in_scripts
        .iter()
        .map(|&(name, expected)| count(name).saturating_sub(expected))
        .sum();
    sent + beyond
}

#[tokio::test]
async fn a_stateless_read_costs_the_edge_one_round_trip_and_the_worker_none() {
    let (edge_redis, worker_redis) = (RedisServer::start(), RedisServer::start());
    let (edge_url, worker_url) = (edge_redis.url(), worker_redis.url());
    let quiet = ["--metrics-publish-interval", "5m"];
    let cluster = Cluster::builder()
        .worker_arg("--redis-url")
        .worker_arg(&worker_url)
        .worker_arg("--cache-warm-up")
        .worker_arg("false")
        .worker_arg("--heartbeat-interval")
        .worker_arg("5m")
        .worker_arg("--heartbeat-ttl")
        .worker_arg("15m")
        .worker_arg(quiet[0])
        .worker_arg(quiet[1])
        .edge_arg("--redis-url")
        .edge_arg(&edge_url)
        .edge_arg(quiet[0])
        .edge_arg(quiet[1])
        .start()
        .await;
    let url = cluster.mcp_url(0);
    // The first call loads the script, reads each view once, subscribes and
    // fills the worker's caches: once per process, not per call.
    query(&url).await;

    let (edge_before, worker_before) = (edge_redis.command_calls(), worker_redis.command_calls());
    let started = Instant::now();
    for _ in 0..CALLS {
        query(&url).await;
        tokio::time::sleep(PACE).await;
    }
    let elapsed = started.elapsed();
    let edge = edge_redis.calls_since(&edge_before);
    let worker = worker_redis.calls_since(&worker_before);
    // The INFO of the snapshot itself is no call's.
    let edge = without(edge, "info");
    let worker = without(worker, "info");

    let edge_trips = edge_round_trips(&edge);
    println!("edge: {edge_trips} round trips for {CALLS} calls ({edge:?})");
    assert!(
        edge_trips <= CALLS,
        "{CALLS} calls cost the edge {edge_trips} round trips: {edge:?}"
    );
    assert_eq!(
        edge.get("evalsha").copied().unwrap_or(0),
        CALLS,
        "one rate-limit script per call: {edge:?}"
    );

    // Two views (throttle window, circuit breaker), each read by its timer
    // at most once per RESYNC in `elapsed`, plus one tick at the edges.
    let ticks = 2 * (elapsed.as_secs() / RESYNC.as_secs() + 1);
    let reads = worker.get("get").copied().unwrap_or(0);
    println!("worker: {reads} GETs in {elapsed:?} for {CALLS} calls ({worker:?})");
    assert!(
        reads <= ticks,
        "{CALLS} reads cost the worker {reads} GETs in {elapsed:?}, more than its timers' {ticks}"
    );
    let others: BTreeMap<_, _> = worker.iter().filter(|(name, _)| *name != "get").collect();
    assert!(others.is_empty(), "the worker sent {others:?} for reads");
}

/// `calls` without `command`.
fn without(mut calls: BTreeMap<String, u64>, command: &str) -> BTreeMap<String, u64> {
    calls.remove(command);
    calls
}
