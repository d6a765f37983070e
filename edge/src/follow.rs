//! Following a channel of the shared store for as long as the edge runs.

use std::{future::Future, time::Duration};

use bytes::Bytes;
use common::store::SharedStore;
use futures::StreamExt;

/// How long to wait before subscribing again after a subscription ended
/// (Redis restarted, the connection dropped).
const RESUBSCRIBE_AFTER: Duration = Duration::from_millis(500);

/// The longest one message may take to handle: a handler waits on a
/// client's stream, and one client that stops reading must not stall the
/// channel for every other session on the edge.
const HANDLE_WITHIN: Duration = Duration::from_secs(2);

/// Subscribes to `channel` and hands every message to `handle`, one at a
/// time and each within [`HANDLE_WITHIN`], in a task of its own. The first subscription is made before this
/// returns, so a message published afterwards is not missed (when the store
/// answers); a subscription that ends is made again until it works.
pub async fn follow<F, Fut>(store: SharedStore, channel: String, mut handle: F)
where
    F: FnMut(Bytes) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let mut subscription = store.subscribe(&channel).await.ok();
    tokio::spawn(async move {
        loop {
            if let Some(mut messages) = subscription.take() {
                while let Some(message) = messages.next().await {
                    if tokio::time::timeout(HANDLE_WITHIN, handle(message))
                        .await
                        .is_err()
                    {
                        tracing::warn!(%channel, "store message dropped: its handling took too long");
                    }
                }
                tracing::warn!(%channel, "store subscription ended; subscribing again");
            }
            tokio::time::sleep(RESUBSCRIBE_AFTER).await;
            match store.subscribe(&channel).await {
                Ok(messages) => subscription = Some(messages),
                Err(e) => tracing::debug!(%channel, error = %e, "store subscription"),
            }
        }
    });
}
