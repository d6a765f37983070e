//! The 2024-11-05 HTTP+SSE client: `GET /sse` opens a stream whose first
//! event, `endpoint`, names the URL to POST to; every POST is answered 202
//! and its reply arrives on the stream, matched here by JSON-RPC id.

use std::time::Instant;

use serde_json::{Value, json};
use tokio::{
    sync::{mpsc, oneshot},
    task::JoinHandle,
};
use url::Url;

use super::{Failure, Http, Outcome, reply, sse::EventReader};
use crate::stats::Sink;

const VERSION: &str = "2024-11-05";

struct Open {
    post_url: Url,
    messages: mpsc::UnboundedReceiver<String>,
    reader: JoinHandle<()>,
}

impl Drop for Open {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

pub struct Legacy {
    http: Http,
    open: Option<Open>,
    next_id: u64,
}

/// The stream URL for a target: the target itself when it ends in `/sse`,
/// else `sse` beside it (`http://h/mcp` → `http://h/sse`).
pub fn sse_url(target: &Url) -> Result<Url, Failure> {
    if target.path().ends_with("/sse") {
        return Ok(target.clone());
    }
    target
        .join("sse")
        .map_err(|e| Failure::new("protocol", format!("no /sse URL beside {target}: {e}")))
}

impl Legacy {
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
        let outcome = self.send(&body, Some(id)).await;
        if let Err(failure) = &outcome
            && (failure.kind == "http_404" || failure.kind == "stream_closed")
        {
            // The stream's session is gone: open a new one, send once more.
            self.open = None;
            self.open(sink).await?;
            return self.send(&body, Some(id)).await;
        }
        outcome
    }

    /// POSTs `body`; with `id`, waits for its reply on the stream and checks it.
    async fn send(&mut self, body: &Value, id: Option<u64>) -> Outcome {
        let Some(open) = &mut self.open else {
            return Err(Failure::new("protocol", "no stream"));
        };
        let request = self.http.post(&open.post_url, body);
        let (status, _, text) = self.http.exchange(request).await?;
        if !status.is_success() {
            return Err(Failure::http(status.as_u16(), &text));
        }
        let Some(id) = id else {
            return Ok(());
        };
        let wait = async {
            while let Some(data) = open.messages.recv().await {
                // Replies to requests given up on earlier, and notifications, are skipped.
                if let Some(outcome) = reply::check_head(&data, id) {
                    return outcome;
                }
            }
            Err(Failure::new(
                "stream_closed",
                "the SSE stream ended before the reply",
            ))
        };
        tokio::time::timeout(self.http.timeout, wait)
            .await
            .unwrap_or_else(|_| Err(Failure::timeout(self.http.timeout)))
    }

    /// Opens a stream on the next target and initializes; recorded as `session/open`.
    async fn open(&mut self, sink: &Sink) -> Outcome {
        let started = Instant::now();
        let outcome = self.handshake().await;
        sink.record_extra("session/open", started, &outcome);
        if outcome.is_err() {
            self.open = None;
        }
        outcome
    }

    async fn handshake(&mut self) -> Outcome {
        let url = sse_url(self.http.targets.next())?;
        let request = self
            .http
            .with_key(self.http.client.get(url.clone()))
            .header("accept", "text/event-stream");
        let response = tokio::time::timeout(self.http.timeout, request.send())
            .await
            .map_err(|_| Failure::timeout(self.http.timeout))?
            .map_err(|e| Failure::from_reqwest(&e))?;
        if !response.status().is_success() {
            let status = response.status().as_u16();
            return Err(Failure::http(
                status,
                &response.text().await.unwrap_or_default(),
            ));
        }
        let (endpoint_tx, endpoint_rx) = oneshot::channel();
        let (tx, messages) = mpsc::unbounded_channel();
        let reader = tokio::spawn(read_stream(response, endpoint_tx, tx));
        let endpoint = tokio::time::timeout(self.http.timeout, endpoint_rx)
            .await
            .map_err(|_| Failure::timeout(self.http.timeout))?
            .map_err(|_| {
                Failure::new("protocol", "the SSE stream ended without an endpoint event")
            })?;
        let post_url = url
            .join(endpoint.trim())
            .map_err(|e| Failure::new("protocol", format!("endpoint `{endpoint}`: {e}")))?;
        self.open = Some(Open {
            post_url,
            messages,
            reader,
        });
        let id = self.id();
        let init = json!({"jsonrpc": "2.0", "id": id, "method": "initialize", "params": {
            "protocolVersion": VERSION, "capabilities": {},
            "clientInfo": {"name": "d365mcp-loadtest", "version": env!("CARGO_PKG_VERSION")}}});
        self.send(&init, Some(id)).await?;
        let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        self.send(&initialized, None).await
    }

    /// Closes the stream, which ends the session on the server.
    pub fn close(&mut self) {
        self.open = None;
    }
}

/// Reads the stream: the first `endpoint` event goes to `endpoint`, the
/// data of every other event to `messages`, until the stream or the client ends.
async fn read_stream(
    mut response: reqwest::Response,
    endpoint: oneshot::Sender<String>,
    messages: mpsc::UnboundedSender<String>,
) {
    let mut endpoint = Some(endpoint);
    let mut events = EventReader::default();
    while let Ok(Some(chunk)) = response.chunk().await {
        for (name, data) in events.push(&chunk) {
            if name == "endpoint" {
                if let Some(tx) = endpoint.take() {
                    let _ = tx.send(data);
                }
            } else if messages.send(data).is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_url_sits_beside_the_mcp_endpoint() {
        let url = |s: &str| Url::parse(s).unwrap();
        assert_eq!(
            sse_url(&url("http://127.0.0.1:9/mcp")).unwrap(),
            url("http://127.0.0.1:9/sse")
        );
        assert_eq!(
            sse_url(&url("http://127.0.0.1:9/sse")).unwrap(),
            url("http://127.0.0.1:9/sse")
        );
        assert_eq!(
            sse_url(&url("http://127.0.0.1:9/a/mcp")).unwrap(),
            url("http://127.0.0.1:9/a/sse")
        );
    }
}
