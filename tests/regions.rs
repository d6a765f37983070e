//! Two regions on loopback, each a complete cluster (its own Redis, worker
//! and edge) in front of the one D365FO environment (the simulator), and a
//! global Redis for what must hold across regions (`--global-redis-url`):
//!
//! - a keyed write resent in region B after region A died mid-call is not
//!   sent to D365FO again;
//! - a 429 seen in region A holds back region B;
//! - while the global store is down, writes are refused (retryable, nothing
//!   sent) and reads go on.
//!
//! - the global store is on the write path only: a write costs it two
//!   round trips, a keyed write four, a read none.
//!
//! Each of the first two also runs without the global store, where the
//! regions do not see each other (the write is sent twice; B asks D365FO),
//! so the test can tell the difference.

// Tests fail loudly on anything unexpected.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::{
    cluster::{Process, edge_for, sim_requests, wait_for_sim_request},
    mcp,
    redis::RedisServer,
};

/// How long a call may run at the edges: a first attempt's deadline, after
/// which (and a grace of 5 s) its record says its outcome is unknown.
const CALL_TIMEOUT: &str = "5s";

/// One region: its Redis, worker and edge.
struct Region {
    _redis: RedisServer,
    worker: Process,
    edge: Process,
}

/// The simulator, the global store (when used) and two regions.
struct Regions {
    sim: Process,
    global: Option<RedisServer>,
    regions: Vec<Region>,
}

impl Regions {
    /// Two regions, sharing a global store when `global`.
    async fn start(global: bool) -> Regions {
        let sim_args = ["sim", "--listen", "127.0.0.1:0", "--finish-abandoned"];
        let sim = Process::start("sim", &sim_args, &[]).await;
        let global = global.then(RedisServer::start);
        let mut regions = Vec::new();
        for _ in 0..2 {
            regions.push(region(&sim.url(), global.as_ref()).await);
        }
        Regions {
            sim,
            global,
            regions,
        }
    }

    fn mcp_url(&self, region: usize) -> String {
        format!("{}/mcp", self.regions[region].edge.url())
    }

    /// How many requests for `path` reached D365FO.
    async fn requests(&self, path: &str) -> u64 {
        sim_requests(&self.sim.url()).await["by_path"][path]
            .as_u64()
            .unwrap_or(0)
    }

    async fn set_faults(&self, faults: Value) {
        let put = reqwest::Client::new()
            .put(format!("{}/_sim/faults", self.sim.url()))
            .json(&faults)
            .send()
            .await
            .unwrap();
        assert_eq!(put.status(), 200, "PUT /_sim/faults {faults}");
    }
}

async fn region(sim_url: &str, global: Option<&RedisServer>) -> Region {
    let redis = RedisServer::start();
    let redis_url = redis.url();
    let global_url = global.map(RedisServer::url);
    let mut args = vec![
        "worker",
        "--listen",
        "127.0.0.1:0",
        "--d365fo-base-url",
        sim_url,
        "--redis-url",
        &redis_url,
        "--cache-warm-up",
        "false",
    ];
    if let Some(url) = &global_url {
        args.extend(["--global-redis-url", url]);
    }
    let worker = Process::start("worker", &args, &[]).await;
    let extra = ["--redis-url", &redis_url, "--call-timeout", CALL_TIMEOUT];
    let edge = edge_for(&worker.url(), &extra).await;
    Region {
        _redis: redis,
        worker,
        edge,
    }
}

fn create(code: &str) -> Value {
    json!({"entity_set": "Currencies", "fields": {"CurrencyCode": code, "Name": "Regional"}})
}

fn keyed(key: &str) -> Value {
    json!({"io.d365mcp/idempotencyKey": key})
}

/// A 2026-07-28 `tools/call` through `url`; its JSON-RPC answer (a
/// result, or an error for failures the edge reports as such).
async fn call(url: &str, tool: &str, arguments: Value, meta: Value) -> Value {
    let response = mcp::stateless_call(url, tool, arguments, meta)
        .send()
        .await
        .unwrap();
    let text = response.text().await.unwrap();
    let answer: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{text}"));
    answer
}

async fn query(url: &str) -> Value {
    let arguments = json!({"entity_set": "CustomersV3", "top": 1, "select": ["CustomerAccount"]});
    call(url, "d365fo_query_entities", arguments, json!({})).await
}

/// The error of an answer, a tool error result's or a JSON-RPC error's:
/// its data (`code`, `retryable`) and its text. `None` for a success.
fn failure(answer: &Value) -> Option<(Value, String)> {
    if let Some(error) = answer.get("error") {
        let message = error["message"].as_str().unwrap_or_default().to_owned();
        return Some((error["data"].clone(), message));
    }
    let result = &answer["result"];
    (result["isError"] == true).then(|| {
        let text = result["content"][0]["text"].as_str().unwrap_or_default();
        (result["_meta"]["d365mcp/error"].clone(), text.to_owned())
    })
}

/// The error code of an answer; empty for a success.
fn code(answer: &Value) -> String {
    failure(answer)
        .and_then(|(data, _)| data["code"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Whether an answer is a success.
fn ok(answer: &Value) -> bool {
    answer["result"]["isError"] == false
}

/// Asserts that `answer` failed retryably, its text holding `words`.
fn assert_retryable(answer: &Value, words: &str) {
    let (data, text) = failure(answer).unwrap_or_else(|| panic!("not a failure: {answer}"));
    assert_eq!(data["code"], "unavailable", "{answer}");
    assert_eq!(data["retryable"], true, "{answer}");
    assert!(text.contains(words), "{answer}");
}

/// Region A takes a keyed create and dies (its edge and worker killed)
/// while D365FO runs it; the client resends it, same key, to region B.
/// Returns B's answer, once D365FO has finished the first attempt.
async fn resend_after_region_a_dies(regions: &mut Regions, currency: &str, key: &str) -> Value {
    regions
        .set_faults(json!({"latency": {"fixed_ms": 2000}}))
        .await;
    let first = mcp::stateless_call(
        &regions.mcp_url(0),
        "d365fo_create_entity_record",
        create(currency),
        keyed(key),
    )
    .send();
    let first = tokio::spawn(first);
    wait_for_sim_request(&regions.sim.url()).await;
    regions.regions[0].edge.kill().await;
    regions.regions[0].worker.kill().await;
    let _ = first.await;
    // D365FO finishes the create whose caller went away.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    regions.set_faults(json!({})).await;
    call(
        &regions.mcp_url(1),
        "d365fo_create_entity_record",
        create(currency),
        keyed(key),
    )
    .await
}

#[tokio::test]
async fn a_write_resent_in_another_region_after_the_first_died_is_not_sent_again() {
    let mut regions = Regions::start(true).await;
    let resent = resend_after_region_a_dies(&mut regions, "RGA", "region-key-1").await;
    assert_eq!(regions.requests("/data/Currencies").await, 1, "{resent}");
    // The first attempt's worker died before recording its end: until its
    // deadline (and grace) has passed it may still be running.
    assert_retryable(&resent, "still running");

    // Past it, its outcome is unknown: the client is told to read the
    // record, and D365FO still saw the create once.
    let later = support::wait_until(
        "the first attempt presumed dead",
        Duration::from_secs(20),
        || async {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let answer = call(
                &regions.mcp_url(1),
                "d365fo_create_entity_record",
                create("RGA"),
                keyed("region-key-1"),
            )
            .await;
            match code(&answer).as_str() {
                "outcome_unknown" => Ok(answer),
                _ => {
                    assert_retryable(&answer, "still running");
                    Err(answer.to_string())
                }
            }
        },
    )
    .await;
    assert_eq!(code(&later), "outcome_unknown", "{later}");
    assert_eq!(regions.requests("/data/Currencies").await, 1, "{later}");

    // The record is there, once.
    let read = call(
        &regions.mcp_url(1),
        "d365fo_get_entity_record",
        json!({"entity_set": "Currencies", "key": {"CurrencyCode": "RGA"}}),
        json!({}),
    )
    .await;
    assert!(ok(&read), "{read}");
}

#[tokio::test]
async fn without_a_global_store_the_other_region_sends_the_write_again() {
    let mut regions = Regions::start(false).await;
    let resent = resend_after_region_a_dies(&mut regions, "RGB", "region-key-2").await;
    // Region B knows nothing of A's attempt: the create goes out again
    // (D365FO refuses the duplicate currency here; a create with a
    // generated key would have been applied twice).
    assert_eq!(regions.requests("/data/Currencies").await, 2, "{resent}");
}

#[tokio::test]
async fn a_429_in_one_region_holds_back_the_other() {
    for global in [true, false] {
        let regions = Regions::start(global).await;
        // D365FO allows one more request a minute; A uses it, then hears 429.
        regions
            .set_faults(
                json!({"throttle": {"requests": 1, "window_secs": 60, "retry_after_secs": 30}}),
            )
            .await;
        let first = query(&regions.mcp_url(0)).await;
        assert!(ok(&first), "{first}");
        let throttled = query(&regions.mcp_url(0)).await;
        assert_eq!(code(&throttled), "throttled", "{throttled}");

        let before = regions.requests("/data/CustomersV3").await;
        let held_back = query(&regions.mcp_url(1)).await;
        assert_eq!(code(&held_back), "throttled", "{held_back}");
        let sent = regions.requests("/data/CustomersV3").await - before;
        if global {
            assert_eq!(sent, 0, "region B asked D365FO while it was throttled");
        } else {
            // On regional stores only, B learns of the window by its own 429.
            assert_eq!(sent, 1, "without a global store B asks D365FO");
        }
    }
}

#[tokio::test]
async fn while_the_global_store_is_down_writes_are_refused_and_reads_go_on() {
    let mut regions = Regions::start(true).await;
    let url = regions.mcp_url(0);
    assert!(ok(&query(&url).await));
    let port = regions.global.take().unwrap().kill();

    let read = query(&url).await;
    assert!(ok(&read), "a read needs no global store: {read}");
    for meta in [json!({}), keyed("down-key")] {
        let refused = call(&url, "d365fo_create_entity_record", create("RGD"), meta).await;
        assert_retryable(&refused, "write claims");
    }
    assert_eq!(
        regions.requests("/data/Currencies").await,
        0,
        "a write went out without its claim"
    );

    // The global store is back: the write goes through, once.
    let _global = RedisServer::start_on(port);
    let created = support::wait_until(
        "a write once the global store is back",
        Duration::from_secs(15),
        || async {
            let result = call(
                &url,
                "d365fo_create_entity_record",
                create("RGD"),
                json!({}),
            )
            .await;
            if ok(&result) {
                Ok(result)
            } else {
                Err(result.to_string())
            }
        },
    )
    .await;
    assert!(ok(&created), "{created}");
    assert_eq!(regions.requests("/data/Currencies").await, 1);
}

/// The global store's `calls` of `command` since `before`.
fn calls_since(
    global: &RedisServer,
    before: &std::collections::BTreeMap<String, u64>,
    command: &str,
) -> u64 {
    global
        .calls_since(before)
        .get(command)
        .copied()
        .unwrap_or(0)
}

#[tokio::test]
async fn the_global_store_is_on_the_write_path_only() {
    const N: u64 = 20;
    let regions = Regions::start(true).await;
    let global = regions.global.as_ref().unwrap();
    let url = regions.mcp_url(0);
    // A gate's first request reads the window and subscribes; after that
    // it reads in the background, at most once a second.
    assert!(ok(&query(&url).await));

    let started = std::time::Instant::now();
    let before = global.command_calls();
    for _ in 0..N {
        assert!(ok(&query(&url).await));
    }
    let background = 1 + started.elapsed().as_secs();
    let reads = calls_since(global, &before, "get");
    assert!(
        reads <= background,
        "{N} reads cost {reads} GETs of the global store, more than one a second"
    );
    for command in ["set", "del", "publish", "subscribe"] {
        assert_eq!(calls_since(global, &before, command), 0, "{command}");
    }

    // A write: its claim before it is sent, how it ended after.
    let before = global.command_calls();
    for i in 0..N {
        let code = format!("W{i:02}");
        assert!(ok(&call(
            &url,
            "d365fo_create_entity_record",
            create(&code),
            json!({})
        )
        .await));
    }
    assert_eq!(calls_since(global, &before, "set"), 2 * N);
    assert_eq!(calls_since(global, &before, "del"), 0);

    // A keyed write: its record and its claim before, both settled after.
    let before = global.command_calls();
    for i in 0..N {
        let (code, key) = (format!("K{i:02}"), format!("cost-key-{i}"));
        let answer = call(
            &url,
            "d365fo_create_entity_record",
            create(&code),
            keyed(&key),
        )
        .await;
        assert!(ok(&answer), "{answer}");
    }
    assert_eq!(calls_since(global, &before, "set"), 4 * N);
}
