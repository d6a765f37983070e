//! `resources/subscribe` and `resources/unsubscribe` of the earlier
//! protocols, and sending their updates.
//!
//! - A 2025 session (the request carries `Mcp-Session-Id`) keeps its
//!   subscriptions in its shared record; the edge that holds its standalone
//!   `GET` stream sends the updates, through the session's peer on that edge
//!   (registered when the session is initialized or restored there).
//! - A legacy HTTP+SSE session lives on one edge; its subscriptions stay in
//!   that edge's memory.

use std::sync::Arc;

use common::{ErrorCode, Failure, notify::VersionChanged};
use rmcp::{
    ErrorData, RoleServer,
    model::{ResourceUpdatedNotificationParam, ServerNotification},
    service::{NotificationContext, Peer, RequestContext},
};

use super::{Listeners, affected, environment_of};
use crate::convert;

/// Which conversation a request belongs to, for its subscriptions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conversation {
    /// A 2025 Streamable HTTP session.
    Session(String),
    /// A legacy HTTP+SSE session.
    Legacy(String),
}

/// The conversation of a request or notification with `extensions`; `None`
/// for a stateless one.
pub fn conversation_of(extensions: &rmcp::model::Extensions) -> Option<Conversation> {
    let parts = extensions.get::<http::request::Parts>()?;
    if let Some(legacy) = parts.extensions.get::<crate::legacy::LegacySession>() {
        return Some(Conversation::Legacy(legacy.0.clone()));
    }
    let session = parts.headers.get("mcp-session-id")?.to_str().ok()?;
    Some(Conversation::Session(session.to_owned()))
}

/// The channel of session-wide notifications made on one edge for a
/// session whose `GET` stream is on another.
pub const NOTICES: &str = "d365mcp:sessions:v1:notices";

/// A notification for a session's standalone stream, as published.
#[derive(serde::Serialize, serde::Deserialize)]
struct Notice {
    session: String,
    notification: ServerNotification,
}

/// Sends a request's notifications that belong to no request (log lines)
/// where its client hears them: a 2025 session's on its `GET` stream, on
/// whichever edge holds it ([`Listeners::notify_session`]); any other
/// conversation's on its own stream.
#[derive(Clone)]
pub struct Notifier {
    listeners: Arc<Listeners>,
    session: Option<String>,
    peer: Peer<RoleServer>,
}

impl Notifier {
    /// Remembers the session that `context`'s `initialize` opens on this
    /// edge, so that its notifications and resource updates reach its `GET`
    /// stream here. A session opened on one edge may get its
    /// `notifications/initialized` on another, so the handshake's request is
    /// where the opening edge learns its peer. Every handler calls this from
    /// `initialize`.
    pub async fn session_opened(state: &crate::EdgeState, context: &RequestContext<RoleServer>) {
        if let Some(crate::sessions::Opened(id)) = context.extensions.get() {
            state
                .listeners
                .session_initialized(id.to_string(), context.peer.clone())
                .await;
        }
    }

    /// Remembers the session that `context`'s `notifications/initialized`
    /// completes on this edge — another edge's session, replayed here to
    /// take it over — so that its notifications and resource updates reach
    /// its `GET` stream here. Every handler calls this from `on_initialized`.
    pub async fn session_initialized(
        state: &crate::EdgeState,
        context: &NotificationContext<RoleServer>,
    ) {
        if let Some(Conversation::Session(id)) = conversation_of(&context.extensions) {
            state
                .listeners
                .session_initialized(id, context.peer.clone())
                .await;
        }
    }

    /// The notifier of the request `context`, on the edge of `state`.
    pub fn of(state: &crate::EdgeState, context: &RequestContext<RoleServer>) -> Self {
        let session = match conversation_of(&context.extensions) {
            Some(Conversation::Session(id)) => Some(id),
            _ => None,
        };
        Self {
            listeners: Arc::clone(&state.listeners),
            session,
            peer: context.peer.clone(),
        }
    }

    /// Sends `notification`; a client that went away just misses it.
    pub async fn send(&self, notification: ServerNotification) {
        match &self.session {
            Some(id) => self.listeners.notify_session(id, notification).await,
            None => {
                if let Err(e) = self.peer.send_notification(notification).await {
                    tracing::debug!(error = %e, "notification not delivered");
                }
            }
        }
    }
}

impl Listeners {
    /// Sends `notification` on session `session`'s standalone (`GET`)
    /// stream: from here when this edge holds it, else through the store to
    /// the edge that does. rmcp sends a session's notifications that belong
    /// to no request (log lines among them) on that stream, which may be on
    /// any edge; with no stream open anywhere the notification is lost, as
    /// it would be on a single server.
    pub async fn notify_session(&self, session: &str, notification: ServerNotification) {
        if self.sessions.streams_here(session) {
            self.send_here(session, notification).await;
            return;
        }
        let notice = Notice {
            session: session.to_owned(),
            notification,
        };
        let Ok(payload) = serde_json::to_vec(&notice) else {
            return;
        };
        if let Err(e) = self
            .store
            .publish(NOTICES, bytes::Bytes::from(payload))
            .await
        {
            tracing::debug!(session, error = %e, "session notification not relayed");
        }
    }

    /// Delivers a notice published by another edge, if the session's
    /// stream is here.
    pub(super) async fn deliver_notice(&self, payload: &[u8]) {
        let Ok(notice) = serde_json::from_slice::<Notice>(payload) else {
            tracing::warn!("unreadable session notification dropped");
            return;
        };
        if self.sessions.streams_here(&notice.session) {
            self.send_here(&notice.session, notice.notification).await;
        }
    }

    async fn send_here(&self, session: &str, notification: ServerNotification) {
        if let Some(peer) = self.sessions.peer(session)
            && let Err(e) = peer.send_notification(notification).await
        {
            tracing::debug!(session, error = %e, "session notification not delivered");
        }
    }

    /// Remembers `peer` as session `session`'s on this edge (with its copy
    /// here, `crate::sessions`), and listens for changes: the session may
    /// subscribe through another edge and hold its stream here.
    pub async fn session_initialized(self: &Arc<Self>, session: String, peer: Peer<RoleServer>) {
        self.sessions.set_peer(&session, peer);
        self.start_relay().await;
    }

    /// `resources/subscribe` (or, with `subscribe: false`, unsubscribe) of
    /// `uri` by the session `session` (2025) or the legacy stream behind `peer`.
    pub async fn subscribe(
        self: &Arc<Self>,
        conversation: Option<Conversation>,
        peer: Peer<RoleServer>,
        uri: &str,
        subscribe: bool,
    ) -> Result<(), ErrorData> {
        if environment_of(uri).is_none() {
            return Err(convert::error_data(&Failure::new(
                ErrorCode::NotFound,
                format!(
                    "no resource at `{}` to subscribe to; resources/list and resources/templates/list describe this server's",
                    common::clip::clip(uri)
                ),
            )));
        }
        self.start_relay().await;
        let session = match conversation {
            Some(Conversation::Session(session)) => session,
            Some(Conversation::Legacy(id)) => {
                let mut legacy = self.legacy.lock();
                legacy.retain(|_, (p, _)| !p.is_transport_closed());
                let entry = legacy.entry(id).or_insert_with(|| (peer, Vec::new()));
                if change(&mut entry.1, uri, subscribe) {
                    return Ok(());
                }
                return Err(too_many());
            }
            None => {
                return Err(convert::error_data(&Failure::new(
                    ErrorCode::InvalidRequest,
                    "resources/subscribe needs a session; with 2026-07-28 use subscriptions/listen",
                )));
            }
        };
        let mut full = false;
        match self
            .sessions
            .shared_records()
            .update_subscriptions(&session, |uris| full = !change(uris, uri, subscribe))
            .await
        {
            Ok(true) if full => Err(too_many()),
            Ok(true) => Ok(()),
            Ok(false) => Err(convert::error_data(&Failure::new(
                ErrorCode::NotFound,
                "the session ended; open a new one",
            ))),
            Err(e) => Err(convert::error_data(&Failure::new(
                ErrorCode::Unavailable,
                format!("subscriptions are unavailable for a moment ({e}); retry shortly"),
            ))),
        }
    }

    /// Sends `change`'s updates to the subscribed sessions whose stream is here.
    pub(super) async fn notify_subscribers(&self, change: &VersionChanged) {
        let mut due: Vec<(Peer<RoleServer>, String)> = Vec::new();
        {
            let mut legacy = self.legacy.lock();
            legacy.retain(|_, (p, _)| !p.is_transport_closed());
            for (peer, uris) in legacy.values() {
                due.extend(matching(uris, change).map(|uri| (peer.clone(), uri)));
            }
        }
        for (id, peer) in self.sessions.streaming_peers() {
            match self.sessions.shared_records().peek(&id).await {
                Ok(Some(record)) => {
                    due.extend(
                        matching(&record.subscriptions, change).map(|uri| (peer.clone(), uri)),
                    );
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(session = id, error = %e, "subscriptions unreadable; update not sent")
                }
            }
        }
        for (peer, uri) in due {
            if let Err(e) = peer
                .notify_resource_updated(ResourceUpdatedNotificationParam::new(uri))
                .await
            {
                tracing::debug!(error = %e, "resource update not delivered");
            }
        }
    }
}

fn matching<'a>(
    uris: &'a [String],
    change: &'a VersionChanged,
) -> impl Iterator<Item = String> + 'a {
    uris.iter()
        .filter(|uri| environment_of(uri).is_some_and(|env| affected(&env, change)))
        .cloned()
}

/// Most resources one session may subscribe to: its subscriptions live in
/// its shared record for the session's life.
pub const MAX_SUBSCRIPTIONS: usize = 256;

/// Applies one subscribe or unsubscribe to `uris`; `false` (and nothing
/// changed) when a subscription would pass [`MAX_SUBSCRIPTIONS`].
fn change(uris: &mut Vec<String>, uri: &str, subscribe: bool) -> bool {
    if subscribe && uris.len() >= MAX_SUBSCRIPTIONS && !uris.iter().any(|u| u == uri) {
        return false;
    }
    uris.retain(|u| u != uri);
    if subscribe {
        uris.push(uri.to_owned());
    }
    true
}

fn too_many() -> ErrorData {
    convert::error_data(&Failure::new(
        ErrorCode::InvalidRequest,
        format!(
            "a session may subscribe to at most {MAX_SUBSCRIPTIONS} resources; \
             resources/unsubscribe from one first"
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_subscribes_to_a_bounded_number_of_resources() {
        let mut uris = Vec::new();
        for i in 0..MAX_SUBSCRIPTIONS {
            assert!(change(
                &mut uris,
                &format!("d365fo://entities/E{i}/schema"),
                true
            ));
        }
        assert!(!change(&mut uris, "d365fo://entities/More/schema", true));
        assert_eq!(uris.len(), MAX_SUBSCRIPTIONS);
        // Subscribing again to one held, or unsubscribing, still works.
        assert!(change(&mut uris, "d365fo://entities/E0/schema", true));
        assert!(change(&mut uris, "d365fo://entities/E1/schema", false));
        assert!(change(&mut uris, "d365fo://entities/More/schema", true));
    }
}
