//! The cache's Prometheus series: lookups per layer and result, fills and
//! L1 evictions, by the key's kind. The registry is the process's, shared
//! with tests running beside these, so each check is on growth, at least
//! by what this test caused.

use std::{sync::Arc, time::Duration};

use common::{
    config::CacheConfig,
    metrics,
    store::{MemoryStore, SharedStore},
};
use serde_json::json;

use super::super::*;

fn requests(kind: Kind, layer: &str, result: &str) -> u64 {
    metrics::get()
        .cache
        .requests
        .with_label_values(&[kind.as_str(), layer, result])
        .get()
}

fn fills(kind: Kind) -> u64 {
    metrics::get()
        .cache
        .fills
        .with_label_values(&[kind.as_str()])
        .get()
}

fn evictions(kind: Kind) -> u64 {
    metrics::get()
        .cache
        .evictions
        .with_label_values(&[kind.as_str(), "l1"])
        .get()
}

async fn get(cache: &MetadataCache, key: &CacheKey) {
    cache
        .get_or_fill(key, Deadline::NONE, || async {
            Ok(Entry::Found {
                value: json!(["an action"]),
            })
        })
        .await
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn lookups_count_per_layer_and_fills_per_kind() {
    let kind = Kind::Actions;
    let key = CacheKey::new("metrics-test", kind, "");
    let store: SharedStore = Arc::new(MemoryStore::new());
    let config = CacheConfig {
        l1_ttl: Duration::from_secs(1),
        ..CacheConfig::default()
    };
    let a = MetadataCache::new(config.clone(), Some(Arc::clone(&store)));
    let b = MetadataCache::new(config, Some(store));
    let before = [
        requests(kind, "l1", "miss"),
        requests(kind, "l2", "miss"),
        requests(kind, "l1", "hit"),
        requests(kind, "l2", "hit"),
        fills(kind),
        evictions(kind),
    ];

    // Worker a: in neither level, so filled; then in its memory.
    get(&a, &key).await;
    get(&a, &key).await;
    // Worker b: not in its memory, in the store a filled.
    get(&b, &key).await;
    // Past the L1 TTL, a's entry is evicted, and read again from the store.
    tokio::time::advance(Duration::from_millis(1_100)).await;
    get(&a, &key).await;

    let after = [
        requests(kind, "l1", "miss"),
        requests(kind, "l2", "miss"),
        requests(kind, "l1", "hit"),
        requests(kind, "l2", "hit"),
        fills(kind),
        evictions(kind),
    ];
    let grew: Vec<u64> = after.iter().zip(before).map(|(a, b)| a - b).collect();
    let at_least = [3, 1, 1, 2, 1, 1];
    for (i, least) in at_least.into_iter().enumerate() {
        assert!(
            grew[i] >= least,
            "series {i} grew by {}, not at least {least} (all: {grew:?})",
            grew[i]
        );
    }
}
