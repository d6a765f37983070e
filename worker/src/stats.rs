//! Call statistics of one worker: per tool, calls, errors by code and a
//! latency histogram with fixed bucket bounds, so percentiles are reported
//! as "at most N ms" without keeping every sample; and the circuit
//! breakers' opens, refusals and probes (`breaker`), over all environments.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use parking_lot::Mutex;
use serde_json::{Value, json};

use crate::d365::breaker::BreakerCounters;

/// Upper bounds of the latency buckets, in milliseconds; one more bucket
/// holds everything slower.
const BOUNDS_MS: [u64; 15] = [
    1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 30_000, 60_000,
];

/// The percentiles reported.
const PERCENTILES: [(&str, f64); 3] = [("p50", 0.50), ("p90", 0.90), ("p99", 0.99)];

#[derive(Debug, Default, Clone)]
struct ToolStats {
    calls: u64,
    errors: BTreeMap<String, u64>,
    total_ms: f64,
    max_ms: f64,
    buckets: [u64; BOUNDS_MS.len() + 1],
}

#[derive(Debug)]
struct State {
    tools: BTreeMap<String, ToolStats>,
    since: std::time::SystemTime,
}

/// Statistics since start-up or the last reset.
#[derive(Debug)]
pub struct Stats {
    state: Mutex<State>,
    breaker: Arc<BreakerCounters>,
}

impl Default for Stats {
    fn default() -> Self {
        Self {
            state: Mutex::new(State {
                tools: BTreeMap::new(),
                since: std::time::SystemTime::now(),
            }),
            breaker: Arc::default(),
        }
    }
}

impl Stats {
    /// Records one finished call of `tool`; `error` is its error code.
    pub fn record(&self, tool: &str, elapsed: Duration, error: Option<&str>) {
        let ms = elapsed.as_secs_f64() * 1000.0;
        let bucket = BOUNDS_MS
            .iter()
            .position(|bound| ms <= *bound as f64)
            .unwrap_or(BOUNDS_MS.len());
        let mut state = self.state.lock();
        let entry = state.tools.entry(tool.to_owned()).or_default();
        entry.calls += 1;
        entry.total_ms += ms;
        entry.max_ms = entry.max_ms.max(ms);
        entry.buckets[bucket] += 1;
        if let Some(code) = error {
            *entry.errors.entry(code.to_owned()).or_default() += 1;
        }
    }

    /// The counters every environment's circuit breaker adds to.
    pub fn breaker(&self) -> Arc<BreakerCounters> {
        Arc::clone(&self.breaker)
    }

    /// Forgets everything recorded so far.
    pub fn reset(&self) {
        self.breaker.reset();
        let mut state = self.state.lock();
        state.tools.clear();
        state.since = std::time::SystemTime::now();
    }

    /// The statistics as JSON: per tool and in total.
    pub fn snapshot(&self) -> Value {
        let state = self.state.lock();
        let mut total = ToolStats::default();
        let mut tools = serde_json::Map::new();
        for (name, stats) in &state.tools {
            tools.insert(name.clone(), describe(stats));
            total.calls += stats.calls;
            total.total_ms += stats.total_ms;
            total.max_ms = total.max_ms.max(stats.max_ms);
            for (code, n) in &stats.errors {
                *total.errors.entry(code.clone()).or_default() += n;
            }
            for (sum, n) in total.buckets.iter_mut().zip(stats.buckets) {
                *sum += n;
            }
        }
        let since = humantime_secs(state.since);
        json!({
            "since_unix_s": since,
            "total": describe(&total),
            "tools": tools,
            "breaker": self.breaker.snapshot(),
        })
    }
}

fn humantime_secs(at: std::time::SystemTime) -> u64 {
    at.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn describe(stats: &ToolStats) -> Value {
    let errors: u64 = stats.errors.values().sum();
    let mut latency = serde_json::Map::new();
    if stats.calls > 0 {
        latency.insert(
            "mean_ms".into(),
            json!(round(stats.total_ms / stats.calls as f64)),
        );
        latency.insert("max_ms".into(), json!(round(stats.max_ms)));
        for (name, quantile) in PERCENTILES {
            latency.insert(
                format!("{name}_ms_at_most"),
                percentile(&stats.buckets, stats.calls, quantile)
                    .map_or(Value::Null, |ms| json!(ms)),
            );
        }
    }
    json!({
        "calls": stats.calls,
        "errors": errors,
        "errors_by_code": stats.errors,
        "latency": latency,
    })
}

/// The bucket bound below which `quantile` of `calls` fall; `None` when it
/// lies in the open top bucket.
fn percentile(buckets: &[u64], calls: u64, quantile: f64) -> Option<u64> {
    let rank = ((calls as f64) * quantile).ceil().max(1.0) as u64;
    let mut seen = 0;
    for (i, n) in buckets.iter().enumerate() {
        seen += n;
        if seen >= rank {
            return BOUNDS_MS.get(i).copied();
        }
    }
    None
}

fn round(ms: f64) -> f64 {
    (ms * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_errors_and_percentiles() {
        let stats = Stats::default();
        for ms in 1..=100 {
            stats.record("q", Duration::from_millis(ms), None);
        }
        stats.record("q", Duration::from_secs(120), Some("unavailable"));
        stats.record("r", Duration::from_millis(3), Some("not_found"));
        let s = stats.snapshot();
        assert_eq!(s["tools"]["q"]["calls"], 101);
        assert_eq!(s["tools"]["q"]["errors"], 1);
        assert_eq!(s["tools"]["q"]["errors_by_code"]["unavailable"], 1);
        assert_eq!(s["tools"]["q"]["latency"]["p50_ms_at_most"], 100);
        assert_eq!(s["tools"]["q"]["latency"]["p90_ms_at_most"], 100);
        assert_eq!(s["tools"]["q"]["latency"]["p99_ms_at_most"], 100);
        assert_eq!(s["tools"]["q"]["latency"]["max_ms"], 120_000.0);
        assert_eq!(s["total"]["calls"], 102);
        assert_eq!(s["total"]["errors"], 2);
        assert_eq!(s["breaker"]["opened"], 0);
        stats.reset();
        assert_eq!(stats.snapshot()["total"]["calls"], 0);
    }

    #[test]
    fn the_top_bucket_has_no_bound() {
        let stats = Stats::default();
        stats.record("q", Duration::from_secs(100), None);
        assert!(stats.snapshot()["tools"]["q"]["latency"]["p50_ms_at_most"].is_null());
    }
}
