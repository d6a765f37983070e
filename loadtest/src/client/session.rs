//! The 2025 Streamable HTTP client: `initialize`, then `initialized`, then
//! requests carrying `Mcp-Session-Id`; JSON or SSE replies; a 404 (the
//! session is gone) re-initializes once; `DELETE` ends the session.

use std::time::Instant;

use serde_json::{Value, json};
use url::Url;

use super::{Failure, Http, Outcome, reply};
use crate::stats::Sink;

const VERSION: &str = "2025-11-25";

struct Open {
    url: Url,
    /// `None` when the server keeps no sessions.
    id: Option<String>,
}

pub struct Session {
    http: Http,
    open: Option<Open>,
    next_id: u64,
}

impl Session {
    pub fn new(http: Http) -> Self {
        Self {
            http,
            open: None,
            next_id: 1,
        }
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub async fn call(
        &mut self,
        method: &str,
        tool: Option<&str>,
        args: Value,
        sink: &Sink,
    ) -> Outcome {
        if self.open.is_none() {
            self.open(sink).await?;
        }
        let id = self.id();
        let body = super::request_body(id, method, tool, args, None);
        let mut reopened = false;
        loop {
            let Some(open) = &self.open else {
                return Err(Failure::new("protocol", "no session"));
            };
            let mut request = self
                .http
                .post(&open.url, &body)
                .header("mcp-protocol-version", VERSION);
            if let Some(session) = &open.id {
                request = request.header("mcp-session-id", session);
            }
            let (status, _, text) = self.http.exchange(request).await?;
            if status.as_u16() == 404 && !reopened {
                // The session ended on the server (idle timeout, a restart):
                // a real client starts a new one and sends the request again.
                reopened = true;
                self.open = None;
                self.open(sink).await?;
                continue;
            }
            if !status.is_success() {
                return Err(Failure::http(status.as_u16(), &text));
            }
            return reply::answer_in(&text, id);
        }
    }

    /// `initialize` on the next target, then `notifications/initialized`;
    /// recorded as `session/open`.
    async fn open(&mut self, sink: &Sink) -> Outcome {
        let started = Instant::now();
        let outcome = self.handshake().await;
        sink.record_extra("session/open", started, &outcome);
        outcome
    }

    async fn handshake(&mut self) -> Outcome {
        let url = self.http.targets.next().clone();
        let id = self.id();
        let init = json!({"jsonrpc": "2.0", "id": id, "method": "initialize", "params": {
            "protocolVersion": VERSION, "capabilities": {},
            "clientInfo": {"name": "d365mcp-loadtest", "version": env!("CARGO_PKG_VERSION")}}});
        let request = self
            .http
            .post(&url, &init)
            .header("mcp-protocol-version", VERSION);
        let (status, headers, text) = self.http.exchange(request).await?;
        if !status.is_success() {
            return Err(Failure::http(status.as_u16(), &text));
        }
        reply::answer_in(&text, id)?;
        // A server that keeps no sessions (stateless mode) answers without
        // an id; clients then send none, as the protocol allows.
        let session = headers
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let mut request = self
            .http
            .post(&url, &initialized)
            .header("mcp-protocol-version", VERSION);
        if let Some(session) = &session {
            request = request.header("mcp-session-id", session);
        }
        let (status, _, text) = self.http.exchange(request).await?;
        if !status.is_success() {
            return Err(Failure::http(status.as_u16(), &text));
        }
        self.open = Some(Open { url, id: session });
        Ok(())
    }

    /// `DELETE` the session, if one is open; recorded as `session/close`.
    /// A 404 (already gone) or 405 (the server lets sessions expire) is fine.
    pub async fn close(&mut self, sink: &Sink) {
        let Some(Open {
            url,
            id: Some(session),
        }) = self.open.take()
        else {
            return;
        };
        let started = Instant::now();
        let request = self
            .http
            .with_key(self.http.client.delete(url))
            .header("mcp-protocol-version", VERSION)
            .header("mcp-session-id", &session);
        let outcome = match self.http.exchange(request).await {
            Ok((status, _, _)) if status.is_success() || matches!(status.as_u16(), 404 | 405) => {
                Ok(())
            }
            Ok((status, _, text)) => Err(Failure::http(status.as_u16(), &text)),
            Err(failure) => Err(failure),
        };
        sink.record_extra("session/close", started, &outcome);
    }
}
