//! `subscriptions/listen` (2026-07-28): change notifications for the
//! `d365fo://` resources, fanned out to every edge through the store.
//!
//! A resource's contents change when its environment's version does (a
//! D365FO service update): a worker announces that on the store's channel
//! `common::notify::ENVIRONMENT_VERSIONS`, and every edge — one
//! subscription each, started with its first listener — sends
//! `notifications/resources/updated` to each of its listeners that asked for
//! a resource of that environment. The client may be on any edge; the
//! worker that noticed may serve any of them.
//!
//! Clients of the earlier protocols subscribe with `resources/subscribe`
//! (`sessions`): a 2025 session's subscriptions live in its shared record,
//! so it may subscribe through one edge and hold its `GET` stream on
//! another — the edge holding the stream sends the update. A call's log
//! lines for a session go the same way ([`Listeners::notify_session`]).

mod sessions;

pub use sessions::{Conversation, Notifier, conversation_of};

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use common::{
    notify::{ENVIRONMENT_VERSIONS, VersionChanged},
    store::SharedStore,
};
use parking_lot::Mutex;
use rmcp::{
    RoleServer,
    model::{
        ResourceUpdatedNotification, ResourceUpdatedNotificationParam, ServerNotification,
        SubscriptionFilter,
    },
    service::{Peer, SubscriptionSink},
};

use crate::{resources::Address, sessions::Sessions};

/// One listener's resources and where to send their updates.
struct Listener {
    id: u64,
    sink: SubscriptionSink,
    /// (URI, its environment; `None` = the default one).
    resources: Vec<(String, Option<String>)>,
}

/// A legacy session's peer and the resources it subscribed to.
type Subscriber = (Peer<RoleServer>, Vec<String>);

/// The listeners of one edge.
pub struct Listeners {
    store: SharedStore,
    sessions: Arc<Sessions>,
    next_id: AtomicU64,
    listening: Mutex<Vec<Listener>>,
    /// Subscriptions of legacy HTTP+SSE sessions (always on this edge):
    /// the peer and its resources.
    legacy: Mutex<std::collections::HashMap<String, Subscriber>>,
    relay: tokio::sync::OnceCell<()>,
}

impl Listeners {
    pub fn new(store: SharedStore, sessions: Arc<Sessions>) -> Arc<Self> {
        Arc::new(Self {
            store,
            sessions,
            next_id: AtomicU64::new(0),
            listening: Mutex::new(Vec::new()),
            legacy: Mutex::new(std::collections::HashMap::new()),
            relay: tokio::sync::OnceCell::new(),
        })
    }

    /// What this server accepts of `requested`: updates of its own resources.
    pub fn accept(requested: &SubscriptionFilter) -> SubscriptionFilter {
        let ours = requested
            .resource_subscriptions
            .iter()
            .flatten()
            .filter(|uri| Address::parse(uri).is_ok())
            .cloned();
        SubscriptionFilter::builder()
            .resource_subscriptions(ours)
            .build()
    }

    /// Sends `sink` the updates of the resources it accepted whose
    /// environment `may_follow` allows (the caller's tenant policy), until
    /// the returned guard is dropped.
    pub async fn register(
        self: &Arc<Self>,
        sink: SubscriptionSink,
        may_follow: impl Fn(Option<&str>) -> bool,
    ) -> Registration {
        self.start_relay().await;
        let resources = sink
            .accepted()
            .resource_subscriptions
            .iter()
            .flatten()
            .filter_map(|uri| Some((uri.clone(), environment_of(uri)?)))
            .filter(|(_, environment)| may_follow(environment.as_deref()))
            .collect();
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.listening.lock().push(Listener {
            id,
            sink,
            resources,
        });
        Registration {
            listeners: Arc::clone(self),
            id,
        }
    }

    pub(crate) async fn start_relay(self: &Arc<Self>) {
        self.relay
            .get_or_init(|| async {
                let this = Arc::clone(self);
                crate::follow::follow(
                    self.store.clone(),
                    ENVIRONMENT_VERSIONS.to_owned(),
                    move |payload| {
                        let this = Arc::clone(&this);
                        async move {
                            match serde_json::from_slice::<VersionChanged>(&payload) {
                                Ok(change) => this.notify(&change).await,
                                Err(e) => {
                                    tracing::warn!(error = %e, "unreadable version change dropped")
                                }
                            }
                        }
                    },
                )
                .await;
                let this = Arc::clone(self);
                crate::follow::follow(
                    self.store.clone(),
                    sessions::NOTICES.to_owned(),
                    move |payload| {
                        let this = Arc::clone(&this);
                        async move { this.deliver_notice(&payload).await }
                    },
                )
                .await;
            })
            .await;
    }

    async fn notify(&self, change: &VersionChanged) {
        let due: Vec<(SubscriptionSink, String)> = self
            .listening
            .lock()
            .iter()
            .flat_map(|l| {
                l.resources
                    .iter()
                    .filter(|(_, env)| affected(env, change))
                    .map(|(uri, _)| (l.sink.clone(), uri.clone()))
            })
            .collect();
        for (sink, uri) in due {
            let update =
                ResourceUpdatedNotification::new(ResourceUpdatedNotificationParam::new(uri));
            if let Err(e) = sink
                .send(ServerNotification::ResourceUpdatedNotification(update))
                .await
            {
                tracing::debug!(error = %e, "resource update not delivered");
            }
        }
        self.notify_subscribers(change).await;
    }
}

/// Unregisters its listener when dropped.
pub struct Registration {
    listeners: Arc<Listeners>,
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.listeners.listening.lock().retain(|l| l.id != self.id);
    }
}

/// The environment of a `d365fo://` resource (`None` inside: the default
/// one); `None` for a URI that is not ours.
pub(crate) fn environment_of(uri: &str) -> Option<Option<String>> {
    match Address::parse(uri).ok()? {
        Address::Environment { environment }
        | Address::EntitySchema { environment, .. }
        | Address::Enumeration { environment, .. } => Some(environment),
    }
}

/// Whether a resource of `environment` changed with `change`.
fn affected(environment: &Option<String>, change: &VersionChanged) -> bool {
    match environment {
        Some(name) => name == &change.environment,
        None => change.is_default,
    }
}
