//! The legacy HTTP+SSE transport (MCP 2024-11-05), served on any edge.
//!
//! A client opens `GET /sse`; the first event (`endpoint`) names where to
//! post: `/message?sessionId={id}`. Every server message then arrives on
//! that stream as an event `message`. A POST may land on any edge:
//!
//! - the session's record, key `d365mcp:legacy:v1:{id}` (owner principal
//!   and the edge holding the stream; TTL [`RECORD_TTL`], renewed while the
//!   stream is open, deleted when it closes), says where the stream is;
//! - on that edge the message goes straight into the session; from another
//!   edge it is published on the holder's channel
//!   `d365mcp:legacy:v1:edge:{edge_id}` — one subscription per edge,
//!   whatever the number of streams — and the holder hands it on.
//!
//! Answers: 202 once the message is on its way; 415 for a body not declared
//! `application/json`; 400 for a body that is not JSON-RPC or a missing
//! `sessionId`; 404 for a session that is unknown,
//! closed, or another caller's; 503 while the store is unreachable (a POST to
//! the stream's own edge still works then).
//!
//! The MCP conversation itself is rmcp's: each stream runs one
//! [`McpHandler`](crate::mcp::McpHandler) over a sink/stream transport.

mod relay;
mod stream;

use std::{collections::HashMap, sync::Arc, time::Duration};

use common::store::SharedStore;
use parking_lot::Mutex;
use rmcp::model::ClientJsonRpcMessage;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

pub use relay::{post_message, require_json};
pub use stream::open_stream;

use crate::auth::Principal;

/// How long a stream's record lives without renewal: an edge that dies
/// leaves a record that expires this long after its last renewal.
pub const RECORD_TTL: Duration = Duration::from_secs(30);
/// How often an open stream renews its record.
const RENEW_EVERY: Duration = Duration::from_secs(10);
/// Messages queued for one session before POSTs are refused.
const INBOX: usize = 64;

fn record_key(session: &str) -> String {
    format!("d365mcp:legacy:v1:{session}")
}

fn edge_channel(edge: &str) -> String {
    format!("d365mcp:legacy:v1:edge:{edge}")
}

/// Marks the requests of a legacy session (an extension of their HTTP parts).
#[derive(Debug, Clone)]
pub struct LegacySession(pub String);

/// Where a legacy session's stream is, and whose it is.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    principal: Principal,
    edge: String,
}

/// A message posted on one edge for a stream on another.
#[derive(Serialize, Deserialize)]
struct Relayed {
    session: String,
    message: ClientJsonRpcMessage,
}

/// The legacy sessions of one edge.
pub struct Legacy {
    /// This edge's id in records and channel names (random per process).
    edge_id: String,
    store: SharedStore,
    /// The streams this edge holds: owner and inbox.
    local: Mutex<HashMap<String, (Principal, mpsc::Sender<ClientJsonRpcMessage>)>>,
    /// The relay subscription, started with the first stream.
    relay: tokio::sync::OnceCell<()>,
}

impl Legacy {
    pub fn new(store: SharedStore) -> Arc<Self> {
        Arc::new(Self {
            edge_id: uuid::Uuid::new_v4().to_string(),
            store,
            local: Mutex::new(HashMap::new()),
            relay: tokio::sync::OnceCell::new(),
        })
    }

    fn held_here(&self, session: &str) -> Option<(Principal, mpsc::Sender<ClientJsonRpcMessage>)> {
        self.local.lock().get(session).cloned()
    }

    /// Keeps `caller` — the stream's owner, with a newer token perhaps — as
    /// the principal the stream's next messages run as.
    fn renew_owner(&self, session: &str, caller: &Principal) {
        if let Some((owner, _)) = self.local.lock().get_mut(session)
            && owner == caller
        {
            *owner = caller.clone();
        }
    }
}
