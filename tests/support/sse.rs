//! An SSE response read event by event, for tests that watch a stream while
//! they act elsewhere (legacy streams, listen streams, standalone streams).
//! Events are read by the load-test harness's own stream reader, which
//! keeps bytes until their line is whole (a chunk may end inside a UTF-8
//! character) and is property-tested there.

use std::{collections::VecDeque, time::Duration};

use loadtest::client::sse::EventReader;
use serde_json::Value;

pub struct SseReader {
    response: reqwest::Response,
    reader: EventReader,
    /// Events read from the stream and not yet returned.
    ready: VecDeque<(String, String)>,
}

impl SseReader {
    /// Reads `response`, which must be a 200.
    pub fn new(response: reqwest::Response) -> Self {
        assert_eq!(response.status(), 200, "an SSE stream opens with 200");
        Self {
            response,
            reader: EventReader::default(),
            ready: VecDeque::new(),
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
            if let Some(event) = self.ready.pop_front() {
                return event;
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .unwrap_or_else(|_| panic!("no SSE event within {within:?}"))
                .unwrap()
                .expect("the stream stays open");
            self.ready.extend(self.reader.push(&chunk));
        }
    }

    /// The next JSON-RPC message (an event `message`) within `within`.
    pub async fn message(&mut self, within: Duration) -> Value {
        let (name, data) = self.next(within).await;
        assert_eq!(name, "message", "{data}");
        serde_json::from_str(&data).unwrap()
    }
}
