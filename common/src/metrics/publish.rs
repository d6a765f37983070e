//! Cluster-aggregated metrics through the shared store.
//!
//! Every node heartbeats its [`Snapshot`] into the membership group
//! [`GROUP`] every `interval`, with a lease of three intervals: a node that
//! dies ages out of the aggregate within that time, and one that drains
//! publishes a last snapshot that stays until its lease runs out. Any node
//! reads the live snapshots ([`cluster`]) to answer for the whole cluster.
//! A snapshot is JSON of at most [`MAX_SNAPSHOT_BYTES`]; a larger one is
//! not published (and counted), a foreign or unreadable one is skipped.

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use tokio_util::sync::CancellationToken;

use super::Snapshot;
use crate::store::{MemberStore, StoreResult};

/// The membership group of the nodes' metric snapshots.
pub const GROUP: &str = "d365mcp:members:v1:metrics";

/// Largest snapshot a node publishes; its families are bounded by
/// configuration (tools, environments, tenants), so a node near this limit
/// has an unexpected label explosion, reported by
/// `d365mcp_metrics_publish_failures_total`.
pub const MAX_SNAPSHOT_BYTES: usize = 1024 * 1024;

/// How often a node publishes unless configured otherwise.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);

/// An id for this process among the nodes: the host name (a pod's name on
/// Kubernetes) and a random suffix, so that a restarted node starts a new
/// series of snapshots.
pub fn new_node_id(role: &str) -> String {
    let host: String = std::env::var("HOSTNAME")
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        .take(63)
        .collect();
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..8];
    if host.is_empty() {
        format!("{role}-{suffix}")
    } else {
        format!("{role}-{host}-{suffix}")
    }
}

/// Publishes this node's snapshot every `interval` until `stop`, then once
/// more.
pub struct Publisher {
    store: Arc<dyn MemberStore>,
    interval: Duration,
}

impl Publisher {
    /// A publisher of this process's metrics, as [`super::node_id`].
    pub fn new(store: Arc<dyn MemberStore>, interval: Duration) -> Self {
        Self {
            store,
            interval: interval.max(Duration::from_millis(50)),
        }
    }

    /// Publishes once: `Ok(false)` when the snapshot was too large.
    pub async fn publish_once(&self) -> StoreResult<bool> {
        let _ = super::render();
        let node = super::node_id();
        let snapshot = Snapshot::take(node, super::role());
        let payload = match serde_json::to_vec(&snapshot) {
            Ok(payload) if payload.len() <= MAX_SNAPSHOT_BYTES => payload,
            Ok(payload) => {
                tracing::warn!(
                    bytes = payload.len(),
                    limit = MAX_SNAPSHOT_BYTES,
                    "metric snapshot too large to publish; is a label unbounded?"
                );
                super::get().node.publish_failures.inc();
                return Ok(false);
            }
            Err(e) => {
                tracing::warn!(error = %e, "metric snapshot could not be serialized");
                super::get().node.publish_failures.inc();
                return Ok(false);
            }
        };
        let result = self
            .store
            .heartbeat(GROUP, node, Bytes::from(payload), self.interval * 3)
            .await;
        if result.is_err() {
            super::get().node.publish_failures.inc();
        }
        result.map(|()| true)
    }

    /// Publishes every interval until `stop`, then a last time.
    pub async fn run(self, stop: CancellationToken) {
        let mut ticks = tokio::time::interval(self.interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                () = stop.cancelled() => break,
            }
            if let Err(e) = self.publish_once().await {
                tracing::debug!(error = %e, "metric snapshot not published");
            }
        }
        let _ = self.publish_once().await;
    }
}

/// The live nodes' snapshots, and how many members could not be read.
#[derive(Debug, Clone, Default)]
pub struct ClusterView {
    /// One snapshot per live node, sorted by node id.
    pub nodes: Vec<Snapshot>,
    /// Members whose payload was not a snapshot (another version's format).
    pub unreadable: usize,
}

impl ClusterView {
    /// Every live node's families, summed.
    pub fn total(&self) -> Snapshot {
        Snapshot::sum(&self.nodes)
    }

    /// The aggregate in the Prometheus text format, with
    /// `d365mcp_cluster_nodes{role}` added.
    pub fn render(&self) -> String {
        let mut roles = std::collections::BTreeMap::<&str, u64>::new();
        for node in &self.nodes {
            *roles.entry(node.role.as_str()).or_default() += 1;
        }
        let mut out = self.total().render();
        out.push_str("# HELP d365mcp_cluster_nodes Nodes whose metrics this aggregate sums\n");
        out.push_str("# TYPE d365mcp_cluster_nodes gauge\n");
        for (role, n) in roles {
            let role: String = role
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            out.push_str(&format!("d365mcp_cluster_nodes{{role=\"{role}\"}} {n}\n"));
        }
        out
    }
}

/// The snapshots of every live node.
pub async fn cluster(store: &dyn MemberStore) -> StoreResult<ClusterView> {
    let members = store.live(GROUP).await?;
    let mut view = ClusterView::default();
    for member in members {
        match serde_json::from_slice::<Snapshot>(&member.payload) {
            Ok(mut snapshot) => {
                snapshot.node = member.id;
                view.nodes.push(snapshot);
            }
            Err(_) => view.unreadable += 1,
        }
    }
    Ok(view)
}
