//! Change notifications that cross nodes through the store's pub/sub.
//!
//! A worker that notices an environment's version change (a D365FO service
//! update: its installed modules changed) publishes a [`VersionChanged`] on
//! [`ENVIRONMENT_VERSIONS`]; every edge relays it to the MCP clients
//! listening (`subscriptions/listen`) for that environment's resources.
//! One worker publishes each change: the first to claim
//! [`claim_key`] (TTL [`CLAIM_TTL`]).

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The channel of [`VersionChanged`] messages.
pub const ENVIRONMENT_VERSIONS: &str = "d365mcp:notify:v1:environment-versions";

/// How long a published change stays claimed.
pub const CLAIM_TTL: Duration = Duration::from_secs(3600);

/// The key a worker claims before publishing `environment`'s move to `version`.
pub fn claim_key(environment: &str, version: &str) -> String {
    format!("d365mcp:notify:v1:claimed:{environment}:{version}")
}

/// An environment's version changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionChanged {
    /// The environment's name in the cluster.
    pub environment: String,
    /// Whether it is the workers' default environment (the one URIs without
    /// an environment name mean).
    pub is_default: bool,
    /// Its new version hash.
    pub version: String,
}
