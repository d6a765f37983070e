use std::time::Duration;

use super::*;
use crate::{
    config::Settings,
    load::Ended,
    scenario::Scenario,
    stats::{Failure, Sample, Stats},
};

/// A run the clock ended, with `dropped` arrivals.
pub(crate) fn timed(dropped: u64) -> Ended {
    Ended {
        dropped,
        by_request_bound: false,
    }
}

pub(crate) fn config() -> Config {
    let scenario = Scenario::parse("[[call]]\ntool = \"q\"\n", "test").unwrap();
    let settings = Settings {
        targets: vec!["http://127.0.0.1:9/mcp".into()],
        duration: Some("10s".into()),
        warmup: Some("0s".into()),
        ..Settings::default()
    };
    Config::with_scenario(settings, scenario).unwrap()
}

/// 1..=1000 ms successes spread over ten seconds, and ten 429s.
pub(crate) fn stats() -> Stats {
    let mut stats = Stats::default();
    for i in 1..=1000u64 {
        stats.add(&Sample {
            label: "q".into(),
            at: Duration::from_millis((i - 1) * 10),
            latency: Duration::from_millis(i),
            outcome: Ok(()),
            step: true,
        });
    }
    for i in 0..10u64 {
        stats.add(&Sample {
            label: "q".into(),
            at: Duration::from_millis(i * 900),
            latency: Duration::from_millis(1),
            outcome: Err(Failure::new("http_429", "rate limited")),
            step: true,
        });
    }
    stats
}

fn close(a: f64, b: f64) -> bool {
    // HDR histograms keep three significant digits.
    (a - b).abs() <= b * 0.001 + 0.001
}

#[test]
fn counts_throughput_and_percentiles_follow_the_samples() {
    let report = Report::new(&config(), &stats(), timed(3));
    assert_eq!(
        (report.requests, report.ok, report.failed, report.dropped),
        (1010, 1000, 10, 3)
    );
    assert_eq!(report.errors["http_429"], 10);
    assert_eq!(report.error_examples["http_429"], "rate limited");
    // The clock ended the run: the whole window counts.
    assert_eq!(report.elapsed_s, 10.0);
    assert!(
        close(report.throughput_rps, 101.0),
        "{}",
        report.throughput_rps
    );
    let l = &report.latency_ms;
    for (got, want) in [
        (l.p50, 500.0),
        (l.p90, 900.0),
        (l.p99, 990.0),
        (l.p99_9, 999.0),
        (l.max, 1000.0),
        (l.mean, 500.5),
    ] {
        assert!(close(got, want), "{got} vs {want}");
    }
    assert_eq!(report.tools.len(), 1);
    assert_eq!(report.tools[0].requests, 1010);
    assert_eq!(report.timeline.len(), 10);
    // Second 0: successes sent at 0, 10, …, 990 ms and the 429s at 0 and 900 ms.
    assert_eq!(report.timeline[0].requests, 102);
    assert_eq!(report.timeline[0].failed, 2);
    assert!(
        close(report.timeline[9].p99_ms, 999.0),
        "{}",
        report.timeline[9].p99_ms
    );
    assert_eq!(report.percentiles.len(), PERCENTILES.len());
    assert!(
        report
            .percentiles
            .windows(2)
            .all(|w| w[0].latency_ms <= w[1].latency_ms)
    );
}

#[test]
fn a_run_ended_early_by_its_request_bound_divides_by_its_own_length() {
    let mut stats = Stats::default();
    for i in 0..4u64 {
        stats.add(&Sample {
            label: "q".into(),
            at: Duration::from_millis(i * 250),
            latency: Duration::from_millis(250),
            outcome: Ok(()),
            step: true,
        });
    }
    let report = Report::new(
        &config(),
        &stats,
        Ended {
            dropped: 0,
            by_request_bound: true,
        },
    );
    assert_eq!(report.elapsed_s, 1.0);
    assert_eq!(report.ended_by, "requests");
    assert!(close(report.throughput_rps, 4.0));
    // The same samples in a run the clock ended: four requests in ten seconds.
    let report = Report::new(&config(), &stats, timed(0));
    assert!(close(report.throughput_rps, 0.4));
}

#[test]
fn an_empty_run_reports_zeros_not_nonsense() {
    let report = Report::new(&config(), &Stats::default(), timed(0));
    assert_eq!(report.requests, 0);
    assert_eq!(report.latency_ms, Latency::default());
    assert!(report.percentiles.is_empty());
    assert!(report.throughput_rps.is_finite());
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(json["requests"], 0);
    assert!(!markdown::render(&report).is_empty());
    assert!(svg::render(&report).starts_with("<svg"));
}
