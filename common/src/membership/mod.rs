//! How workers join the cluster and edges find them, on the shared store's
//! [`MemberStore`](crate::store::MemberStore).
//!
//! A worker started with a shared store heartbeats a [`WorkerRecord`] (its
//! id and the gRPC URL edges should dial) into the group [`WORKERS`] every
//! interval, with a lease a few intervals long, and leaves the group when it
//! shuts down ([`Heartbeat`]). An edge given no static worker list reads the
//! group's live members about every second and builds its hash ring from
//! their URLs, so a worker that dies drops out when its lease runs out and
//! one that shuts down drops out at once.
//!
//! - [`heartbeat`]: the worker's side, [`Heartbeat`].
//! - this module: the group's name and the record's format, shared by both
//!   sides.

pub mod heartbeat;

use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use url::Url;

pub use heartbeat::Heartbeat;

/// The group workers join. In Redis its keys are
/// `d365mcp:members:v1:{workers}:expiry` and `…:payload`, living as long as
/// the longest lease granted lately (see `store/redis/members.rs`).
pub const WORKERS: &str = "d365mcp:members:v1:workers";

/// What a worker says about itself in each heartbeat (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerRecord {
    /// Unique per worker process: a restarted worker is a new member.
    pub id: String,
    /// The gRPC URL edges dial, e.g. `http://10.0.0.7:50051`.
    pub url: String,
    /// How often the worker renews its lease, in ms: an edge that saw the
    /// store come back after an outage gives the workers two such intervals
    /// (and the store's timeout) to register again before dropping any.
    pub heartbeat_ms: u64,
}

impl WorkerRecord {
    /// The record of a new worker process reachable at `url`.
    pub fn new(url: &Url, heartbeat: Duration) -> Self {
        Self {
            id: uuid::Uuid::new_v4().to_string(),
            url: url.as_str().trim_end_matches('/').to_owned(),
            heartbeat_ms: u64::try_from(heartbeat.as_millis()).unwrap_or(u64::MAX),
        }
    }

    /// The heartbeat's payload.
    pub fn encode(&self) -> Bytes {
        // A struct of strings and a number always serializes.
        Bytes::from(serde_json::to_vec(self).unwrap_or_default())
    }

    /// A record read back from the store, checked: its URL must be one an
    /// edge can dial, and `id` must be the member id it was stored under.
    pub fn decode(id: &str, payload: &[u8]) -> Result<(Self, Url), String> {
        let record: Self = serde_json::from_slice(payload)
            .map_err(|e| format!("member {id}: not a worker record ({e})"))?;
        if record.id != id {
            return Err(format!(
                "member {id}: the record names another id, {}",
                record.id
            ));
        }
        let url = crate::config::parse_worker_urls("member URL", &record.url)
            .map_err(|e| format!("member {id}: {}", e.reason))?;
        match url.as_slice() {
            [url] => Ok((record, url.clone())),
            _ => Err(format!(
                "member {id}: needs exactly one URL, got {:?}",
                record.url
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_survives_the_store() {
        let url = Url::parse("http://10.0.0.7:50051").unwrap();
        let record = WorkerRecord::new(&url, Duration::from_secs(1));
        assert_eq!(record.url, "http://10.0.0.7:50051", "no trailing slash");
        let (back, dial) = WorkerRecord::decode(&record.id, &record.encode()).unwrap();
        assert_eq!(back, record);
        assert_eq!(dial, url);
        assert_ne!(
            WorkerRecord::new(&url, Duration::from_secs(1)).id,
            record.id,
            "every process is a new member"
        );
    }

    #[test]
    fn records_an_edge_cannot_use_are_refused_with_the_member_named() {
        let good = |url: &str| format!(r#"{{"id":"w1","url":"{url}","heartbeat_ms":1000}}"#);
        for (id, payload) in [
            ("w1", "not json".to_owned()),
            ("w2", good("http://h:1")),
            ("w1", good("ftp://h:1")),
            ("w1", good("http://a:1,http://b:2")),
            ("w1", good("")),
        ] {
            let err = WorkerRecord::decode(id, payload.as_bytes()).unwrap_err();
            assert!(err.starts_with(&format!("member {id}:")), "{err}");
        }
    }
}
