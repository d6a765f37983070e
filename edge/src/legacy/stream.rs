//! `GET /sse`: one legacy session, its MCP conversation and its stream.

use std::{convert::Infallible, sync::Arc};

use axum::{
    extract::{Request, State},
    response::{
        IntoResponse, Response,
        sse::{Event, KeepAlive, Sse},
    },
};
use bytes::Bytes;
use futures::{StreamExt, channel::mpsc as fmpsc};
use rmcp::{
    ServiceExt,
    model::{ClientJsonRpcMessage, ServerJsonRpcMessage},
    transport::sink_stream::SinkStreamTransport,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{INBOX, Legacy, RECORD_TTL, RENEW_EVERY, Record, record_key};
use crate::{
    EdgeState,
    auth::Principal,
    http::Handler,
    metrics::{self, SessionKind, StreamKind},
};

/// Opens a legacy session for the caller and streams its messages.
pub async fn open_stream<H: Handler>(State(state): State<EdgeState>, request: Request) -> Response {
    let principal = request
        .extensions()
        .get::<Principal>()
        .cloned()
        .unwrap_or_else(Principal::anonymous);
    // Held by the stream: its slot is free again when the stream ends.
    let slot = match state.sessions.caps().open_stream(&principal) {
        Ok(slot) => slot,
        Err((failure, scope)) => {
            return crate::error::refusal_with(&failure, serde_json::Value::Null, |data| {
                data.insert("limit".into(), scope.streams().into());
            });
        }
    };
    let legacy = Arc::clone(&state.legacy);
    legacy.start_relay().await;
    let session = uuid::Uuid::new_v4().to_string();
    let record = Record {
        principal: principal.clone(),
        edge: legacy.edge_id.clone(),
    };
    if let Err(e) = legacy.save(&session, &record).await {
        tracing::warn!(session, error = %e,
            "legacy session not saved to the shared store; POSTs must reach this edge");
    }

    let (inbox, incoming) = mpsc::channel::<ClientJsonRpcMessage>(INBOX);
    legacy
        .local
        .lock()
        .insert(session.clone(), (principal.clone(), inbox));
    // Every message runs as the stream's principal, wherever it was posted:
    // as held here, with the latest token its user posted on this edge (a
    // worker's on-behalf-of exchange needs one that has not expired).
    let marker = super::LegacySession(session.clone());
    let (held, this) = (Arc::clone(&legacy), session.clone());
    let incoming = tokio_stream::wrappers::ReceiverStream::new(incoming).map(move |mut message| {
        let (mut parts, ()) = http::Request::new(()).into_parts();
        let owner = held
            .held_here(&this)
            .map_or_else(|| principal.clone(), |(p, _)| p);
        parts.extensions.insert(owner);
        parts.extensions.insert(marker.clone());
        message.insert_extension(parts);
        message
    });
    let (outgoing, replies) = fmpsc::channel::<ServerJsonRpcMessage>(16);
    let stop = state.shutdown.child_token();
    let handler = H::for_edge(&state);
    let serve_stop = stop.clone();
    // The stream's protocol version, known once its `initialize` is served.
    let version = metrics::SharedVersion::default();
    let metered = (
        metrics::SessionOpen::new(SessionKind::Legacy, Arc::clone(&version)),
        metrics::StreamOpen::new(StreamKind::Legacy),
    );
    metrics::session_created(SessionKind::Legacy);
    tokio::spawn(async move {
        let transport = SinkStreamTransport::new(outgoing, incoming);
        match handler.serve_with_ct(transport, serve_stop).await {
            Ok(running) => {
                if let Some(info) = running.peer().peer_info() {
                    let _ =
                        version.set(metrics::version_name(Some(info.protocol_version.as_str())));
                }
                let _ = running.waiting().await;
            }
            Err(e) => tracing::debug!(error = %e, "legacy session ended before initializing"),
        }
    });
    let renewal = tokio::spawn(renew(Arc::clone(&legacy), session.clone(), record));

    let guard = Closing {
        legacy,
        session: session.clone(),
        stop,
        renewal,
        _metered: metered,
    };
    let endpoint = Event::default()
        .event("endpoint")
        .data(format!("/message?sessionId={session}"));
    let messages = replies.map(move |message| {
        let _open = (&guard, &slot);
        Ok::<_, Infallible>(
            Event::default()
                .event("message")
                .json_data(&message)
                .unwrap_or_else(|e| {
                    Event::default().comment(format!("unserializable message: {e}"))
                }),
        )
    });
    Sse::new(futures::stream::once(async { Ok(endpoint) }).chain(messages))
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// Keeps the record alive while the stream is open; re-creates it if the
/// store lost it (a Redis restart).
async fn renew(legacy: Arc<Legacy>, session: String, record: Record) {
    let key = record_key(&session);
    loop {
        tokio::time::sleep(RENEW_EVERY).await;
        match legacy.store.expire(&key, RECORD_TTL).await {
            Ok(true) => {}
            Ok(false) => {
                if let Err(e) = legacy.save(&session, &record).await {
                    tracing::debug!(session, error = %e, "re-saving a legacy session record");
                }
            }
            Err(e) => tracing::debug!(session, error = %e, "renewing a legacy session record"),
        }
    }
}

/// Ends the session when its stream is dropped (client gone, or shutdown).
struct Closing {
    legacy: Arc<Legacy>,
    session: String,
    stop: CancellationToken,
    renewal: tokio::task::JoinHandle<()>,
    /// Active session and open stream until the stream drops.
    _metered: (metrics::SessionOpen, metrics::StreamOpen),
}

impl Drop for Closing {
    fn drop(&mut self) {
        self.stop.cancel();
        self.renewal.abort();
        self.legacy.local.lock().remove(&self.session);
        let legacy = Arc::clone(&self.legacy);
        let key = record_key(&self.session);
        tokio::spawn(async move {
            let _ = legacy.store.delete(&key).await;
        });
    }
}

impl Legacy {
    async fn save(&self, session: &str, record: &Record) -> common::store::StoreResult<()> {
        let value = serde_json::to_vec(record)
            .map_err(|e| common::store::StoreError::Protocol(e.to_string()))?;
        self.store
            .set(&record_key(session), Bytes::from(value), Some(RECORD_TTL))
            .await
    }
}
