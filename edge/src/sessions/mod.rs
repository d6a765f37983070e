//! MCP sessions (the 2025 Streamable HTTP protocol) shared by every edge.
//!
//! rmcp runs each session in memory on the edge that serves it
//! ([`LocalSessionManager`]); this module makes that memory a cache of the
//! shared store:
//!
//! - `record`: the session's owner and `initialize` parameters in the store,
//!   with a sliding idle TTL. Another edge that gets a request for the
//!   session restores it from there (rmcp replays the handshake).
//! - `gate`: the HTTP middleware in front of rmcp. A request naming a
//!   session is served only if the record exists and belongs to the
//!   caller's principal — otherwise 404, on every edge, at once after a
//!   DELETE on any of them. It answers DELETE itself.
//! - `events`: every SSE event of a session, logged in the store, so
//!   `Last-Event-ID` resumes on any edge.
//! - `caps`: most sessions per API key and per tenant (slots in the
//!   store), most legacy streams per key and tenant on an edge.
//! - `answers`: a client's answer to a server request (elicitation,
//!   sampling) reaches the edge that asked, wherever it was posted.
//! - `held`: the copies held in this edge's memory; one idle for a while is
//!   evicted, and restored from the store by its next request.
//!
//! While the store is unreachable an edge keeps serving the sessions it
//! holds in memory (it cannot learn of a DELETE elsewhere meanwhile), and
//! answers 503 for the others. A session opened then lives on its edge only.

mod answers;
mod caps;
mod events;
mod gate;
mod held;
mod record;

use std::{sync::Arc, time::Duration};

use common::store::{SharedStore, StoreError};
use futures::{Stream, StreamExt};
use rmcp::{
    model::{ClientJsonRpcMessage, ClientRequest, GetExtensions, ServerJsonRpcMessage},
    transport::streamable_http_server::session::{
        RestoreOutcome, ServerSseMessage, SessionId, SessionManager, SessionRestoreMarker,
        local::{LocalSessionManager, LocalSessionManagerError},
    },
};

pub use caps::{Caps, OpensSession, Slots};
pub use events::SharedEvents;
pub use gate::{claim, gate, plausible_id};
pub use held::released;
pub use record::Records;

use crate::{auth::Principal, metrics};
use record::Record;

/// Why a session operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SessionsError {
    #[error(transparent)]
    Local(#[from] LocalSessionManagerError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// rmcp's session manager for an edge of the cluster.
pub struct Sessions {
    local: Arc<LocalSessionManager>,
    answers: answers::Answers,
    records: Records,
    caps: Arc<Caps>,
    /// Sessions whose standalone stream (`GET`) is open on this edge: their
    /// session-wide notifications are sent from here.
    standalone: Arc<parking_lot::Mutex<std::collections::HashSet<SessionId>>>,
    /// The sessions this edge holds in memory (opened or restored here).
    held: Arc<held::Held>,
    /// Started with the first session: evicts idle copies.
    evicting: std::sync::OnceLock<()>,
}

impl Sessions {
    /// Sessions kept in `store`, ending after `idle_ttl` without a request,
    /// at most `caps` of them per key and tenant; this edge's copy of one
    /// is evicted from memory after `evict_after` without a request.
    pub fn new(
        store: SharedStore,
        idle_ttl: Duration,
        evict_after: Duration,
        caps: common::config::SessionCaps,
    ) -> Self {
        let events = Arc::new(SharedEvents::new(store.clone()));
        Self {
            local: Arc::new(LocalSessionManager::default().with_event_store(events)),
            answers: answers::Answers::new(store.clone()),
            caps: Arc::new(Caps::new(store.clone(), caps, idle_ttl)),
            records: Records::new(store, idle_ttl),
            standalone: Arc::default(),
            held: Arc::new(held::Held::new(evict_after)),
            evicting: std::sync::OnceLock::new(),
        }
    }

    /// Whether clients' answers posted here are relayed to the other edges
    /// (see `answers`); off until the edge's handler asks clients things.
    pub fn relay_answers(&self, on: bool) {
        self.answers.enable(on);
    }

    /// The caps on sessions and legacy streams.
    pub fn caps(&self) -> &Arc<Caps> {
        &self.caps
    }

    /// The shared records.
    pub fn shared_records(&self) -> &Records {
        &self.records
    }

    /// Whether session `id`'s standalone stream is open on this edge.
    pub fn streams_here(&self, id: &str) -> bool {
        self.standalone.lock().contains(&SessionId::from(id))
    }

    /// The records, for rmcp's restore path.
    pub fn records(&self) -> Arc<Records> {
        Arc::new(self.records.clone())
    }

    fn held_here(&self, id: &SessionId) -> bool {
        self.held.contains(id)
    }

    /// Drops this edge's copy of session `id`, if it holds one, which ends
    /// for `reason`.
    async fn forget(&self, id: &SessionId, reason: metrics::EndReason) {
        if self.held.release(id, reason) {
            close_local(&self.local, id).await;
        }
    }

    /// The MCP peer of session `id` on this edge, if it holds the session.
    pub fn peer(&self, id: &str) -> Option<rmcp::service::Peer<rmcp::RoleServer>> {
        self.held.peer(&SessionId::from(id))
    }

    /// Remembers `peer` as session `id`'s on this edge.
    pub fn set_peer(&self, id: &str, peer: rmcp::service::Peer<rmcp::RoleServer>) {
        self.held.set_peer(&SessionId::from(id), peer);
    }

    /// The peers of the sessions whose standalone stream is open here.
    pub fn streaming_peers(&self) -> Vec<(String, rmcp::service::Peer<rmcp::RoleServer>)> {
        let standalone = self.standalone.lock().clone();
        self.held
            .peers(|id| standalone.contains(id))
            .into_iter()
            .map(|(id, peer)| (id.to_string(), peer))
            .collect()
    }
}

impl Sessions {
    /// How many sessions this edge holds in memory.
    pub fn held_count(&self) -> usize {
        self.held.len()
    }

    /// Counts session `id` held on this edge until its copy here ends, and
    /// starts evicting idle copies with the first.
    fn hold(&self, id: &SessionId, version: metrics::SharedVersion) {
        self.held.hold(id, version);
        self.evicting.get_or_init(|| {
            let local = Arc::downgrade(&self.local);
            let evict = held::Held::evict(Arc::downgrade(&self.held), move |id| {
                let local = local.clone();
                async move {
                    if let Some(local) = local.upgrade() {
                        close_local(&local, &id).await;
                    }
                }
            });
            tokio::spawn(evict);
        });
    }
}

/// Closes the copy of session `id` in `local`, already released from `held`.
async fn close_local(local: &LocalSessionManager, id: &SessionId) {
    if let Err(e) = local.close_session(id).await {
        tracing::debug!(session = %id, error = %e, "closing the local copy of a session");
    }
}

/// The label of the version an `initialize` asks for.
fn version_in(message: &ClientJsonRpcMessage) -> Option<&'static str> {
    let ClientJsonRpcMessage::Request(request) = message else {
        return None;
    };
    let ClientRequest::InitializeRequest(init) = &request.request else {
        return None;
    };
    Some(metrics::version_name(Some(
        init.params.protocol_version.as_str(),
    )))
}

/// The id of the session an `initialize` request opens (an extension of
/// the request, set by [`Sessions`]).
#[derive(Debug, Clone)]
pub struct Opened(pub SessionId);

/// Marks a standalone stream open until dropped.
struct StreamOpen {
    standalone: Arc<parking_lot::Mutex<std::collections::HashSet<SessionId>>>,
    id: SessionId,
}

impl Drop for StreamOpen {
    fn drop(&mut self) {
        self.standalone.lock().remove(&self.id);
    }
}

/// The record a genuine `initialize` (not a restore replay) opens.
fn opening_record(message: &ClientJsonRpcMessage) -> Option<Record> {
    let ClientJsonRpcMessage::Request(request) = message else {
        return None;
    };
    let ClientRequest::InitializeRequest(init) = &request.request else {
        return None;
    };
    if init.extensions().get::<SessionRestoreMarker>().is_some() {
        return None;
    }
    Some(Record {
        principal: Principal::of(init.extensions().get()),
        initialize: record::kept(&init.params),
        subscriptions: Vec::new(),
        log_level: None,
        // Taken by `gate::claim` before rmcp ran.
        slots: init
            .extensions()
            .get::<http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<Slots>())
            .copied(),
    })
}

impl SessionManager for Sessions {
    type Error = SessionsError;
    type Transport = <LocalSessionManager as SessionManager>::Transport;

    async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
        self.answers.listen(Arc::clone(&self.local)).await;
        let (id, transport) = self.local.create_session().await?;
        self.hold(&id, metrics::SharedVersion::default());
        Ok((id, transport))
    }

    async fn initialize_session(
        &self,
        id: &SessionId,
        mut message: ClientJsonRpcMessage,
    ) -> Result<ServerJsonRpcMessage, Self::Error> {
        // rmcp keeps (and logs) the client's handshake too: what it sees is
        // the trimmed one the record holds.
        record::trim_message(&mut message);
        let record = opening_record(&message);
        // A genuine open's or a restore's: it labels the copy's duration here.
        if let Some(version) = version_in(&message) {
            self.held.set_version(id, version);
        }
        // The handler's `initialize` learns the new session's id (its
        // request carries no Mcp-Session-Id yet) to remember its peer.
        if let ClientJsonRpcMessage::Request(request) = &mut message {
            request.request.extensions_mut().insert(Opened(id.clone()));
        }
        let response = self.local.initialize_session(id, message).await?;
        if let (Some(record), ServerJsonRpcMessage::Response(_)) = (record, &response) {
            metrics::session_created(metrics::SessionKind::Session);
            if let Err(e) = self.records.save(id, &record).await {
                tracing::warn!(session = %id, error = %e,
                    "session not saved to the shared store; it lives on this edge only");
            }
        }
        Ok(response)
    }

    async fn has_session(&self, id: &SessionId) -> Result<bool, Self::Error> {
        // The gate has checked the shared record; this asks whether this
        // edge holds the session in memory (else rmcp restores it).
        self.held.used(id);
        Ok(self.held_here(id))
    }

    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        // Called when a local copy's service stops (idle, shutdown, closed
        // here): the session itself lives on in the store until DELETE or
        // expiry. A copy closed here may stop after a newer one was restored.
        if self.held.stopped(id) {
            self.local.close_session(id).await?;
        }
        Ok(())
    }

    async fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        let busy = self.held.stream(id);
        let stream = self.local.create_stream(id, message).await?;
        Ok(
            metrics::counted(metrics::StreamKind::Request, stream).map(move |event| {
                let _busy = &busy;
                event
            }),
        )
    }

    async fn accept_message(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<(), Self::Error> {
        self.held.used(id);
        if answers::is_answer(&message) && self.answers.enabled() {
            self.answers.publish(id, &message).await;
        }
        Ok(self.local.accept_message(id, message).await?)
    }

    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        let busy = self.held.stream(id);
        let stream = self.local.create_standalone_stream(id).await?;
        self.standalone.lock().insert(id.clone());
        let open = (
            StreamOpen {
                standalone: Arc::clone(&self.standalone),
                id: id.clone(),
            },
            metrics::StreamOpen::new(metrics::StreamKind::Standalone),
            busy,
        );
        Ok(futures::StreamExt::map(stream, move |event| {
            let _open = &open;
            event
        }))
    }

    async fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        let busy = self.held.stream(id);
        let stream = self.local.resume(id, last_event_id).await?;
        Ok(
            metrics::counted(metrics::StreamKind::Request, stream).map(move |event| {
                let _busy = &busy;
                event
            }),
        )
    }

    async fn restore_session(
        &self,
        id: SessionId,
    ) -> Result<RestoreOutcome<Self::Transport>, Self::Error> {
        self.answers.listen(Arc::clone(&self.local)).await;
        if !self.held_here(&id) && self.local.sessions.read().await.contains_key(&id) {
            // A copy evicted a moment ago, still being closed: rmcp restores
            // one session once at a time, so it is not the current one.
            close_local(&self.local, &id).await;
        }
        let outcome = self.local.restore_session(id.clone()).await?;
        if matches!(outcome, RestoreOutcome::Restored(_)) {
            // Its version (labelling its duration here) comes with the
            // replayed `initialize` (`initialize_session`).
            self.hold(&id, metrics::SharedVersion::default());
        }
        Ok(outcome)
    }

    // Deliberately `None`: with an event store rmcp would also log every
    // stateless (2026-07-28) reply and stop cancelling a stateless call whose
    // client went away. Session streams log through `local`'s event store.
    fn event_store(
        &self,
    ) -> Option<Arc<dyn rmcp::transport::streamable_http_server::session::EventStore>> {
        None
    }
}
