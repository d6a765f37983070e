//! Counts of the requests D365FO's endpoints received, by path, for tests
//! that must prove what a client did or did not send (a cache hit makes no
//! request; 50 concurrent first calls make one).
//!
//! Paths are counted percent-decoded and without their query, so
//! `/Metadata/Labels(Id='%40SYS1',Language='en-us')` and the same path
//! written with a literal `@` count as one. The table is bounded: past
//! [`MAX_PATHS`] distinct paths, or for a path longer than
//! [`MAX_PATH_CHARS`], requests are counted under [`OTHER`], so a client
//! that walks a million keys cannot grow the simulator's memory.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use percent_encoding::percent_decode_str;
use serde_json::{Map, Value as Json, json};

/// Most distinct paths remembered.
pub const MAX_PATHS: usize = 10_000;
/// Longest path remembered on its own.
pub const MAX_PATH_CHARS: usize = 1024;
/// Where requests past the bounds are counted.
pub const OTHER: &str = "(other)";

/// Request counts, total and by path.
#[derive(Debug, Default)]
pub(crate) struct RequestLog {
    total: AtomicU64,
    by_path: Mutex<HashMap<Box<str>, u64>>,
}

impl RequestLog {
    /// Counts one request to `raw_path` (as sent, percent-encoded or not).
    pub fn record(&self, raw_path: &str) {
        self.total.fetch_add(1, Ordering::Relaxed);
        let decoded = percent_decode_str(raw_path).decode_utf8_lossy();
        let mut by_path = self.by_path.lock();
        // The common case, a path seen before, allocates nothing.
        if let Some(n) = by_path.get_mut(decoded.as_ref()) {
            *n += 1;
            return;
        }
        let key = if decoded.chars().count() <= MAX_PATH_CHARS && by_path.len() < MAX_PATHS {
            decoded.as_ref()
        } else {
            OTHER
        };
        *by_path.entry(key.into()).or_insert(0) += 1;
    }

    /// Forgets every count.
    pub fn reset(&self) {
        let mut by_path = self.by_path.lock();
        by_path.clear();
        self.total.store(0, Ordering::Relaxed);
    }

    /// `{"total": N, "by_path": {path: n, …}}`, paths sorted.
    pub fn snapshot(&self) -> Json {
        let by_path = self.by_path.lock();
        let mut paths: Vec<(&str, u64)> = by_path.iter().map(|(k, v)| (k.as_ref(), *v)).collect();
        paths.sort_unstable();
        let map: Map<String, Json> = paths
            .into_iter()
            .map(|(k, v)| (k.to_owned(), Json::from(v)))
            .collect();
        json!({ "total": self.total.load(Ordering::Relaxed), "by_path": map })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_decoded_paths_and_resets() {
        let log = RequestLog::default();
        log.record("/Metadata/Labels(Id='%40SYS1',Language='en-us')");
        log.record("/Metadata/Labels(Id='@SYS1',Language='en-us')");
        log.record("/data/CustomersV3");
        let snap = log.snapshot();
        assert_eq!(snap["total"], 3);
        assert_eq!(
            snap["by_path"]["/Metadata/Labels(Id='@SYS1',Language='en-us')"],
            2
        );
        assert_eq!(snap["by_path"]["/data/CustomersV3"], 1);
        log.reset();
        assert_eq!(log.snapshot(), json!({"total": 0, "by_path": {}}));
    }

    #[test]
    fn the_table_is_bounded() {
        let log = RequestLog::default();
        for i in 0..MAX_PATHS + 5 {
            log.record(&format!("/data/X({i})"));
        }
        log.record(&format!("/data/{}", "y".repeat(MAX_PATH_CHARS)));
        // A path already in the table keeps counting on its own.
        log.record("/data/X(0)");
        let snap = log.snapshot();
        assert_eq!(snap["total"], MAX_PATHS + 7);
        let by_path = snap["by_path"].as_object().unwrap();
        assert_eq!(by_path.len(), MAX_PATHS + 1);
        assert_eq!(by_path[OTHER], 6);
        assert_eq!(by_path["/data/X(0)"], 2);
    }

    #[test]
    fn invalid_utf8_does_not_panic() {
        let log = RequestLog::default();
        log.record("/data/%FF%FE");
        assert_eq!(log.snapshot()["total"], 1);
    }
}
