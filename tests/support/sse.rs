//! An SSE response read event by event, for tests that watch a stream while
//! they act elsewhere (legacy streams, listen streams, standalone streams).
//! Event blocks are parsed by the load-test harness's own reader.

use std::time::Duration;

use serde_json::Value;

pub struct SseReader {
    response: reqwest::Response,
    buffer: String,
}

impl SseReader {
    /// Reads `response`, which must be a 200.
    pub fn new(response: reqwest::Response) -> Self {
        assert_eq!(response.status(), 200, "an SSE stream opens with 200");
        Self {
            response,
            buffer: String::new(),
        }
    }

    /// `GET url` with `Accept: text/event-stream` and `headers`.
    pub async fn get(url: &str, headers: &[(&str, &str)]) -> Self {
        let mut request = reqwest::Client::new()
            .get(url)
            .header("accept", "text/event-stream");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        Self::new(request.send().await.unwrap())
    }

    /// The next event with data, `(event name, data)`, within `within`;
    /// keep-alive comments and priming events are skipped.
    pub async fn next(&mut self, within: Duration) -> (String, String) {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                match loadtest::client::reply::sse_event(&block) {
                    Some(event) => return event,
                    None => continue,
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .unwrap_or_else(|_| panic!("no SSE event within {within:?}"))
                .unwrap()
                .expect("the stream stays open");
            self.buffer
                .push_str(&String::from_utf8_lossy(&chunk).replace("\r\n", "\n"));
        }
    }

    /// The next JSON-RPC message (an event `message`) within `within`.
    pub async fn message(&mut self, within: Duration) -> Value {
        let (name, data) = self.next(within).await;
        assert_eq!(name, "message", "{data}");
        serde_json::from_str(&data).unwrap()
    }
}
