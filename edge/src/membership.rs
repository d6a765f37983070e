//! Following the workers that register in the shared store: an edge given
//! no static worker list reads the live members of
//! [`common::membership::WORKERS`] every refresh interval and hands their
//! URLs to its [`WorkerPool`].
//!
//! A worker whose lease runs out (it died) or that left (it shut down) is
//! missing from the next read and leaves the ring. While the store cannot
//! be read, the edge keeps the workers it last knew: an outage of the store
//! must not empty the ring. When the store answers again it may have lost
//! its data (a restarted Redis without persistence), so for two heartbeat
//! intervals (plus the store's operation timeout) after an outage workers
//! are only added, never dropped, giving every live worker time to register
//! again.

use std::{
    collections::{BTreeMap, HashSet},
    sync::Arc,
    time::Duration,
};

use common::{
    membership::{WORKERS, WorkerRecord},
    store::{Member, MemberStore, StoreResult},
};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::WorkerPool;

/// Beyond two heartbeat intervals, how long workers may take to register
/// again after an outage: a heartbeat that was waiting on the unreachable
/// store gives up after this (the Redis store's operation timeout).
const REGISTER_MARGIN: Duration = common::store::DEFAULT_OP_TIMEOUT;

/// Keeps a pool's workers in step with the registered members.
pub struct MemberWatch {
    store: Arc<dyn MemberStore>,
    pool: WorkerPool,
    known: Known,
}

impl MemberWatch {
    /// Follows the members `store` holds, for `pool`.
    pub fn new(store: Arc<dyn MemberStore>, pool: WorkerPool) -> Self {
        Self {
            store,
            pool,
            known: Known::default(),
        }
    }

    /// Reads the members once and updates the pool if they changed.
    pub async fn refresh(&mut self) {
        let read = self.store.live(WORKERS).await;
        if let Some(urls) = self.known.apply(read, Instant::now()) {
            self.pool.set_workers(&urls);
        }
    }

    /// Refreshes every `interval` until `stop` is cancelled.
    pub fn spawn(
        mut self,
        interval: Duration,
        stop: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    _ = ticker.tick() => self.refresh().await,
                }
            }
        })
    }
}

/// What the edge knows of the group between reads. Plain logic: each read
/// goes through [`Known::apply`].
#[derive(Default)]
struct Known {
    /// Workers by URL key, with the URL and their heartbeat interval.
    workers: BTreeMap<String, (Url, Duration)>,
    /// The last read failed.
    store_down: bool,
    /// After an outage, workers are not dropped before this.
    settle_until: Option<Instant>,
    /// Members whose record was refused, so that each is logged once.
    refused: HashSet<String>,
}

impl Known {
    /// Takes in one read; returns the URLs the pool should have when they
    /// differ from before.
    fn apply(&mut self, read: StoreResult<Vec<Member>>, now: Instant) -> Option<Vec<Url>> {
        let members = match read {
            Ok(members) => members,
            Err(e) => {
                if !self.store_down {
                    self.store_down = true;
                    tracing::warn!(error = %e, workers = self.workers.len(),
                        "cannot read worker membership; keeping the workers last known");
                }
                return None;
            }
        };
        let mut read = BTreeMap::new();
        let mut refused = HashSet::new();
        for member in &members {
            match WorkerRecord::decode(&member.id, &member.payload) {
                Ok((record, url)) => {
                    let heartbeat = Duration::from_millis(record.heartbeat_ms);
                    read.insert(
                        url.as_str().trim_end_matches('/').to_owned(),
                        (url, heartbeat),
                    );
                }
                Err(reason) => {
                    if !self.refused.contains(&member.id) {
                        tracing::warn!(%reason, "ignoring a registered worker");
                    }
                    refused.insert(member.id.clone());
                }
            }
        }
        self.refused = refused;
        if std::mem::take(&mut self.store_down) {
            let settle = self
                .workers
                .values()
                .chain(read.values())
                .map(|(_, heartbeat)| *heartbeat * 2)
                .fold(Duration::ZERO, Duration::max)
                + REGISTER_MARGIN;
            tracing::info!(
                workers = read.len(),
                ?settle,
                "worker membership readable again; dropping no worker while they re-register"
            );
            self.settle_until = Some(now + settle);
        }
        if self.settle_until.is_some_and(|until| now < until) {
            for (key, worker) in &self.workers {
                read.entry(key.clone()).or_insert_with(|| worker.clone());
            }
        } else {
            self.settle_until = None;
        }
        if read.keys().eq(self.workers.keys()) {
            return None;
        }
        self.workers = read;
        Some(self.workers.values().map(|(url, _)| url.clone()).collect())
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use common::store::StoreError;

    use super::*;

    fn member(n: u16) -> Member {
        let url = Url::parse(&format!("http://10.0.0.{n}:50051")).unwrap();
        let mut record = WorkerRecord::new(&url, Duration::from_secs(1));
        record.id = format!("w{n}");
        Member {
            id: record.id.clone(),
            payload: record.encode(),
            expires_in: Duration::from_secs(5),
        }
    }

    fn hosts(urls: Option<Vec<Url>>) -> Option<Vec<String>> {
        urls.map(|urls| {
            urls.iter()
                .filter_map(|u| u.host_str().map(str::to_owned))
                .collect()
        })
    }

    fn down() -> StoreResult<Vec<Member>> {
        Err(StoreError::Unavailable("redis down".into()))
    }

    #[test]
    fn members_join_and_leave_as_the_reads_say() {
        let mut known = Known::default();
        let t = Instant::now();
        assert_eq!(
            hosts(known.apply(Ok(vec![member(1), member(2)]), t)),
            Some(vec!["10.0.0.1".into(), "10.0.0.2".into()])
        );
        assert_eq!(
            known.apply(Ok(vec![member(2), member(1)]), t),
            None,
            "no change, no update"
        );
        assert_eq!(
            hosts(known.apply(Ok(vec![member(2)]), t)),
            Some(vec!["10.0.0.2".into()]),
            "a member missing from a read is dropped at once"
        );
        assert_eq!(hosts(known.apply(Ok(vec![]), t)), Some(vec![]));
    }

    #[test]
    fn an_unreadable_store_keeps_the_last_workers_and_its_return_drops_none_at_first() {
        let mut known = Known::default();
        let t = Instant::now();
        known.apply(Ok(vec![member(1), member(2)]), t);
        assert_eq!(known.apply(down(), t), None, "an outage changes nothing");
        assert_eq!(known.apply(down(), t + Duration::from_secs(30)), None);

        // Back, but empty (a restarted Redis): keep both while they re-register.
        let back = t + Duration::from_secs(31);
        assert_eq!(known.apply(Ok(vec![]), back), None);
        assert_eq!(
            hosts(known.apply(Ok(vec![member(3)]), back + Duration::from_secs(1))),
            Some(vec![
                "10.0.0.1".into(),
                "10.0.0.2".into(),
                "10.0.0.3".into()
            ]),
            "new members are added at once"
        );
        assert_eq!(
            known.apply(Ok(vec![member(3)]), back + Duration::from_secs(3)),
            None
        );
        // Two heartbeat intervals and the store's timeout later, the read is
        // the truth again.
        assert_eq!(
            hosts(known.apply(
                Ok(vec![member(1), member(3)]),
                back + Duration::from_secs(4)
            )),
            Some(vec!["10.0.0.1".into(), "10.0.0.3".into()])
        );
    }

    #[test]
    fn a_record_an_edge_cannot_use_is_skipped() {
        let mut known = Known::default();
        let bad = Member {
            id: "w9".into(),
            payload: Bytes::from_static(b"{}"),
            expires_in: Duration::from_secs(5),
        };
        assert_eq!(
            hosts(known.apply(Ok(vec![bad.clone(), member(1)]), Instant::now())),
            Some(vec!["10.0.0.1".into()])
        );
        assert!(known.refused.contains("w9"), "logged once, remembered");
        known.apply(Ok(vec![member(1)]), Instant::now());
        assert!(known.refused.is_empty(), "forgotten once it is gone");
    }

    #[tokio::test]
    async fn a_watch_fills_the_pool_from_the_store() {
        let store = Arc::new(common::store::MemoryStore::new());
        let record = WorkerRecord::new(
            &Url::parse("http://10.0.0.1:50051").unwrap(),
            Duration::from_secs(1),
        );
        store
            .heartbeat(WORKERS, &record.id, record.encode(), Duration::from_secs(5))
            .await
            .unwrap();
        let pool = WorkerPool::registered();
        let mut watch = MemberWatch::new(store.clone(), pool.clone());
        watch.refresh().await;
        assert_eq!(pool.status().len(), 1);
        store.leave(WORKERS, &record.id).await.unwrap();
        watch.refresh().await;
        assert!(pool.status().is_empty(), "a worker that left is dropped");
    }
}
