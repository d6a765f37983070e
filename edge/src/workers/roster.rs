//! The set of workers a pool dispatches to at one moment: their gRPC
//! clients, health and load, and the hash ring over them. A roster never
//! changes; the pool swaps in a new one when the set does, carrying over
//! every worker that stays (its connection, health and in-flight count), so
//! calls already running on a worker that left finish undisturbed.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize},
    },
    time::Duration,
};

use common::{
    proto::{MAX_MESSAGE_BYTES, worker_client::WorkerClient},
    ring::HashRing,
};
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::health_client::HealthClient;
use url::Url;

/// One worker as this edge sees it.
pub(super) struct Member {
    pub(super) url: String,
    pub(super) client: WorkerClient<Channel>,
    pub(super) health: HealthClient<Channel>,
    pub(super) healthy: AtomicBool,
    pub(super) in_flight: AtomicUsize,
}

impl Member {
    /// A worker at `key` (its URL without a trailing slash), connected
    /// lazily and healthy until a check or a call says otherwise.
    fn connect(key: &str) -> Result<Arc<Self>, String> {
        let endpoint = Endpoint::from_shared(key.to_owned())
            .map_err(|e| e.to_string())?
            .connect_timeout(Duration::from_secs(1))
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(10))
            .keep_alive_timeout(Duration::from_secs(5))
            .keep_alive_while_idle(true);
        let channel = endpoint.connect_lazy();
        Ok(Arc::new(Self {
            url: key.to_owned(),
            client: WorkerClient::new(channel.clone())
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES),
            health: HealthClient::new(channel),
            healthy: AtomicBool::new(true),
            in_flight: AtomicUsize::new(0),
        }))
    }
}

/// Workers by URL and the ring over them.
pub(super) struct Roster {
    pub(super) members: HashMap<String, Arc<Member>>,
    pub(super) ring: HashRing<String>,
}

/// What building a roster changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Changes {
    /// URLs new to the roster.
    pub(super) added: Vec<String>,
    /// URLs no longer in it.
    pub(super) removed: Vec<String>,
    /// URLs refused, with the reason.
    pub(super) rejected: Vec<(String, String)>,
}

/// The key of a worker URL: as written, without a trailing slash.
pub(super) fn key(url: &Url) -> String {
    url.as_str().trim_end_matches('/').to_owned()
}

impl Roster {
    /// No workers.
    pub(super) fn empty() -> Self {
        Self {
            members: HashMap::new(),
            ring: HashRing::new(Vec::new()),
        }
    }

    /// The workers at `urls`, reusing those `previous` already has.
    pub(super) fn build(urls: &[Url], previous: &Roster) -> (Self, Changes) {
        let mut members = HashMap::new();
        let mut changes = Changes::default();
        for url in urls {
            let key = key(url);
            if members.contains_key(&key) {
                continue;
            }
            let member = match previous.members.get(&key) {
                Some(member) => Arc::clone(member),
                None => match Member::connect(&key) {
                    Ok(member) => {
                        changes.added.push(key.clone());
                        member
                    }
                    Err(reason) => {
                        changes.rejected.push((key, reason));
                        continue;
                    }
                },
            };
            members.insert(key, member);
        }
        changes.removed = previous
            .ring
            .members()
            .iter()
            .filter(|key| !members.contains_key(*key))
            .cloned()
            .collect();
        let ring = HashRing::new(members.keys().cloned());
        (Self { members, ring }, changes)
    }

    /// The members in ring order.
    pub(super) fn in_order(&self) -> impl Iterator<Item = &Arc<Member>> {
        self.ring
            .members()
            .iter()
            .filter_map(|key| self.members.get(key))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;

    fn urls(list: &[&str]) -> Vec<Url> {
        list.iter().map(|u| Url::parse(u).unwrap()).collect()
    }

    #[tokio::test]
    async fn workers_that_stay_keep_their_state_and_changes_are_reported() {
        let (first, changes) = Roster::build(
            &urls(&["http://a:1", "http://b:2/", "http://b:2"]),
            &Roster::empty(),
        );
        assert_eq!(changes.added, ["http://a:1", "http://b:2"]);
        assert_eq!(first.ring.members(), ["http://a:1", "http://b:2"]);
        first.members["http://b:2"]
            .healthy
            .store(false, Ordering::Relaxed);

        let (second, changes) = Roster::build(&urls(&["http://b:2", "http://c:3"]), &first);
        assert_eq!(
            changes,
            Changes {
                added: vec!["http://c:3".into()],
                removed: vec!["http://a:1".into()],
                rejected: Vec::new(),
            }
        );
        assert!(
            Arc::ptr_eq(&first.members["http://b:2"], &second.members["http://b:2"]),
            "the staying worker is the same member"
        );
        assert!(!second.members["http://b:2"].healthy.load(Ordering::Relaxed));
        assert_eq!(second.in_order().count(), 2);
    }
}
