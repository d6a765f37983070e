//! Recording: every request's [`Outcome`] goes over a channel to one
//! collector task, which owns the HDR histograms (overall, per tool, per
//! second), the error counts, and prints the live progress line once a
//! second.
//!
//! The outcome and its [`Failure`] are defined here, with what records
//! them, so that the clients depend on this module and not the other way.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use hdrhistogram::Histogram;
use tokio::sync::mpsc;

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// A stable name to count failures by.
    pub kind: String,
    /// What happened, for the report's examples.
    pub detail: String,
}

impl Failure {
    pub fn new(kind: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            detail: detail.into(),
        }
    }

    /// A transport error: `connect`, `timeout` or `io`.
    pub fn from_reqwest(e: &reqwest::Error) -> Self {
        let kind = if e.is_connect() {
            "connect"
        } else if e.is_timeout() {
            "timeout"
        } else {
            "io"
        };
        Failure::new(kind, e.to_string())
    }

    pub fn timeout(after: Duration) -> Self {
        Failure::new(
            "timeout",
            format!("no reply within {} ms", after.as_millis()),
        )
    }

    /// An HTTP status outside 2xx.
    pub fn http(status: u16, body: &str) -> Self {
        Failure::new(format!("http_{status}"), clip(body))
    }
}

/// The outcome of one request.
pub type Outcome = Result<(), Failure>;

/// `text` cut to 200 characters, for a failure's detail.
pub(crate) fn clip(text: &str) -> String {
    const MAX: usize = 200;
    match text.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

/// Latencies are recorded in microseconds, from 1 µs to an hour, to three
/// significant digits.
const MAX_MICROS: u64 = 3_600_000_000;

/// A new, empty latency histogram.
pub fn histogram() -> Histogram<u64> {
    // The bounds are constants that hdrhistogram accepts.
    Histogram::new_with_bounds(1, MAX_MICROS, 3).unwrap_or_else(|_| unreachable!())
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros())
        .unwrap_or(u64::MAX)
        .clamp(1, MAX_MICROS)
}

/// One finished request.
#[derive(Debug)]
pub struct Sample {
    /// The tool, method or `session/open`/`session/close`.
    pub label: String,
    /// When it was meant to be sent, after the measurement started.
    pub at: Duration,
    /// From the intended send time to the checked reply.
    pub latency: Duration,
    pub outcome: Outcome,
    /// Scenario steps count in the overall figures; session set-up and
    /// tear-down only in their own rows.
    pub step: bool,
}

/// Where clients report; samples meant to be sent before the measurement
/// started (the warm-up) are left out.
#[derive(Clone)]
pub struct Sink {
    tx: mpsc::UnboundedSender<Sample>,
    measure_from: Instant,
}

impl Sink {
    /// Records a step meant to be sent at `intended`, finished now.
    pub fn record(&self, label: &str, intended: Instant, outcome: Outcome) {
        self.send(label, intended, outcome, true);
    }

    /// Records session set-up or tear-down started at `started`.
    pub fn record_extra(&self, label: &str, started: Instant, outcome: &Outcome) {
        self.send(label, started, outcome.clone(), false);
    }

    fn send(&self, label: &str, intended: Instant, outcome: Outcome, step: bool) {
        let Some(at) = intended.checked_duration_since(self.measure_from) else {
            return;
        };
        let sample = Sample {
            label: label.to_owned(),
            at,
            latency: intended.elapsed(),
            outcome,
            step,
        };
        // The collector outlives every sink; a closed channel only means the run is over.
        let _ = self.tx.send(sample);
    }
}

/// Counts and latencies of one row (overall, or one tool).
#[derive(Clone)]
pub struct Row {
    pub ok: u64,
    pub failed: u64,
    /// Latencies of successful requests.
    pub latency: Histogram<u64>,
    pub errors: BTreeMap<String, u64>,
}

impl Default for Row {
    fn default() -> Self {
        Self {
            ok: 0,
            failed: 0,
            latency: histogram(),
            errors: BTreeMap::new(),
        }
    }
}

impl Row {
    fn add(&mut self, sample: &Sample) {
        match &sample.outcome {
            Ok(()) => {
                self.ok += 1;
                // Saturates at the top bound rather than failing.
                self.latency.saturating_record(micros(sample.latency));
            }
            Err(failure) => {
                self.failed += 1;
                *self.errors.entry(failure.kind.clone()).or_default() += 1;
            }
        }
    }

    pub fn requests(&self) -> u64 {
        self.ok + self.failed
    }
}

/// Everything recorded in the measured window.
#[derive(Clone, Default)]
pub struct Stats {
    pub overall: Row,
    pub by_label: BTreeMap<String, Row>,
    /// Overall row per second of the measured window, by intended send time.
    pub per_second: Vec<Row>,
    /// One example detail per error kind.
    pub examples: BTreeMap<String, String>,
    /// When the last measured request finished, from the measurement start.
    pub last_done: Duration,
}

impl Stats {
    pub fn add(&mut self, sample: &Sample) {
        self.by_label
            .entry(sample.label.clone())
            .or_default()
            .add(sample);
        if let Err(failure) = &sample.outcome {
            self.examples
                .entry(failure.kind.clone())
                .or_insert_with(|| failure.detail.clone());
        }
        if !sample.step {
            return;
        }
        self.overall.add(sample);
        let second = usize::try_from(sample.at.as_secs())
            .unwrap_or(usize::MAX)
            .min(86_400);
        if self.per_second.len() <= second {
            self.per_second.resize_with(second + 1, Row::default);
        }
        self.per_second[second].add(sample);
        self.last_done = self.last_done.max(sample.at + sample.latency);
    }
}

/// Starts the collector; it ends, returning the stats, when every sink is dropped.
pub fn collector(measure_from: Instant, progress: bool) -> (Sink, tokio::task::JoinHandle<Stats>) {
    let (tx, mut rx) = mpsc::unbounded_channel::<Sample>();
    let task = tokio::spawn(async move {
        let mut stats = Stats::default();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        // The first tick is immediate; the first line comes a second in.
        tick.tick().await;
        let (mut last_ok, mut last_failed) = (0, 0);
        loop {
            tokio::select! {
                sample = rx.recv() => match sample {
                    Some(sample) => stats.add(&sample),
                    None => break,
                },
                _ = tick.tick(), if progress => {
                    let row = &stats.overall;
                    eprintln!("{}", progress_line(measure_from, row, row.ok - last_ok, row.failed - last_failed));
                    (last_ok, last_failed) = (row.ok, row.failed);
                }
            }
        }
        stats
    });
    (Sink { tx, measure_from }, task)
}

fn progress_line(measure_from: Instant, row: &Row, ok: u64, failed: u64) -> String {
    let now = Instant::now();
    let phase = match now.checked_duration_since(measure_from) {
        Some(d) => format!("{:>5.1}s", d.as_secs_f64()),
        None => "warm-up".to_owned(),
    };
    let p99 = if row.ok > 0 {
        row.latency.value_at_quantile(0.99) as f64 / 1000.0
    } else {
        0.0
    };
    format!(
        "loadtest {phase}: {ok} ok/s, {failed} failed/s; total {} ok, {} failed; p99 so far {p99:.2} ms",
        row.ok, row.failed
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(label: &str, at_ms: u64, latency_ms: u64, outcome: Outcome, step: bool) -> Sample {
        Sample {
            label: label.into(),
            at: Duration::from_millis(at_ms),
            latency: Duration::from_millis(latency_ms),
            outcome,
            step,
        }
    }

    #[test]
    fn rows_count_successes_latencies_and_errors_by_kind() {
        let mut stats = Stats::default();
        stats.add(&sample("q", 100, 10, Ok(()), true));
        stats.add(&sample("q", 1_500, 30, Ok(()), true));
        stats.add(&sample(
            "q",
            1_600,
            5,
            Err(Failure::new("http_429", "slow")),
            true,
        ));
        stats.add(&sample("session/open", 0, 2, Ok(()), false));
        assert_eq!((stats.overall.ok, stats.overall.failed), (2, 1));
        assert_eq!(stats.overall.errors["http_429"], 1);
        assert_eq!(stats.examples["http_429"], "slow");
        assert_eq!(stats.by_label["q"].requests(), 3);
        assert_eq!(stats.by_label["session/open"].ok, 1);
        assert_eq!(stats.per_second.len(), 2);
        assert_eq!(
            (stats.per_second[0].ok, stats.per_second[1].requests()),
            (1, 2)
        );
        assert_eq!(
            stats.overall.latency.len(),
            2,
            "only successes have latencies"
        );
        assert_eq!(stats.last_done, Duration::from_millis(1_605));
    }

    #[tokio::test]
    async fn latency_counts_from_the_intended_send_time() {
        let measure_from = Instant::now();
        let (sink, task) = collector(measure_from, false);
        // A request meant for 0.2 s after the start but answered only now
        // (0.3 s after it) waited those 0.3 s: a stall is not hidden.
        let intended = measure_from + Duration::from_millis(200);
        let sink_at = intended + Duration::from_millis(300);
        while Instant::now() < sink_at {
            tokio::time::sleep(sink_at - Instant::now()).await;
        }
        sink.record("q", intended, Ok(()));
        drop(sink);
        let stats = task.await.unwrap();
        assert_eq!(stats.per_second.len(), 1, "placed at its intended second");
        assert!(
            stats.overall.latency.min() >= 300_000,
            "{}",
            stats.overall.latency.min()
        );
    }

    #[tokio::test]
    async fn warm_up_samples_are_left_out() {
        let measure_from = Instant::now() + Duration::from_secs(3600);
        let (sink, task) = collector(measure_from, false);
        sink.record("q", Instant::now(), Ok(()));
        sink.record("q", measure_from, Ok(()));
        drop(sink);
        let stats = task.await.unwrap();
        assert_eq!(stats.overall.ok, 1);
    }
}
