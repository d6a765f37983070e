//! SSE events of session streams, logged in the shared store so that a
//! client resumes (`Last-Event-ID`) on any edge.
//!
//! Every event a session sends — on a request's stream or the session's
//! standalone stream — is appended to the log of its stream before it is
//! sent: key `d365mcp:ev:v1:{stream_id}`, at most [`MAX_EVENTS`] newest
//! events, expiring [`EVENT_TTL`] after the last append. The event id the
//! client sees is `{stream_id}/{n}`, `n` the log's sequence number, so an id
//! names its stream and is never reused. Stream ids are random UUIDs (or
//! `{session_id}:common`, the session id being one too), known only to the
//! session's client; the gate has checked the session's owner before a
//! resume reaches this module.
//!
//! A resume replays the events after the given id and then follows the log
//! for events still being appended (by whichever edge runs the request)
//! until the request's answer has been sent, or nothing was appended for
//! [`FOLLOW_IDLE`].

use std::time::Duration;

use bytes::Bytes;
use common::store::{LoggedEvent, SharedStore};
use futures::StreamExt;
use rmcp::{
    model::ServerJsonRpcMessage,
    transport::streamable_http_server::session::{
        EventId, EventStore, EventStoreError, EventStream, ServerSseMessage,
    },
};
use serde::{Deserialize, Serialize};

/// Newest events kept per stream.
pub const MAX_EVENTS: usize = 1000;
/// How long a stream's log outlives its last event: long enough for a
/// client whose connection dropped to come back (SSE retry is 3 s), short
/// so that an idle session's answers (a `tools/list` is about 13 KB) leave
/// Redis soon (issue 21; it was 600 s).
pub const EVENT_TTL: Duration = Duration::from_secs(120);
/// How long a resumed stream waits for a new event before it ends.
pub const FOLLOW_IDLE: Duration = Duration::from_secs(30);
/// How often a resumed stream looks for new events.
const FOLLOW_EVERY: Duration = Duration::from_millis(100);
/// Events read per store round trip.
const READ_BATCH: usize = 256;

fn key(stream_id: &str) -> String {
    format!("d365mcp:ev:v1:{stream_id}")
}

/// One logged event.
#[derive(Serialize, Deserialize)]
struct Logged {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    message: Option<ServerJsonRpcMessage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retry_ms: Option<u64>,
}

/// rmcp's event store on the shared store's event logs.
pub struct SharedEvents {
    store: SharedStore,
    /// Numbers the ids of events that could not be logged.
    unlogged: std::sync::atomic::AtomicU64,
}

impl SharedEvents {
    pub fn new(store: SharedStore) -> Self {
        Self {
            store,
            unlogged: std::sync::atomic::AtomicU64::new(0),
        }
    }
}

#[async_trait::async_trait]
impl EventStore for SharedEvents {
    async fn store_event(
        &self,
        stream_id: &str,
        event: &ServerSseMessage,
    ) -> Result<EventId, EventStoreError> {
        let logged = Logged {
            message: event.message.as_deref().cloned(),
            retry_ms: event
                .retry
                .map(|d| d.as_millis().try_into().unwrap_or(u64::MAX)),
        };
        let data = Bytes::from(serde_json::to_vec(&logged)?);
        match self
            .store
            .append(&key(stream_id), data, MAX_EVENTS, EVENT_TTL)
            .await
        {
            Ok(n) => Ok(format!("{stream_id}/{n}")),
            Err(e) => {
                // The event is still sent; it just cannot be resumed. Failing
                // here would end the session over a store outage.
                let n = self
                    .unlogged
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::warn!(stream = stream_id, error = %e, "SSE event not logged; it cannot be resumed");
                Ok(format!("{stream_id}/unlogged-{n}"))
            }
        }
    }

    async fn replay_events_after(
        &self,
        last_event_id: &str,
    ) -> Result<EventStream, EventStoreError> {
        let (stream_id, after) = parse(last_event_id)?;
        let first = self
            .store
            .read_after(&key(stream_id), after, READ_BATCH)
            .await?;
        let follow = Follow {
            store: self.store.clone(),
            key: key(stream_id),
            stream_id: stream_id.to_owned(),
            after,
            pending: first.into(),
            answered: false,
            idle_since: tokio::time::Instant::now(),
        };
        // The stream must be `Sync`, which store futures are not: a task
        // follows the log and hands events over a channel; it stops when the
        // client's stream is dropped.
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        tokio::spawn(async move {
            let mut events = std::pin::pin!(futures::stream::unfold(follow, Follow::next));
            while let Some(event) = events.next().await {
                if tx.send(event).await.is_err() {
                    break;
                }
            }
        });
        Ok(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx)))
    }
}

/// `{stream_id}/{n}` → (stream id, n).
fn parse(event_id: &str) -> Result<(&str, u64), EventStoreError> {
    let (stream_id, n) = event_id
        .rsplit_once('/')
        .ok_or_else(|| format!("event id `{event_id}` was not issued by this server"))?;
    let n = n
        .parse()
        .map_err(|_| format!("event id `{event_id}` cannot be resumed (it was never logged)"))?;
    Ok((stream_id, n))
}

/// A resumed stream: what is logged, then what gets logged.
struct Follow {
    store: SharedStore,
    key: String,
    stream_id: String,
    after: u64,
    pending: std::collections::VecDeque<LoggedEvent>,
    answered: bool,
    idle_since: tokio::time::Instant,
}

impl Follow {
    async fn next(mut self) -> Option<(ServerSseMessage, Self)> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                self.after = event.id;
                self.idle_since = tokio::time::Instant::now();
                let Ok(logged) = serde_json::from_slice::<Logged>(&event.data) else {
                    continue;
                };
                if matches!(
                    logged.message,
                    Some(ServerJsonRpcMessage::Response(_) | ServerJsonRpcMessage::Error(_))
                ) {
                    self.answered = true;
                }
                let id = format!("{}/{}", self.stream_id, event.id);
                let message = match (logged.message, logged.retry_ms) {
                    (Some(message), _) => ServerSseMessage::new(id, message),
                    (None, Some(ms)) => ServerSseMessage::priming(id, Duration::from_millis(ms)),
                    (None, None) => continue,
                };
                return Some((message, self));
            }
            if self.answered || self.idle_since.elapsed() >= FOLLOW_IDLE {
                return None;
            }
            tokio::time::sleep(FOLLOW_EVERY).await;
            match self
                .store
                .read_after(&self.key, self.after, READ_BATCH)
                .await
            {
                Ok(events) => self.pending.extend(events),
                Err(e) => {
                    tracing::debug!(stream = %self.stream_id, error = %e, "following a resumed stream");
                }
            }
        }
    }
}
