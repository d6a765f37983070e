//! The results of a run: built from the recorded [`Stats`], written as JSON
//! (`--out`), a Markdown summary (`--markdown`, also printed) and an SVG
//! plot (`--svg`).

pub mod markdown;
pub mod svg;

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::{
    config::{Config, Mode},
    load::Ended,
    scenario::SessionPattern,
    stats::{Row, Stats},
};

/// Latency figures of a row, in milliseconds; successful requests only.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p99_9: f64,
    pub max: f64,
    pub mean: f64,
}

impl Latency {
    pub fn of(histogram: &Histogram<u64>) -> Latency {
        if histogram.is_empty() {
            return Latency::default();
        }
        let ms = |micros: u64| micros as f64 / 1000.0;
        Latency {
            p50: ms(histogram.value_at_quantile(0.50)),
            p90: ms(histogram.value_at_quantile(0.90)),
            p99: ms(histogram.value_at_quantile(0.99)),
            p99_9: ms(histogram.value_at_quantile(0.999)),
            max: ms(histogram.max()),
            mean: histogram.mean() / 1000.0,
        }
    }
}

/// One tool's (or method's) figures.
#[derive(Debug, Clone, Serialize)]
pub struct ToolReport {
    pub name: String,
    pub requests: u64,
    pub ok: u64,
    pub failed: u64,
    pub throughput_rps: f64,
    pub latency_ms: Latency,
    pub errors: BTreeMap<String, u64>,
}

/// One second of the measured window, by intended send time.
#[derive(Debug, Clone, Serialize)]
pub struct Second {
    pub second: u64,
    pub requests: u64,
    pub failed: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// A point of the latency distribution.
#[derive(Debug, Clone, Serialize)]
pub struct Point {
    pub percentile: f64,
    pub latency_ms: f64,
}

/// The whole report, as the JSON file holds it.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub scenario: String,
    pub era: String,
    pub session: String,
    pub mode: String,
    /// The offered arrival rate (open loop).
    pub rate: Option<f64>,
    /// Clients (closed loop) or the most requests in flight (open loop).
    pub concurrency: usize,
    pub targets: Vec<String>,
    pub warmup_s: f64,
    pub duration_s: f64,
    /// The measured window: the duration, or less when `--requests` ended the run first.
    pub elapsed_s: f64,
    /// `duration` or `requests`: which bound ended the run.
    pub ended_by: String,
    /// Scenario requests measured (session set-up and tear-down not included).
    pub requests: u64,
    pub ok: u64,
    pub failed: u64,
    /// Open-loop arrivals that found the in-flight bound reached and were not sent.
    pub dropped: u64,
    /// Measured requests a second, over the measured window.
    pub throughput_rps: f64,
    pub latency_ms: Latency,
    pub errors: BTreeMap<String, u64>,
    pub error_examples: BTreeMap<String, String>,
    pub tools: Vec<ToolReport>,
    pub timeline: Vec<Second>,
    pub percentiles: Vec<Point>,
}

/// The percentiles the distribution lists and plots.
pub const PERCENTILES: [f64; 12] = [
    0.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.95, 99.99, 99.999, 100.0,
];

impl Report {
    pub fn new(config: &Config, stats: &Stats, ended: Ended) -> Report {
        let window = config.duration.as_secs_f64();
        // A run the request bound ended early lasted until its last reply.
        let elapsed = if ended.by_request_bound {
            window.min(stats.last_done.as_secs_f64()).max(0.001)
        } else {
            window
        };
        let (mode, rate, concurrency) = match config.mode {
            Mode::Open {
                rate,
                max_in_flight,
            } => ("open", Some(rate), max_in_flight),
            Mode::Closed { concurrency } => ("closed", None, concurrency),
        };
        let session = match config.scenario.session {
            SessionPattern::Stateless => "stateless".to_owned(),
            SessionPattern::LongLived => "long-lived".to_owned(),
            SessionPattern::Churn(n) => format!("churn every {n} calls"),
        };
        let tools = stats
            .by_label
            .iter()
            .map(|(name, row)| tool(name, row, elapsed))
            .collect();
        let timeline = stats
            .per_second
            .iter()
            .enumerate()
            .map(|(second, row)| {
                let latency = Latency::of(&row.latency);
                Second {
                    second: second as u64,
                    requests: row.requests(),
                    failed: row.failed,
                    p50_ms: latency.p50,
                    p99_ms: latency.p99,
                }
            })
            .collect();
        let overall = &stats.overall;
        let percentiles = if overall.latency.is_empty() {
            Vec::new()
        } else {
            PERCENTILES
                .iter()
                .map(|&p| Point {
                    percentile: p,
                    latency_ms: overall.latency.value_at_percentile(p) as f64 / 1000.0,
                })
                .collect()
        };
        Report {
            scenario: config.scenario.name.clone(),
            era: config.scenario.era.to_string(),
            session,
            mode: mode.to_owned(),
            rate,
            concurrency,
            targets: config.targets.iter().map(ToString::to_string).collect(),
            warmup_s: config.warmup.as_secs_f64(),
            duration_s: window,
            elapsed_s: elapsed,
            ended_by: if ended.by_request_bound {
                "requests"
            } else {
                "duration"
            }
            .to_owned(),
            requests: overall.requests(),
            ok: overall.ok,
            failed: overall.failed,
            dropped: ended.dropped,
            throughput_rps: overall.requests() as f64 / elapsed,
            latency_ms: Latency::of(&overall.latency),
            errors: overall.errors.clone(),
            error_examples: stats.examples.clone(),
            tools,
            timeline,
            percentiles,
        }
    }

    /// The JSON report, pretty-printed.
    pub fn to_json(&self) -> String {
        // A struct of numbers, strings and maps with string keys always serializes.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

fn tool(name: &str, row: &Row, elapsed: f64) -> ToolReport {
    ToolReport {
        name: name.to_owned(),
        requests: row.requests(),
        ok: row.ok,
        failed: row.failed,
        throughput_rps: row.requests() as f64 / elapsed,
        latency_ms: Latency::of(&row.latency),
        errors: row.errors.clone(),
    }
}

#[cfg(test)]
mod tests;
