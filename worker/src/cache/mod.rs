//! The metadata and label cache (placeholder until the cache lands): for
//! now only holds the shared store the real cache fills.

use common::store::SharedStore;

/// Metadata and labels, keyed by environment version.
pub struct MetadataCache {
    #[allow(dead_code)]
    store: SharedStore,
}

impl MetadataCache {
    /// A cache over `store`.
    pub fn new(store: SharedStore) -> Self {
        Self { store }
    }

    /// Hit and miss counters.
    pub fn snapshot(&self) -> serde_json::Value {
        serde_json::json!({})
    }

    /// The cache's settings, for the configuration tool.
    pub fn settings(&self) -> serde_json::Value {
        serde_json::json!({})
    }
}
