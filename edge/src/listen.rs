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

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use common::{
    notify::{ENVIRONMENT_VERSIONS, VersionChanged},
    store::SharedStore,
};
use futures::StreamExt;
use parking_lot::Mutex;
use rmcp::{
    model::{
        ResourceUpdatedNotification, ResourceUpdatedNotificationParam, ServerNotification,
        SubscriptionFilter,
    },
    service::SubscriptionSink,
};

use crate::resources::Address;

/// One listener's resources and where to send their updates.
struct Listener {
    id: u64,
    sink: SubscriptionSink,
    /// (URI, its environment; `None` = the default one).
    resources: Vec<(String, Option<String>)>,
}

/// The listeners of one edge.
pub struct Listeners {
    store: SharedStore,
    next_id: AtomicU64,
    listening: Mutex<Vec<Listener>>,
    relay: tokio::sync::OnceCell<()>,
}

impl Listeners {
    pub fn new(store: SharedStore) -> Arc<Self> {
        Arc::new(Self {
            store,
            next_id: AtomicU64::new(0),
            listening: Mutex::new(Vec::new()),
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

    /// Sends `sink` the updates of the resources it accepted until the
    /// returned guard is dropped.
    pub async fn register(self: &Arc<Self>, sink: SubscriptionSink) -> Registration {
        self.start_relay().await;
        let resources = sink
            .accepted()
            .resource_subscriptions
            .iter()
            .flatten()
            .filter_map(|uri| {
                let environment = match Address::parse(uri).ok()? {
                    Address::Environment { environment }
                    | Address::EntitySchema { environment, .. } => environment,
                };
                Some((uri.clone(), environment))
            })
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

    async fn start_relay(self: &Arc<Self>) {
        self.relay
            .get_or_init(|| async {
                let first = self.store.subscribe(ENVIRONMENT_VERSIONS).await;
                let this = Arc::clone(self);
                tokio::spawn(async move { this.relay_forever(first.ok()).await });
            })
            .await;
    }

    async fn relay_forever(
        self: Arc<Self>,
        mut subscription: Option<futures::stream::BoxStream<'static, bytes::Bytes>>,
    ) {
        loop {
            if let Some(mut messages) = subscription.take() {
                while let Some(payload) = messages.next().await {
                    match serde_json::from_slice::<VersionChanged>(&payload) {
                        Ok(change) => self.notify(&change).await,
                        Err(e) => tracing::warn!(error = %e, "unreadable version change dropped"),
                    }
                }
                tracing::warn!("change-notification subscription ended; subscribing again");
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
            match self.store.subscribe(ENVIRONMENT_VERSIONS).await {
                Ok(messages) => subscription = Some(messages),
                Err(e) => tracing::debug!(error = %e, "change-notification subscription"),
            }
        }
    }

    async fn notify(&self, change: &VersionChanged) {
        let due: Vec<(SubscriptionSink, String)> = self
            .listening
            .lock()
            .iter()
            .flat_map(|l| {
                l.resources
                    .iter()
                    .filter(|(_, env)| match env {
                        Some(name) => name == &change.environment,
                        None => change.is_default,
                    })
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
