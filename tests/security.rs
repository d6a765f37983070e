//! Issue 15, replayed as an attacker would against real processes: each
//! test makes the attack, asserts the refusal, and asserts that nothing
//! changed behind it (no record created, no D365FO request sent).
//!
//! Findings 1 (`dev` and the API keys), 6 (failed authentication throttled
//! and counted) and 7 (two credentials, a legacy POST that is not JSON, an
//! unmetered `/sse`, a URL too long for D365FO, `/ready` without a key).

// Tests fail loudly on anything unexpected.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::{net::IpAddr, process::Stdio, time::Duration};

use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{Value, json};
use support::{
    Cluster,
    cluster::{Process, sim_requests},
    keyed, mcp,
    redis::RedisServer,
    sse::SseReader,
};

/// alice's key; its digest is in [`keyed::ALICE_ENTRY`].
const ALICE: &str = "alice-key";
const WITHIN: Duration = Duration::from_secs(10);

/// Two edges with alice's key and a worker, on `redis`; a client address
/// may fail authentication 5 times a minute.
async fn keyed_cluster(redis: &RedisServer, name: &str, extra: &[&str]) -> Cluster {
    let keys = keyed::keys_file(&format!("security-{name}"), keyed::ALICE_ENTRY);
    let mut edge_args = vec!["--auth-failure-limit", "5", "--auth-failure-window", "1m"];
    edge_args.extend_from_slice(extra);
    keyed::cluster(redis, &keys, &edge_args).await
}

/// A stateless create of currency `code`: the write an attacker wants.
fn create(url: &str, code: &str) -> reqwest::RequestBuilder {
    mcp::stateless_call(
        url,
        "d365fo_create_entity_record",
        json!({"entity_set": "Currencies", "fields": {"CurrencyCode": code, "Name": "Attacker"}}),
        json!({}),
    )
}

/// How many creates of currencies D365FO (the simulator) has received.
async fn creates(sim: &str) -> u64 {
    sim_requests(sim).await["by_path"]["/data/Currencies"]
        .as_u64()
        .unwrap_or(0)
}

/// The answer to a stateless `d365fo_query_entities` with `arguments`,
/// sent to `url` with alice's key.
async fn query_as_alice(url: &str, arguments: Value) -> Value {
    mcp::stateless_call(url, "d365fo_query_entities", arguments, json!({}))
        .bearer_auth(ALICE)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Whether currency `code` exists, read through `url` with alice's key.
async fn currency_exists(url: &str, code: &str) -> bool {
    let body = query_as_alice(
        url,
        json!({"entity_set": "Currencies", "filter": format!("CurrencyCode eq '{code}'"),
               "select": ["CurrencyCode"]}),
    )
    .await;
    let rows = body["result"]["structuredContent"]["rows"]
        .as_array()
        .unwrap_or_else(|| panic!("a query's rows: {body}"));
    !rows.is_empty()
}

/// Runs `d365mcp args` with `envs` to its end (it must refuse to start).
async fn refused_start(args: &[&str], envs: &[(&str, &str)]) -> (i32, String) {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_d365mcp"));
    command
        .args(args)
        .env_remove("D365MCP_API_KEYS_FILE")
        .env_remove("D365MCP_ALLOW_ANONYMOUS")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in envs {
        command.env(k, v);
    }
    let output = tokio::time::timeout(WITHIN, command.output())
        .await
        .unwrap_or_else(|_| panic!("d365mcp {args:?} started instead of refusing"))
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.code().unwrap_or(-1), stderr)
}

/// Finding 1: `dev` reads the keys file (setting and flag) like `edge`, and
/// neither serves a non-loopback address to anonymous callers unless told.
#[tokio::test]
async fn dev_honours_the_keys_file_and_refuses_the_network_without_keys() {
    let keys = keyed::keys_file("security-dev", keyed::ALICE_ENTRY);
    let by_env = Process::start(
        "dev",
        &["dev", "--listen", "127.0.0.1:0"],
        &[("D365MCP_API_KEYS_FILE", &keys)],
    )
    .await;
    let by_flag = Process::start(
        "dev",
        &["dev", "--listen", "127.0.0.1:0", "--api-keys-file", &keys],
        &[],
    )
    .await;
    for dev in [&by_env, &by_flag] {
        let url = format!("{}/mcp", dev.url());
        support::cluster::wait_for(&format!("{}/ready", dev.url()), 200).await;
        let refused = create(&url, "ZSA").send().await.unwrap();
        assert_eq!(refused.status(), 401);
        let body: Value = refused.json().await.unwrap();
        assert_eq!(body["error"]["data"]["code"], "unauthenticated", "{body}");
        assert!(!currency_exists(&url, "ZSA").await, "nothing was created");
    }

    for args in [
        &["dev", "--listen", "0.0.0.0:0"][..],
        &[
            "edge",
            "--listen",
            "0.0.0.0:0",
            "--workers",
            "http://127.0.0.1:1",
        ][..],
    ] {
        let (code, stderr) = refused_start(args, &[]).await;
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains("D365MCP_API_KEYS_FILE"), "{stderr}");
        assert!(stderr.contains("D365MCP_ALLOW_ANONYMOUS"), "{stderr}");
    }
    // Said explicitly, it starts (and warns).
    let open = Process::start(
        "dev",
        &["dev", "--listen", "0.0.0.0:0", "--allow-anonymous"],
        &[],
    )
    .await;
    assert!(open.addr.ip().is_unspecified());
}

/// Finding 6: 300 wrong keys in a row from one address: 5 are answered
/// 401, the rest 429 with Retry-After — a valid key from that address too,
/// for the rest of the window — while another address is served; the
/// edge counts both, and nothing reached D365FO.
#[tokio::test]
async fn wrong_keys_are_throttled_per_address_and_counted() {
    let redis = RedisServer::start();
    let cluster = keyed_cluster(&redis, "failures", &[]).await;
    let url = cluster.mcp_url(0);
    let attacker = reqwest::Client::builder()
        .local_address("127.0.0.2".parse::<IpAddr>().unwrap())
        .build()
        .unwrap();
    let (mut unauthenticated, mut throttled) = (0, 0);
    for i in 0..300 {
        let request = attacker.execute(
            create(&url, "ZSB")
                .bearer_auth(format!("guess-{i:04}-0123456789"))
                .build()
                .unwrap(),
        );
        let response = request.await.unwrap();
        match response.status().as_u16() {
            401 => unauthenticated += 1,
            429 => {
                let retry: u64 = response.headers()["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert!((1..=60).contains(&retry), "Retry-After {retry}");
                let body: Value = response.json().await.unwrap();
                assert_eq!(body["error"]["data"]["code"], "rate_limited", "{body}");
                assert_eq!(body["error"]["data"]["limit"], "auth_failures", "{body}");
                throttled += 1;
            }
            other => panic!("wrong key {i}: HTTP {other}"),
        }
    }
    assert_eq!((unauthenticated, throttled), (5, 295));

    let good = attacker
        .execute(create(&url, "ZSB").bearer_auth(ALICE).build().unwrap())
        .await
        .unwrap();
    assert_eq!(good.status(), 429, "refused before the key is checked");

    // Another address (127.0.0.1) is served, and reads the counters.
    let ready: Value = reqwest::Client::new()
        .get(format!("{}/ready", cluster.edges[0].url()))
        .bearer_auth(ALICE)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        ready["auth"],
        json!({"failed": 5, "refused": 296}),
        "{ready}"
    );
    assert_eq!(
        creates(&cluster.sim.url()).await,
        0,
        "nothing reached D365FO"
    );
    assert!(!currency_exists(&url, "ZSB").await);
}

/// Finding 7: two `Authorization` headers are refused with 400 rather than
/// the first one read, and the write is not made.
#[tokio::test]
async fn two_credentials_are_refused_and_nothing_is_written() {
    let redis = RedisServer::start();
    let cluster = keyed_cluster(&redis, "two-keys", &[]).await;
    let url = cluster.mcp_url(1);
    let mut both = HeaderMap::new();
    both.append(
        "authorization",
        HeaderValue::from_static("Bearer alice-key"),
    );
    both.append(
        "authorization",
        HeaderValue::from_static("Bearer other-key"),
    );
    let mut mixed = HeaderMap::new();
    mixed.append(
        "authorization",
        HeaderValue::from_static("Bearer alice-key"),
    );
    mixed.append("x-api-key", HeaderValue::from_static("other-key"));
    for headers in [both, mixed] {
        let response = create(&url, "ZSC").headers(headers).send().await.unwrap();
        assert_eq!(response.status(), 400);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["data"]["code"], "invalid_request", "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("exactly one credential"),
            "{body}"
        );
    }
    assert_eq!(creates(&cluster.sim.url()).await, 0);
    assert!(!currency_exists(&url, "ZSC").await);
}

/// Finding 7: a legacy `POST /message` that is not declared JSON (what a
/// cross-site form can send) is refused with 415 and never reaches the
/// session; a JSON one after it does.
#[tokio::test]
async fn a_legacy_post_that_is_not_json_is_refused() {
    let redis = RedisServer::start();
    let cluster = keyed_cluster(&redis, "legacy", &[]).await;
    let edge = cluster.edges[0].url();
    let bearer = format!("Bearer {ALICE}");
    let mut stream = SseReader::get(&format!("{edge}/sse"), &[("authorization", &bearer)]).await;
    let (name, endpoint) = stream.next(WITHIN).await;
    assert_eq!(name, "endpoint");
    let post = |content_type: &'static str, body: Value| {
        reqwest::Client::new()
            .post(format!("{edge}{endpoint}"))
            .bearer_auth(ALICE)
            .header("content-type", content_type)
            .body(body.to_string())
            .send()
    };
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2024-11-05", "capabilities": {},
        "clientInfo": {"name": "security-test", "version": "0"}}});
    assert_eq!(post("application/json", init).await.unwrap().status(), 202);
    assert_eq!(stream.message(WITHIN).await["id"], 1);
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    assert_eq!(
        post("application/json", initialized)
            .await
            .unwrap()
            .status(),
        202
    );

    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
        "name": "d365fo_create_entity_record",
        "arguments": {"entity_set": "Currencies", "fields": {"CurrencyCode": "ZSD", "Name": "Form"}}}});
    let refused = post("text/plain", call).await.unwrap();
    assert_eq!(refused.status(), 415);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["data"]["code"], "invalid_request", "{body}");

    let list = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list"});
    assert_eq!(post("application/json", list).await.unwrap().status(), 202);
    assert_eq!(
        stream.message(WITHIN).await["id"],
        3,
        "the refused call never reached the session"
    );
    assert_eq!(creates(&cluster.sim.url()).await, 0);
}

/// Finding 7: opening `GET /sse` takes from the caller's rate limit like a
/// request: past the burst it is refused with 429 and no stream opens.
#[tokio::test]
async fn legacy_streams_are_rate_limited() {
    let redis = RedisServer::start();
    let limits = std::env::temp_dir().join(format!(
        "d365mcp-security-limits-{}.toml",
        std::process::id()
    ));
    std::fs::write(&limits, "[principal]\nrate = 0.01\nburst = 3\n").unwrap();
    let cluster = keyed_cluster(
        &redis,
        "sse",
        &["--rate-limits-file", limits.to_str().unwrap()],
    )
    .await;
    let bearer = format!("Bearer {ALICE}");
    let mut open = Vec::new();
    for edge in [0, 1, 0] {
        let url = format!("{}/sse", cluster.edges[edge].url());
        open.push(SseReader::get(&url, &[("authorization", &bearer)]).await);
    }
    for edge in [0, 1] {
        let refused = reqwest::Client::new()
            .get(format!("{}/sse", cluster.edges[edge].url()))
            .header("accept", "text/event-stream")
            .bearer_auth(ALICE)
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 429, "edge {edge}");
        assert!(refused.headers().contains_key("retry-after"));
        let body: Value = refused.json().await.unwrap();
        assert_eq!(body["error"]["data"]["limit"], "principal", "{body}");
    }
    assert_eq!(open.len(), 3);
}

/// Finding 7: a filter too long for a URL is the caller's error
/// (`invalid_arguments`, not retryable), found before anything is sent.
#[tokio::test]
async fn a_filter_too_long_for_a_url_is_refused_before_anything_is_sent() {
    let redis = RedisServer::start();
    let cluster = keyed_cluster(&redis, "long-filter", &[]).await;
    let terms: Vec<String> = (0..10_000)
        .map(|i| format!("CustomerAccount eq 'US-{i:05}'"))
        .collect();
    support::cluster::reset_sim(&cluster.sim.url()).await;
    let body = query_as_alice(
        &cluster.mcp_url(0),
        json!({"entity_set": "CustomersV3", "filter": terms.join(" or "),
               "select": ["CustomerAccount"]}),
    )
    .await;
    let error = body["result"]["_meta"]["d365mcp/error"].clone();
    assert_eq!(body["result"]["isError"], true, "{body}");
    assert_eq!(error["code"], "invalid_arguments", "{body}");
    assert_eq!(error["retryable"], false, "{body}");
    assert!(body.to_string().contains("D365FO accepts"), "{body}");
    let sent = sim_requests(&cluster.sim.url()).await["by_path"]["/data/CustomersV3"].clone();
    assert!(sent.is_null() || sent == 0, "D365FO got {sent} requests");
}

/// Finding 7: `/ready` tells an anonymous prober its status word only; a
/// valid key sees the workers and the store.
#[tokio::test]
async fn readiness_details_need_a_key() {
    let redis = RedisServer::start();
    let cluster = keyed_cluster(&redis, "ready", &[]).await;
    let ready = format!("{}/ready", cluster.edges[0].url());
    let client = reqwest::Client::new();
    for request in [client.get(&ready), client.get(&ready).bearer_auth("wrong")] {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body, json!({"status": "ready"}), "no worker URL leaks");
    }
    let body: Value = client
        .get(&ready)
        .bearer_auth(ALICE)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let workers = body["workers"].as_array().unwrap();
    assert_eq!(workers[0]["url"], cluster.workers[0].url(), "{body}");
    assert_eq!(body["store"]["reachable"], true, "{body}");
}
