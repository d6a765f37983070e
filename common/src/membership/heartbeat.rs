//! The worker's side of membership: renew the lease every interval while
//! serving, leave on shutdown. The store being down never stops the worker:
//! heartbeats fail, are logged once, and resume by themselves.

use std::{future::Future, sync::Arc, time::Duration};

use bytes::Bytes;
use tokio::time::MissedTickBehavior;

use super::WorkerRecord;
use crate::store::{MemberStore, StoreResult};

/// Keeps one member's lease in one group.
pub struct Heartbeat {
    store: Arc<dyn MemberStore>,
    group: String,
    id: String,
    payload: Bytes,
    interval: Duration,
    ttl: Duration,
}

impl Heartbeat {
    /// Heartbeats `record` into `group` every `interval`, each a lease of `ttl`.
    pub fn new(
        store: Arc<dyn MemberStore>,
        group: &str,
        record: &WorkerRecord,
        interval: Duration,
        ttl: Duration,
    ) -> Self {
        Self {
            store,
            group: group.to_owned(),
            id: record.id.clone(),
            payload: record.encode(),
            interval,
            ttl,
        }
    }

    /// Renews the lease once.
    pub async fn beat(&self) -> StoreResult<()> {
        self.store
            .heartbeat(&self.group, &self.id, self.payload.clone(), self.ttl)
            .await
    }

    /// Leaves the group now.
    pub async fn leave(&self) -> StoreResult<bool> {
        self.store.leave(&self.group, &self.id).await
    }

    /// Renews the lease every interval until `stop` resolves, then leaves.
    pub async fn run(self, stop: impl Future<Output = ()>) {
        let mut stop = std::pin::pin!(stop);
        let mut ticker = tokio::time::interval(self.interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            tokio::select! {
                () = &mut stop => break,
                _ = ticker.tick() => match self.beat().await {
                    Ok(()) if failing => {
                        failing = false;
                        tracing::info!(group = %self.group, member = %self.id, "membership heartbeats resumed");
                    }
                    Ok(()) => {}
                    Err(e) if !failing => {
                        failing = true;
                        tracing::warn!(group = %self.group, member = %self.id, error = %e,
                            "membership heartbeat failed; still serving, retrying every interval");
                    }
                    Err(e) => tracing::debug!(error = %e, "membership heartbeat failed again"),
                },
            }
        }
        match self.leave().await {
            Ok(_) => tracing::info!(group = %self.group, member = %self.id, "left the cluster"),
            Err(e) => tracing::warn!(group = %self.group, member = %self.id, error = %e,
                "could not leave the cluster; edges drop this worker when its lease runs out"),
        }
    }
}

#[cfg(test)]
mod tests {
    use url::Url;

    use super::*;
    use crate::store::MemoryStore;

    fn record() -> WorkerRecord {
        let url = Url::parse("http://127.0.0.1:50051").unwrap();
        WorkerRecord::new(&url, Duration::from_millis(20))
    }

    #[tokio::test]
    async fn a_running_heartbeat_keeps_the_member_live_and_leaves_on_stop() {
        let store = Arc::new(MemoryStore::new());
        let record = record();
        let heartbeat = Heartbeat::new(
            store.clone(),
            "test:workers",
            &record,
            Duration::from_millis(20),
            Duration::from_millis(100),
        );
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(heartbeat.run(async move {
            let _ = stopped.await;
        }));
        // Several leases long: only renewals keep it live.
        tokio::time::sleep(Duration::from_millis(400)).await;
        let live = store.live("test:workers").await.unwrap();
        assert_eq!(live.len(), 1, "renewed: {live:?}");
        assert_eq!(live[0].id, record.id);
        assert_eq!(live[0].payload, record.encode());

        let _ = stop.send(());
        task.await.unwrap();
        assert!(
            store.live("test:workers").await.unwrap().is_empty(),
            "left at once on stop"
        );
    }
}
