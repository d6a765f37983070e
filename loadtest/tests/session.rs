//! The 2025 session client against a scripted server on 127.0.0.1: the
//! first session "expires" (404) and the client opens a second one, sends
//! the request again, reads the SSE reply and DELETEs the session it holds.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
    time::{Duration, Instant},
};

use loadtest::{
    client::{Client, Http},
    scenario::Era,
    stats,
};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::Mutex,
};

#[derive(Default)]
struct Script {
    sessions: AtomicU32,
    deleted: Mutex<Vec<String>>,
}

/// Reads one HTTP/1.1 request: (method, headers in lower case, body).
async fn read_request(
    stream: &mut TcpStream,
    buffer: &mut Vec<u8>,
) -> Option<(String, String, String)> {
    loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).to_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap());
            while buffer.len() < end + 4 + length {
                let mut chunk = [0u8; 4096];
                let n = stream.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                buffer.extend_from_slice(&chunk[..n]);
            }
            let body = String::from_utf8_lossy(&buffer[end + 4..end + 4 + length]).into_owned();
            buffer.drain(..end + 4 + length);
            let method = head.split(' ').next().unwrap_or("").to_uppercase();
            return Some((method, head, body));
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
}

fn response(status: &str, headers: &[(&str, &str)], body: &str) -> String {
    let mut out = format!("HTTP/1.1 {status}\r\ncontent-length: {}\r\n", body.len());
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(body);
    out
}

async fn answer(script: &Script, method: &str, head: &str, body: &str) -> String {
    let session = head
        .lines()
        .find_map(|l| l.strip_prefix("mcp-session-id:"))
        .map(|v| v.trim().to_owned());
    if method == "DELETE" {
        script
            .deleted
            .lock()
            .await
            .push(session.unwrap_or_default());
        return response("200 OK", &[], "");
    }
    let message: Value = serde_json::from_str(body).unwrap();
    match message["method"].as_str().unwrap() {
        "initialize" => {
            let n = script.sessions.fetch_add(1, Ordering::SeqCst) + 1;
            let reply = json!({"jsonrpc": "2.0", "id": message["id"], "result": {
                "protocolVersion": "2025-11-25", "capabilities": {},
                "serverInfo": {"name": "scripted", "version": "0"}}});
            let id = format!("s{n}");
            response(
                "200 OK",
                &[
                    ("content-type", "application/json"),
                    ("mcp-session-id", &id),
                ],
                &reply.to_string(),
            )
        }
        "notifications/initialized" => response("202 Accepted", &[], ""),
        _ if session.as_deref() == Some("s1") => response("404 Not Found", &[], "session expired"),
        _ => {
            let reply = json!({"jsonrpc": "2.0", "id": message["id"], "result": {"content": []}});
            let sse = format!("event: message\ndata: {reply}\n\n");
            response("200 OK", &[("content-type", "text/event-stream")], &sse)
        }
    }
}

async fn serve(listener: TcpListener, script: Arc<Script>) {
    loop {
        let (mut stream, _) = listener.accept().await.unwrap();
        let script = script.clone();
        tokio::spawn(async move {
            let mut buffer = Vec::new();
            while let Some((method, head, body)) = read_request(&mut stream, &mut buffer).await {
                let reply = answer(&script, &method, &head, &body).await;
                if stream.write_all(reply.as_bytes()).await.is_err() {
                    return;
                }
            }
        });
    }
}

#[tokio::test]
async fn a_lost_session_is_reopened_once_and_the_last_one_is_deleted() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    let script = Arc::new(Script::default());
    tokio::spawn(serve(listener, script.clone()));

    let http = Http::new(vec![url.parse().unwrap()], Duration::from_secs(5), None).unwrap();
    let (sink, collector) = stats::collector(Instant::now(), false);
    let mut client = Client::new(Era::Session2025, http);
    let outcome = client.call("tools/call", Some("t"), json!({}), &sink).await;
    assert_eq!(
        outcome,
        Ok(()),
        "the request is sent again in a new session"
    );
    assert_eq!(script.sessions.load(Ordering::SeqCst), 2);
    assert_eq!(
        client.call("tools/call", Some("t"), json!({}), &sink).await,
        Ok(())
    );
    assert_eq!(
        script.sessions.load(Ordering::SeqCst),
        2,
        "the new session is kept"
    );
    client.end_session(&sink).await;
    assert_eq!(*script.deleted.lock().await, ["s2"]);

    drop(sink);
    let stats = collector.await.unwrap();
    assert_eq!(stats.by_label["session/open"].ok, 2);
    assert_eq!(stats.by_label["session/close"].ok, 1);
}
