//! The chaos run's client: 2026-07-28 `tools/call`s that retry the way
//! README's retry contract allows.
//!
//! - Every write carries an idempotency key in
//!   `_meta["io.d365mcp/idempotencyKey"]`, the same in each of its attempts.
//! - An attempt that fails with a retryable answer (`retryable: true` in the
//!   error's data, an HTTP error without a JSON-RPC answer, a lost
//!   connection, a timeout) is sent again, to the next edge, after the
//!   answer's `retryAfterSeconds` or a short back-off, until the call's
//!   budget is spent. Writes may be resent only because they carry a key.
//! - `outcome_unknown` ends a write: its client must read D365FO to learn
//!   what happened, never resend it blindly.
//! - Any other error ends the call as a failure.
//!
//! An edge whose connection was refused is passed over for a second, as a
//! load balancer's passive health check would.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use parking_lot::{Mutex, MutexGuard};
use serde::Serialize;
use serde_json::{Value, json};
use url::Url;

use crate::client::{IDEMPOTENCY_KEY, reply};

const VERSION: &str = "2026-07-28";
/// How long an edge that refused a connection is passed over.
const PASS_OVER: Duration = Duration::from_secs(1);
/// First and longest back-off between attempts without a hint.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(1));

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Attempt {
    /// A result without `isError`.
    Ok,
    /// An answer to be retried; the kind names it (`unavailable`,
    /// `http_503`, `connect`, `timeout`, …).
    Retryable(String),
    /// `outcome_unknown`.
    Unknown,
    /// Any other error, by kind.
    Failed(String),
}

/// How a call ended, after all its attempts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Ending {
    Ok,
    /// `outcome_unknown` (writes only).
    Unknown,
    /// A failure that is not to be retried, by kind.
    Failed(String),
    /// Still failing with retryable answers when the budget ran out.
    GaveUp(String),
}

/// One attempt's timing and end, for recovery times.
#[derive(Debug, Clone)]
pub struct Tried {
    pub edge: usize,
    pub started: Instant,
    pub ended: Instant,
    pub attempt: Attempt,
}

/// The edges and the HTTP client every call shares.
#[derive(Clone)]
pub struct Edges {
    http: reqwest::Client,
    urls: Arc<Vec<Url>>,
    passed_over: Arc<Mutex<Vec<Option<Instant>>>>,
}

impl Edges {
    pub fn new(urls: Vec<Url>, attempt_timeout: Duration) -> Result<Edges, reqwest::Error> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(1))
            .timeout(attempt_timeout)
            .build()?;
        let passed_over = Arc::new(Mutex::new(vec![None; urls.len()]));
        Ok(Edges {
            http,
            urls: Arc::new(urls),
            passed_over,
        })
    }

    /// The first edge from `start` on that is not passed over (or `start`).
    fn pick(&self, start: usize) -> usize {
        let now = Instant::now();
        let passed_over = self.passed_over();
        (0..self.urls.len())
            .map(|i| (start + i) % self.urls.len())
            .find(|&i| passed_over[i].is_none_or(|until| until <= now))
            .unwrap_or(start % self.urls.len())
    }

    fn passed_over(&self) -> MutexGuard<'_, Vec<Option<Instant>>> {
        self.passed_over.lock()
    }

    fn pass_over(&self, edge: usize) {
        self.passed_over()[edge] = Some(Instant::now() + PASS_OVER);
    }

    /// Calls `tool` with `args` (and `key`, for a write) starting on edge
    /// `first`, retrying within `budget`; returns every attempt and the end.
    pub async fn call(
        &self,
        first: usize,
        id: u64,
        tool: &str,
        args: &Value,
        key: Option<&str>,
        budget: Duration,
    ) -> (Vec<Tried>, Ending) {
        let deadline = Instant::now() + budget;
        let mut meta = json!({
            "io.modelcontextprotocol/protocolVersion": VERSION,
            "io.modelcontextprotocol/clientCapabilities": {},
        });
        if let Some(key) = key {
            meta[IDEMPOTENCY_KEY] = Value::from(key);
        }
        let body =
            crate::client::request_body(id, "tools/call", Some(tool), args.clone(), Some(meta))
                .to_string();
        let mut tried = Vec::new();
        let mut edge = first;
        loop {
            edge = self.pick(edge);
            let started = Instant::now();
            let (attempt, wait) = self.attempt(edge, tool, &body, id).await;
            tried.push(Tried {
                edge,
                started,
                ended: Instant::now(),
                attempt: attempt.clone(),
            });
            let kind = match attempt {
                Attempt::Ok => return (tried, Ending::Ok),
                Attempt::Unknown => return (tried, Ending::Unknown),
                Attempt::Failed(kind) => return (tried, Ending::Failed(kind)),
                Attempt::Retryable(kind) => kind,
            };
            let n = u32::try_from(tried.len()).unwrap_or(u32::MAX);
            let backoff = BACKOFF.0.saturating_mul(1 << n.min(4)).min(BACKOFF.1);
            let wait = wait.unwrap_or(backoff);
            if Instant::now() + wait >= deadline {
                return (tried, Ending::GaveUp(kind));
            }
            tokio::time::sleep(wait).await;
            edge += 1;
        }
    }

    /// One attempt on `edge`: how it ended, and the wait the answer asked
    /// for before another.
    async fn attempt(
        &self,
        edge: usize,
        tool: &str,
        body: &str,
        id: u64,
    ) -> (Attempt, Option<Duration>) {
        let request = self
            .http
            .post(self.urls[edge].clone())
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", VERSION)
            .header("mcp-method", "tools/call")
            .header("mcp-name", tool)
            .body(body.to_owned());
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => {
                if e.is_connect() {
                    self.pass_over(edge);
                }
                return (Attempt::Retryable(transport_kind(&e).into()), None);
            }
        };
        let status = response.status();
        let text = match response.text().await {
            Ok(text) => text,
            Err(e) => return (Attempt::Retryable(transport_kind(&e).into()), None),
        };
        let messages = reply::messages(&text);
        let answer = messages
            .iter()
            .find(|m| m.get("id").and_then(Value::as_u64) == Some(id));
        match answer {
            Some(answer) => classify(answer),
            // No JSON-RPC answer: an HTTP failure before MCP (a proxy, a
            // process that died mid-answer) changed nothing we can know of.
            None if status.is_success() => (Attempt::Retryable("no_answer".into()), None),
            None => (
                Attempt::Retryable(format!("http_{}", status.as_u16())),
                None,
            ),
        }
    }
}

/// The end of an attempt that got its JSON-RPC answer, and its wait hint.
pub fn classify(answer: &Value) -> (Attempt, Option<Duration>) {
    let data = if let Some(error) = answer.get("error") {
        error.get("data").cloned().unwrap_or(Value::Null)
    } else if answer.pointer("/result/isError").and_then(Value::as_bool) == Some(true) {
        answer
            .pointer("/result/_meta/d365mcp~1error")
            .cloned()
            .unwrap_or(Value::Null)
    } else if answer.get("result").is_some() {
        return (Attempt::Ok, None);
    } else {
        return (Attempt::Failed("protocol".into()), None);
    };
    let code = data
        .get("code")
        .and_then(Value::as_str)
        .unwrap_or("unnamed")
        .to_owned();
    let wait = data
        .get("retryAfterSeconds")
        .and_then(Value::as_f64)
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| Duration::from_secs_f64(s.min(60.0)));
    if code == "outcome_unknown" {
        (Attempt::Unknown, None)
    } else if data.get("retryable").and_then(Value::as_bool) == Some(true) {
        (Attempt::Retryable(code), wait)
    } else {
        (Attempt::Failed(code), None)
    }
}

fn transport_kind(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else {
        "connection_lost"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_classified_by_their_data() {
        let ok = json!({"id": 1, "result": {"content": []}});
        assert_eq!(classify(&ok).0, Attempt::Ok);
        let unknown = json!({"id": 1, "error": {"code": -32017, "data": {"code": "outcome_unknown", "retryable": false}}});
        assert_eq!(classify(&unknown).0, Attempt::Unknown);
        let busy = json!({"id": 1, "error": {"code": -32010, "data": {"code": "unavailable", "retryable": true, "retryAfterSeconds": 2}}});
        assert_eq!(
            classify(&busy),
            (
                Attempt::Retryable("unavailable".into()),
                Some(Duration::from_secs(2))
            )
        );
        let tool = json!({"id": 1, "result": {"isError": true, "_meta": {"d365mcp/error": {"code": "conflict", "retryable": false}}}});
        assert_eq!(classify(&tool).0, Attempt::Failed("conflict".into()));
    }
}
