//! What an idle 2025 session costs a d365mcp edge and its Redis.
//!
//! Opens `--sessions` Streamable HTTP sessions (`initialize`, then
//! `notifications/initialized`) against one edge, `--concurrency` at a
//! time, then leaves them idle for `--settle` seconds, and reads the edge's
//! resident memory (`VmRSS` of `--pid`) and Redis's `used_memory` (`--redis
//! host:port`, optional) before, right after the opens, and after the idle
//! time. Last, `--check` of the sessions are used once more (`tools/list`)
//! to show they still work. One JSON line on stdout; progress on stderr.
//! `loadtest/bench/sessions.sh` starts a cluster and runs this.
//!
//! Bounded: at most 100,000 sessions, 256 at once, 600 s of idle time, a
//! 30 s timeout on every request; loopback targets only.

use std::{str::FromStr, time::Duration};

use futures::StreamExt;
use serde_json::{Value, json};

const MAX_SESSIONS: usize = 100_000;
const MAX_CONCURRENCY: usize = 256;
const MAX_SETTLE_SECS: u64 = 600;
const VERSION: &str = "2025-11-25";

struct Args {
    target: String,
    pid: u32,
    sessions: usize,
    concurrency: usize,
    settle: Duration,
    check: usize,
    redis: Option<String>,
}

fn arg<T: FromStr>(args: &[String], name: &str, default: Option<T>) -> Result<T, String> {
    match args.iter().position(|a| a == name) {
        Some(i) => args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("{name} needs a valid value")),
        None => default.ok_or_else(|| format!("{name} is required")),
    }
}

fn parse() -> Result<Args, String> {
    let args: Vec<String> = std::env::args().collect();
    let target: String = arg(&args, "--target", None)?;
    if !target.starts_with("http://127.0.0.1:") {
        return Err("--target must be an http://127.0.0.1:PORT/… URL".into());
    }
    let parsed = Args {
        target,
        pid: arg(&args, "--pid", None)?,
        sessions: arg(&args, "--sessions", Some(1000))?,
        concurrency: arg(&args, "--concurrency", Some(64))?,
        settle: Duration::from_secs(arg(&args, "--settle", Some(60))?),
        check: arg(&args, "--check", Some(100))?,
        redis: arg(&args, "--redis", None).ok(),
    };
    if !(1..=MAX_SESSIONS).contains(&parsed.sessions)
        || !(1..=MAX_CONCURRENCY).contains(&parsed.concurrency)
        || parsed.settle > Duration::from_secs(MAX_SETTLE_SECS)
    {
        return Err(format!(
            "bounds: 1..={MAX_SESSIONS} sessions, 1..={MAX_CONCURRENCY} at once, \
             at most {MAX_SETTLE_SECS} s of idle time"
        ));
    }
    Ok(parsed)
}

/// The resident memory of process `pid`, in KiB.
fn rss_kib(pid: u32) -> Result<u64, String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("reading /proc/{pid}/status: {e}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| "no VmRSS line".into())
}

/// Redis's `used_memory`, in bytes, over a plain RESP connection.
async fn redis_used(addr: &str) -> Result<u64, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut conn = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("redis {addr}: {e}"))?;
    conn.write_all(b"*2\r\n$4\r\nINFO\r\n$6\r\nmemory\r\n")
        .await
        .map_err(|e| e.to_string())?;
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    // A bulk string: `$LEN\r\n` then LEN bytes; INFO memory is a few KB.
    while !String::from_utf8_lossy(&reply).contains("used_memory_peak:") && reply.len() < 65_536 {
        let n = conn.read(&mut buf).await.map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        reply.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&reply)
        .lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| "no used_memory in INFO memory".into())
}

async fn post(
    http: &reqwest::Client,
    target: &str,
    session: Option<&str>,
    body: Value,
) -> Result<(u16, Option<String>), String> {
    let mut request = http
        .post(target)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", VERSION)
        .json(&body);
    if let Some(id) = session {
        request = request.header("mcp-session-id", id);
    }
    let response = request.send().await.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let id = response
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    // Read to the end: the SSE answer of a request ends with it.
    response.bytes().await.map_err(|e| e.to_string())?;
    Ok((status, id))
}

/// One session opened and left idle; its id.
async fn open(http: &reqwest::Client, target: &str) -> Result<String, String> {
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": VERSION, "capabilities": {},
        "clientInfo": {"name": "idle-sessions", "version": "1.0"}}});
    let (status, id) = post(http, target, None, init).await?;
    let id = id.ok_or_else(|| format!("initialize answered {status} with no Mcp-Session-Id"))?;
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    match post(http, target, Some(&id), initialized).await? {
        (202, _) => Ok(id),
        (status, _) => Err(format!("notifications/initialized answered {status}")),
    }
}

async fn list_tools(http: &reqwest::Client, target: &str, id: &str) -> bool {
    let body = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}});
    matches!(post(http, target, Some(id), body).await, Ok((200, _)))
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let args = parse()?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(args.concurrency)
        .build()
        .map_err(|e| e.to_string())?;
    let redis = match &args.redis {
        Some(addr) => Some(redis_used(addr).await?),
        None => None,
    };
    let rss_before = rss_kib(args.pid)?;
    let started = std::time::Instant::now();
    let results: Vec<Result<String, String>> = futures::stream::iter(0..args.sessions)
        .map(|_| open(&http, &args.target))
        .buffer_unordered(args.concurrency)
        .collect()
        .await;
    let opened_in = started.elapsed();
    let (ids, failures): (Vec<_>, Vec<_>) = results.into_iter().partition(Result::is_ok);
    let ids: Vec<String> = ids.into_iter().flatten().collect();
    if let Some(Err(e)) = failures.first() {
        eprintln!("{} opens failed, e.g.: {e}", failures.len());
    }
    let rss_open = rss_kib(args.pid)?;
    let redis_open = match &args.redis {
        Some(addr) => Some(redis_used(addr).await?),
        None => None,
    };
    eprintln!(
        "{} sessions open in {:.1} s; idle for {} s",
        ids.len(),
        opened_in.as_secs_f64(),
        args.settle.as_secs()
    );
    tokio::time::sleep(args.settle).await;
    let rss_idle = rss_kib(args.pid)?;
    let redis_idle = match &args.redis {
        Some(addr) => Some(redis_used(addr).await?),
        None => None,
    };
    let checked = ids.iter().take(args.check);
    let reused = futures::stream::iter(checked)
        .map(|id| list_tools(&http, &args.target, id))
        .buffer_unordered(args.concurrency)
        .filter(|ok| futures::future::ready(*ok))
        .count()
        .await;
    let n = ids.len().max(1) as f64;
    let per = |after: u64, before: u64| (after as f64 - before as f64) * 1024.0 / n;
    let redis_per = |after: Option<u64>| match (after, redis) {
        (Some(a), Some(b)) => json!((a as f64 - b as f64) / n),
        _ => Value::Null,
    };
    let summary = json!({
        "sessions": ids.len(),
        "failed_opens": failures.len(),
        "opened_in_s": opened_in.as_secs_f64(),
        "settle_s": args.settle.as_secs(),
        "edge_rss_kib": {"before": rss_before, "open": rss_open, "idle": rss_idle},
        "edge_bytes_per_session": {"open": per(rss_open, rss_before), "idle": per(rss_idle, rss_before)},
        "redis_used_memory": {"before": redis, "open": redis_open, "idle": redis_idle},
        "redis_bytes_per_session": {"open": redis_per(redis_open), "idle": redis_per(redis_idle)},
        "reused_after_idle": {"tried": args.check.min(ids.len()), "ok": reused},
    });
    println!("{summary}");
    Ok(())
}
