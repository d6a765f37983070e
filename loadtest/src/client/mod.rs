//! MCP clients, hand-written over one shared `reqwest` connection pool, one
//! per protocol era, behaving as real clients do:
//!
//! - [`stateless`]: 2026-07-28, every request stands alone; each request
//!   goes to the next target (round robin).
//! - [`session`]: 2025 Streamable HTTP; `initialize` + `initialized`, the
//!   `Mcp-Session-Id` header, JSON or SSE replies, one re-initialize on a
//!   404, `DELETE` at the end. A session stays on the target it was opened
//!   on, as a load balancer with session affinity would keep it.
//! - [`legacy`]: 2024-11-05 HTTP+SSE; `GET /sse`, the `endpoint` event,
//!   POSTs whose replies are matched on the stream by JSON-RPC id.
//!
//! Every reply is checked ([`reply`]): an HTTP error, a JSON-RPC error or
//! `isError: true` is a failure with its kind. A stream read as it arrives
//! goes through [`sse::EventReader`].

pub mod legacy;
pub mod reply;
pub mod session;
pub mod sse;
pub mod stateless;

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use reqwest::{RequestBuilder, StatusCode, header::HeaderMap};
use serde_json::{Value, json};
use url::Url;

pub use crate::stats::{Failure, Outcome};
use crate::{scenario::Era, stats::Sink};

/// The target URLs, taken in turn.
#[derive(Debug)]
pub struct Targets {
    urls: Vec<Url>,
    next: AtomicUsize,
}

impl Targets {
    /// `urls` must not be empty (the config checks it).
    pub fn new(urls: Vec<Url>) -> Self {
        Self {
            urls,
            next: AtomicUsize::new(0),
        }
    }

    /// The next target, round robin.
    pub fn next(&self) -> &Url {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        &self.urls[i % self.urls.len()]
    }
}

/// What every client shares: the connection pool, the request timeout, the
/// API key and the targets.
#[derive(Clone)]
pub struct Http {
    client: reqwest::Client,
    timeout: Duration,
    api_key: Option<Arc<str>>,
    targets: Arc<Targets>,
}

impl Http {
    pub fn new(
        targets: Vec<Url>,
        timeout: Duration,
        api_key: Option<String>,
    ) -> Result<Http, reqwest::Error> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(timeout)
            .tcp_nodelay(true)
            .build()?;
        Ok(Http {
            client,
            timeout,
            api_key: api_key.map(Arc::from),
            targets: Arc::new(Targets::new(targets)),
        })
    }

    fn with_key(&self, request: RequestBuilder) -> RequestBuilder {
        match &self.api_key {
            Some(key) => request.bearer_auth(key),
            None => request,
        }
    }

    /// A JSON POST accepting JSON or SSE.
    fn post(&self, url: &Url, body: &Value) -> RequestBuilder {
        self.with_key(self.client.post(url.clone()))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body.to_string())
    }

    /// Sends `request` and reads its whole body, within the timeout.
    async fn exchange(
        &self,
        request: RequestBuilder,
    ) -> Result<(StatusCode, HeaderMap, String), Failure> {
        let exchange = async {
            let response = request
                .send()
                .await
                .map_err(|e| Failure::from_reqwest(&e))?;
            let status = response.status();
            let headers = response.headers().clone();
            let bytes = response
                .bytes()
                .await
                .map_err(|e| Failure::from_reqwest(&e))?;
            // Not `Response::text`: its lossy decoding walked every byte of
            // a 45 KB `tools/list` answer and took a third of the harness's
            // CPU; strict validation is many times faster, and only a body
            // that fails it is decoded lossily (for its error message).
            let body = match String::from_utf8(bytes.to_vec()) {
                Ok(text) => text,
                Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
            };
            Ok((status, headers, body))
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .unwrap_or_else(|_| Err(Failure::timeout(self.timeout)))
    }
}

/// The `_meta` member that names a write's idempotency key (README's retry
/// contract).
pub const IDEMPOTENCY_KEY: &str = "io.d365mcp/idempotencyKey";

/// A JSON-RPC request: `tools/call` wraps the arguments as `name` +
/// `arguments`; any other method takes them as its params. `meta` becomes
/// `params._meta`.
///
/// Every `tools/call` carries a fresh idempotency key, as README's retry
/// contract asks of clients (the edge ignores it for tools that only read),
/// so a benchmark pays what a well-behaved client costs. The harness does
/// not resend: it counts failures; `d365mcp chaos` is the client that
/// retries.
pub fn request_body(
    id: u64,
    method: &str,
    tool: Option<&str>,
    args: Value,
    meta: Option<Value>,
) -> Value {
    let mut params = match tool {
        Some(tool) => json!({"name": tool, "arguments": args}),
        None => args,
    };
    let mut meta = meta;
    if tool.is_some() {
        let meta = meta.get_or_insert_with(|| json!({}));
        if meta.get(IDEMPOTENCY_KEY).is_none() {
            meta[IDEMPOTENCY_KEY] = Value::from(uuid::Uuid::new_v4().to_string());
        }
    }
    if let (Some(meta), Some(params)) = (meta, params.as_object_mut()) {
        params.insert("_meta".into(), meta);
    }
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}

/// One client of any era.
pub enum Client {
    Stateless(stateless::Stateless),
    Session(session::Session),
    Legacy(legacy::Legacy),
}

impl Client {
    pub fn new(era: Era, http: Http) -> Client {
        match era {
            Era::Stateless2026 => Client::Stateless(stateless::Stateless::new(http)),
            Era::Session2025 => Client::Session(session::Session::new(http)),
            Era::Legacy2024 => Client::Legacy(legacy::Legacy::new(http)),
        }
    }

    /// Sends one request (opening a session first if there is none) and checks the reply.
    pub async fn call(
        &mut self,
        method: &str,
        tool: Option<&str>,
        args: Value,
        sink: &Sink,
    ) -> Outcome {
        match self {
            Client::Stateless(c) => c.call(method, tool, args).await,
            Client::Session(c) => c.call(method, tool, args, sink).await,
            Client::Legacy(c) => c.call(method, tool, args, sink).await,
        }
    }

    /// Ends the current session, if any (`DELETE` in the 2025 era, closing
    /// the stream in the legacy one).
    pub async fn end_session(&mut self, sink: &Sink) {
        match self {
            Client::Stateless(_) => {}
            Client::Session(c) => c.close(sink).await,
            Client::Legacy(c) => c.close(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_go_round_robin() {
        let urls: Vec<Url> = ["http://127.0.0.1:1/mcp", "http://127.0.0.1:2/mcp"]
            .iter()
            .map(|u| Url::parse(u).unwrap())
            .collect();
        let targets = Targets::new(urls.clone());
        let seen: Vec<&Url> = (0..4).map(|_| targets.next()).collect();
        assert_eq!(seen, [&urls[0], &urls[1], &urls[0], &urls[1]]);
    }

    #[test]
    fn tool_calls_wrap_their_arguments_and_other_methods_take_them_as_params() {
        let call = request_body(
            3,
            "tools/call",
            Some("t"),
            json!({"a": 1}),
            Some(json!({"m": 1})),
        );
        let key = call["params"]["_meta"][IDEMPOTENCY_KEY]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(key.len(), 36, "a fresh UUID: {key}");
        assert_eq!(
            call,
            json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
            "params": {"name": "t", "arguments": {"a": 1}, "_meta": {"m": 1, IDEMPOTENCY_KEY: key}}})
        );
        let again = request_body(3, "tools/call", Some("t"), json!({}), None);
        assert_ne!(again["params"]["_meta"][IDEMPOTENCY_KEY], key.as_str());
        let list = request_body(4, "tools/list", None, json!({}), None);
        assert_eq!(list["params"], json!({}));
    }
}
