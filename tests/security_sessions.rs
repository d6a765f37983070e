//! Issue 15, findings 2 and 3, replayed as an attacker would against real
//! processes (two edges, a worker, Redis): each test makes the attack,
//! asserts the refusal, and asserts that nothing grew behind it.
//!
//! - Finding 2: a huge `initialize` is refused and nothing is stored; a
//!   session record holds short client strings only; client text in an
//!   error is a short prefix; sessions and legacy streams are capped per key
//!   and per tenant, and a slot comes back when a session ends.
//! - Finding 3: slow and idle connections are closed, a keyed client is
//!   served through a flood of them, and connections beyond the limit are
//!   refused with 503 while the edge keeps serving.

// Tests fail loudly on anything unexpected.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Cluster, keyed, raw, redis::RedisServer};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// alice's and bob's keys (tenant contoso); carol's (tenant fabrikam).
const ALICE: &str = "alice-key";
const BOB: &str = "bob-key";

/// Two edges with alice's and bob's keys and a worker, on `redis`.
async fn cluster(redis: &RedisServer, name: &str, extra: &[&str]) -> Cluster {
    let entries = format!("{}{}", keyed::ALICE_ENTRY, keyed::BOB_ENTRY);
    let keys = keyed::keys_file(&format!("security-sessions-{name}"), &entries);
    keyed::cluster(redis, &keys, extra).await
}

async fn redis(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// The store keys matching `pattern` and their total value size.
async fn keys_and_bytes(url: &str, pattern: &str) -> (usize, u64) {
    let mut con = redis(url).await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(pattern)
        .query_async(&mut con)
        .await
        .unwrap();
    let mut bytes = 0;
    for key in &keys {
        let len: u64 = redis::cmd("STRLEN")
            .arg(key)
            .query_async(&mut con)
            .await
            .unwrap_or(0);
        bytes += len;
    }
    (keys.len(), bytes)
}

async fn used_memory(url: &str) -> u64 {
    let mut con = redis(url).await;
    let info: String = redis::cmd("INFO")
        .arg("memory")
        .query_async(&mut con)
        .await
        .unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap()
}

fn initialize(title: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": raw::PROTOCOL, "capabilities": {},
        "clientInfo": {"name": "attacker", "version": "1", "title": title}
    }})
}

async fn alive(cluster: &Cluster) {
    for edge in &cluster.edges {
        let health = reqwest::get(format!("{}/health", edge.url()))
            .await
            .unwrap();
        assert_eq!(health.status(), 200, "edge {} alive", edge.addr);
    }
}

/// Ten 3 MB `initialize`s: each refused (400, invalid_request, a short
/// message); no session key is written and Redis grows by less than 1 MiB
/// (it grew by 39 MiB before). A 10 KB title under the limit is accepted
/// and its record holds 128 characters of it: under 2 KiB.
#[tokio::test]
async fn a_huge_initialize_is_refused_and_a_record_keeps_short_strings() {
    let redis = RedisServer::start();
    let cluster = cluster(&redis, "huge-init", &[]).await;
    let before = used_memory(&redis.url()).await;
    let huge = initialize(&"t".repeat(3 * 1024 * 1024));
    for i in 0..10 {
        let response = raw::post(&cluster.mcp_url(i % 2), None, Some(ALICE), &huge)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
        assert!(response.headers().get("mcp-session-id").is_none());
        let body = response.text().await.unwrap();
        assert!(body.len() < 1024, "{} bytes of answer", body.len());
        let answer: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(answer["error"]["data"]["code"], "invalid_request");
    }
    let (sessions, _) = keys_and_bytes(&redis.url(), "d365mcp:session:v1:*").await;
    assert_eq!(sessions, 0, "no session record, no slot");
    let grown = used_memory(&redis.url()).await.saturating_sub(before);
    assert!(grown < 1024 * 1024, "Redis grew by {grown} bytes");

    let response = raw::post(
        &cluster.mcp_url(0),
        None,
        Some(ALICE),
        &initialize(&"é".repeat(5_000)),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    let id = response.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let (n, bytes) = keys_and_bytes(&redis.url(), &format!("d365mcp:session:v1:{id}")).await;
    assert_eq!(n, 1);
    assert!(bytes < 2048, "a record of {bytes} bytes");
    alive(&cluster).await;
}

/// A 3 MB tool name and a 1 MB non-string `environment` come back as at
/// most a short prefix (the whole name was reflected before).
#[tokio::test]
async fn client_text_in_an_error_is_a_short_prefix() {
    let redis = RedisServer::start();
    let cluster = cluster(&redis, "reflect", &[]).await;
    let url = cluster.mcp_url(0);
    let session = raw::open(&url, Some(ALICE)).await;
    let name = "x".repeat(3 * 1024 * 1024);
    let call = raw::tool_call(1, &name, json!({}), json!({}));
    let (_, events) = raw::request(&url, &session, Some(ALICE), &call).await;
    let answer = raw::answer(&events);
    let message = answer["error"]["message"].as_str().unwrap();
    assert_eq!(answer["error"]["data"]["code"], "unknown_tool");
    assert!(message.len() < 512, "{} bytes reflected", message.len());
    let environment = json!(["e".repeat(1024 * 1024)]);
    let call = raw::tool_call(
        2,
        "d365fo_test_connection",
        json!({"environment": environment}),
        json!({}),
    );
    let (_, events) = raw::request(&url, &session, Some(ALICE), &call).await;
    let text = raw::answer(&events).to_string();
    assert!(text.len() < 2048, "{} bytes reflected", text.len());
    alive(&cluster).await;
}

/// alice may hold 3 sessions, her tenant 5, across both edges: the 4th is
/// refused with 429 naming the cap and how to free a slot; a DELETE frees
/// one; bob then fills the tenant. The store holds no more slots than the caps.
#[tokio::test]
async fn sessions_are_capped_per_key_and_tenant_across_edges() {
    let redis = RedisServer::start();
    let caps = [
        "--max-sessions-per-key",
        "3",
        "--max-sessions-per-tenant",
        "5",
    ];
    let cluster = cluster(&redis, "caps", &caps).await;
    let mut alices = Vec::new();
    for i in 0..3 {
        alices.push(raw::open(&cluster.mcp_url(i % 2), Some(ALICE)).await);
    }
    for i in 0..4 {
        let response = raw::post(&cluster.mcp_url(i % 2), None, Some(ALICE), &initialize("c"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 429);
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["error"]["data"]["code"], "rate_limited");
        assert_eq!(answer["error"]["data"]["limit"], "sessions_per_key");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("D365MCP_MAX_SESSIONS_PER_KEY"),
            "{message}"
        );
        assert!(
            answer["error"]["data"]["hint"]
                .as_str()
                .unwrap()
                .contains("DELETE")
        );
    }
    let (slots, _) = keys_and_bytes(&redis.url(), "d365mcp:session:v1:slot:key:alice:*").await;
    assert_eq!(slots, 3);
    // DELETE on the other edge frees a slot for a new session.
    let deleted = reqwest::Client::new()
        .delete(cluster.mcp_url(1))
        .header("mcp-session-id", &alices[0])
        .header("authorization", format!("Bearer {ALICE}"))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    raw::open(&cluster.mcp_url(0), Some(ALICE)).await;
    // The tenant holds 3 of 5: bob gets 2, then the tenant's cap refuses him.
    raw::open(&cluster.mcp_url(0), Some(BOB)).await;
    raw::open(&cluster.mcp_url(1), Some(BOB)).await;
    let response = raw::post(&cluster.mcp_url(0), None, Some(BOB), &initialize("c"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["error"]["data"]["limit"], "sessions_per_tenant");
    let (slots, _) = keys_and_bytes(&redis.url(), "d365mcp:session:v1:slot:tenant:contoso:*").await;
    assert_eq!(slots, 5);
    alive(&cluster).await;
}

/// alice may hold 2 legacy streams on an edge: the 3rd is refused with 429
/// naming the cap; closing one frees its slot.
#[tokio::test]
async fn legacy_streams_are_capped_per_key() {
    let redis = RedisServer::start();
    let cluster = cluster(&redis, "streams", &["--max-streams-per-key", "2"]).await;
    let sse = format!("{}/sse", cluster.edges[0].url());
    let get = || {
        reqwest::Client::new()
            .get(&sse)
            .header("accept", "text/event-stream")
            .header("authorization", format!("Bearer {ALICE}"))
            .send()
    };
    let first = get().await.unwrap();
    let _second = get().await.unwrap();
    assert_eq!(first.status(), 200);
    let refused = get().await.unwrap();
    assert_eq!(refused.status(), 429);
    let answer: Value = refused.json().await.unwrap();
    assert_eq!(answer["error"]["data"]["limit"], "streams_per_key");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("D365MCP_MAX_STREAMS_PER_KEY")
    );
    // Another edge counts its own streams.
    let other = reqwest::Client::new()
        .get(format!("{}/sse", cluster.edges[1].url()))
        .header("accept", "text/event-stream")
        .header("authorization", format!("Bearer {ALICE}"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 200);
    drop(first);
    support::wait_until(
        "a closed stream's slot is free",
        Duration::from_secs(10),
        || async {
            match get().await {
                Ok(r) if r.status() == 200 => Ok(()),
                Ok(r) => Err(r.status().to_string()),
                Err(e) => Err(e.to_string()),
            }
        },
    )
    .await;
    alive(&cluster).await;
}

/// Opens a connection to `addr` that sends a request head one byte every
/// 200 ms (slowloris); returns whether the edge closed it within `within`.
async fn trickle(addr: std::net::SocketAddr, within: Duration) -> bool {
    let Ok(mut tcp) = TcpStream::connect(addr).await else {
        return true;
    };
    let head = b"GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\nx-slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let deadline = Instant::now() + within;
    for byte in head.iter().cycle() {
        if Instant::now() > deadline {
            return false;
        }
        if tcp.write_all(&[*byte]).await.is_err() {
            return true;
        }
        let mut buf = [0u8; 256];
        match tokio::time::timeout(Duration::from_millis(200), tcp.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return true,
            // A 503 beyond the limit, or hyper's 408 when its timer fires.
            Ok(Ok(_)) => return true,
            Err(_) => {}
        }
    }
    false
}

/// Opens a connection that never sends a byte; returns what the edge
/// said before closing it (empty: closed silently) or `None` when it was
/// still open after `within`.
async fn idle(addr: std::net::SocketAddr, within: Duration) -> Option<String> {
    let Ok(mut tcp) = TcpStream::connect(addr).await else {
        return Some(String::new());
    };
    let mut buf = Vec::new();
    match tokio::time::timeout(within, tcp.read_to_end(&mut buf)).await {
        Ok(_) => Some(String::from_utf8_lossy(&buf).into_owned()),
        Err(_) => None,
    }
}

/// 200 slowloris and 200 idle connections: a keyed client is answered while
/// they are held, and the edge closes every one of them within its
/// header-read timeout (3 s here) plus slack. Then 700 idle connections
/// against a limit of 500: those beyond it are answered 503 naming
/// D365MCP_MAX_CONNECTIONS, the edge keeps serving, and stays alive.
#[tokio::test]
async fn slow_and_idle_connections_neither_stay_nor_stop_the_edge() {
    let redis = RedisServer::start();
    let limits = ["--header-read-timeout", "3s", "--max-connections", "500"];
    let cluster = cluster(&redis, "flood", &limits).await;
    let addr = cluster.edges[0].addr;
    let url = cluster.mcp_url(0);
    let mut flood = Vec::new();
    for _ in 0..200 {
        flood.push(tokio::spawn(trickle(addr, Duration::from_secs(8))));
        flood.push(tokio::spawn(async move {
            idle(addr, Duration::from_secs(8)).await.is_some()
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    raw::open(&url, Some(ALICE)).await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "served in {:?}",
        started.elapsed()
    );
    let mut closed = 0;
    for task in flood {
        closed += usize::from(task.await.unwrap());
    }
    assert_eq!(
        closed, 400,
        "every slow or idle connection closed by the edge"
    );

    let idlers: Vec<_> = (0..700)
        .map(|_| tokio::spawn(idle(addr, Duration::from_secs(6))))
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (mut refused, mut ended) = (0, 0);
    for task in idlers {
        if let Some(said) = task.await.unwrap() {
            ended += 1;
            if said.starts_with("HTTP/1.1 503") {
                assert!(said.contains("D365MCP_MAX_CONNECTIONS"), "{said}");
                refused += 1;
            }
        }
    }
    // Connecting 700 takes a moment (the first ones may time out before
    // the last arrive), so the number refused varies; some always are, and
    // every one of them ends, refused or timed out.
    assert_eq!(ended, 700, "every idle connection ended");
    assert!(refused >= 50, "{refused} refused beyond the limit");
    // The held ones were closed by the timeout: a client is served again.
    let started = Instant::now();
    raw::open(&url, Some(ALICE)).await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "served in {:?}",
        started.elapsed()
    );
    alive(&cluster).await;
}
