//! A client's answers to server requests, delivered to whichever edge asked.
//!
//! During a tool call a server may ask the client something (elicitation,
//! sampling, roots): the request goes out on the SSE stream of the call's
//! POST, on the edge running the call. The client POSTs its answer as a new
//! HTTP request, which a load balancer without stickiness sends to any
//! edge. That edge's copy of the session (restored from the store) never
//! asked, and rmcp would drop the answer as unknown, leaving the call
//! waiting on the first edge until it times out.
//!
//! So a JSON-RPC response, error or `notifications/cancelled` posted for a
//! session is handed to this edge's copy (if it holds one) *and* published
//! on one cluster channel, [`CHANNEL`]; every edge listens there (one
//! subscription per edge) and hands it to its own copy of the session, if
//! it holds one. Only the copy that asked has a pending request with that
//! id; the others ignore the answer, as rmcp does any unknown response.
//! Answers are rare (one per elicitation or sampling round trip), so a
//! broadcast costs little and needs no record of who asked. It runs only
//! for a handler that asks clients things (`Handler::ASKS_CLIENT`; the
//! D365FO tools ask nothing), answers count against the caller's rate
//! limits, and one larger than [`RELAY_MAX_BYTES`] stays on its edge.

use std::sync::Arc;

use bytes::Bytes;
use common::store::SharedStore;
use rmcp::{
    model::{ClientJsonRpcMessage, ClientNotification},
    transport::streamable_http_server::session::{
        SessionId, SessionManager, local::LocalSessionManager,
    },
};
use serde::{Deserialize, Serialize};

/// The channel every edge hears answers on.
pub const CHANNEL: &str = "d365mcp:sessions:v1:answers";

/// The largest answer relayed: every edge receives each one, so a client
/// must not be able to send megabytes to all of them. An elicitation answer
/// is a small form; a sampling answer one model reply.
const RELAY_MAX_BYTES: usize = 256 * 1024;

/// An answer posted on one edge, as published.
#[derive(Serialize, Deserialize)]
struct Published {
    /// The edge it was posted on, which has delivered it already.
    from: String,
    session: String,
    message: ClientJsonRpcMessage,
}

/// Whether `message` answers (or cancels) something the server started:
/// those are what another edge may be waiting for.
pub fn is_answer(message: &ClientJsonRpcMessage) -> bool {
    match message {
        ClientJsonRpcMessage::Response(_) | ClientJsonRpcMessage::Error(_) => true,
        ClientJsonRpcMessage::Notification(n) => {
            matches!(n.notification, ClientNotification::CancelledNotification(_))
        }
        _ => false,
    }
}

/// This edge's end of the answers channel.
pub struct Answers {
    /// Off unless the edge's handler asks clients things.
    enabled: std::sync::atomic::AtomicBool,
    edge_id: String,
    store: SharedStore,
    listening: tokio::sync::OnceCell<()>,
}

impl Answers {
    pub fn new(store: SharedStore) -> Self {
        Self {
            enabled: std::sync::atomic::AtomicBool::new(false),
            edge_id: uuid::Uuid::new_v4().to_string(),
            store,
            listening: tokio::sync::OnceCell::new(),
        }
    }

    /// Turns relaying on or off.
    pub fn enable(&self, on: bool) {
        self.enabled.store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether answers are relayed.
    pub fn enabled(&self) -> bool {
        self.enabled.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Publishes `message` for the other edges. A store that cannot take it
    /// leaves the answer with this edge's copy only (logged).
    pub async fn publish(&self, session: &SessionId, message: &ClientJsonRpcMessage) {
        let published = Published {
            from: self.edge_id.clone(),
            session: session.to_string(),
            message: message.clone(),
        };
        let Ok(payload) = serde_json::to_vec(&published) else {
            return;
        };
        if payload.len() > RELAY_MAX_BYTES {
            tracing::warn!(session = %session, bytes = payload.len(),
                "answer too large to relay to the other edges; kept on this edge");
            return;
        }
        if let Err(e) = self.store.publish(CHANNEL, Bytes::from(payload)).await {
            tracing::warn!(session = %session, error = %e,
                "answer not relayed to the other edges: shared store unreachable");
        }
    }

    /// Starts listening, once per edge: answers posted on other edges for
    /// sessions held here reach `local`.
    pub async fn listen(&self, local: Arc<LocalSessionManager>) {
        if !self.enabled() {
            return;
        }
        self.listening
            .get_or_init(|| async {
                let me = self.edge_id.clone();
                crate::follow::follow(self.store.clone(), CHANNEL.to_owned(), move |payload| {
                    let local = Arc::clone(&local);
                    let me = me.clone();
                    async move { deliver(&me, &local, &payload).await }
                })
                .await;
            })
            .await;
    }
}

/// Hands an answer published by another edge to this edge's copy of its
/// session, if it holds one.
async fn deliver(me: &str, local: &LocalSessionManager, payload: &[u8]) {
    let Ok(published) = serde_json::from_slice::<Published>(payload) else {
        tracing::warn!("unreadable relayed session answer dropped");
        return;
    };
    if published.from == me {
        return;
    }
    let id = SessionId::from(published.session.as_str());
    if !local.sessions.read().await.contains_key(&id) {
        return;
    }
    if let Err(e) = local.accept_message(&id, published.message).await {
        tracing::debug!(session = %id, error = %e, "relayed answer not taken");
    }
}
