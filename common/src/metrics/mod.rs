//! Prometheus metrics of this process, and the cluster's aggregate of them.
//!
//! - [`families`]: every metric family a node exports, registered once per
//!   process in one registry and reached through [`get`]. A process is one
//!   node (`dev` runs the edge and the worker in one, and exports both).
//!   `register` builds them.
//! - [`snapshot`]: the families as data — taken from the registry, sent
//!   through the shared store, summed over nodes, written in the Prometheus
//!   text format.
//! - [`publish`]: each node publishes its snapshot to the shared store at a
//!   fixed interval, with a TTL so that a dead node ages out; any node reads
//!   the live snapshots back to answer for the whole cluster.
//!
//! `/metrics` (this node) and `/metrics/cluster` (every live node, summed)
//! are served by the edge and by the metrics listener of every role
//! (`D365MCP_METRICS_LISTEN`); `docs/OBSERVABILITY.md` lists the families.

pub mod families;
pub mod publish;
mod register;
pub mod snapshot;

use std::{
    sync::{LazyLock, OnceLock},
    time::Instant,
};

pub use families::{Families, OTHER};
pub use snapshot::Snapshot;

static FAMILIES: LazyLock<Families> = LazyLock::new(Families::new);
static STARTED: LazyLock<Instant> = LazyLock::new(Instant::now);
static ROLE: OnceLock<String> = OnceLock::new();
static NODE_ID: OnceLock<String> = OnceLock::new();

/// This process's metric families.
pub fn get() -> &'static Families {
    &FAMILIES
}

/// The version this binary was built from.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The commit this binary was built from (`D365MCP_COMMIT` at build time,
/// else `git rev-parse` of the checkout, else `unknown`).
pub const COMMIT: &str = env!("D365MCP_BUILD_COMMIT");

/// Names this process's role (`edge`, `worker`, `dev`, …) in
/// `d365mcp_build_info` and its published snapshots; the first call wins.
pub fn set_role(role: &str) {
    let _ = ROLE.set(role.to_owned());
    LazyLock::force(&STARTED);
    get()
        .node
        .build_info
        .with_label_values(&[VERSION, COMMIT, self::role()])
        .set(1);
}

/// This process's role, `node` until [`set_role`] is called.
pub fn role() -> &'static str {
    ROLE.get().map_or("node", String::as_str)
}

/// This process's id among the nodes publishing metrics (see
/// [`publish::new_node_id`]), fixed on first use: call [`set_role`] first.
pub fn node_id() -> &'static str {
    NODE_ID.get_or_init(|| publish::new_node_id(role()))
}

/// This node's metrics in the Prometheus text format.
pub fn render() -> String {
    get().node.uptime.set(STARTED.elapsed().as_secs_f64());
    Snapshot::take("", role()).render()
}

/// The content type of [`render`]'s output.
pub const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

#[cfg(test)]
mod tests;
