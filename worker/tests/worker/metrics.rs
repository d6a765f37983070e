//! The worker's Prometheus series move with its work: a read, a 429, a
//! failing environment's breaker, a write cut off at its deadline, and a
//! keyed write with its resend, against the simulator (or the fixture,
//! whose `Throttled` set answers one 429).
//!
//! The registry is the process's, shared with every test running beside
//! these; each test therefore has an environment of its own, compares the
//! series labelled with it before and after, and checks series without an
//! environment label (write claims) for growth only.

use std::{
    future::Future,
    sync::Arc,
    time::{Duration, Instant},
};

use common::{
    config::{BreakerConfig, WorkerConfig},
    metrics::{self, Snapshot},
};
use serde_json::json;
use url::Url;
use worker::Worker;

use super::{
    call, config,
    data::{CREATE, QUERY, SimEnv},
    fixture::Fixture,
    request, unix_ms,
};

/// `config` for `base`, its one environment named `name`.
fn named(base: &Url, name: &str) -> WorkerConfig {
    let mut config = config(base);
    config.environments[0].name = name.into();
    config.default_environment = name.into();
    config
}

fn calls(tool: &str, env: &str, error_type: &str) -> u64 {
    metrics::get()
        .tools
        .calls
        .with_label_values(&[tool, "", env, error_type])
        .get()
}

fn requests(env: &str, method: &str, status: &str) -> u64 {
    metrics::get()
        .upstream
        .requests
        .with_label_values(&[env, method, status])
        .get()
}

fn retries(env: &str, reason: &str) -> u64 {
    metrics::get()
        .upstream
        .retries
        .with_label_values(&[env, reason])
        .get()
}

fn transitions(env: &str, to: &str) -> u64 {
    metrics::get()
        .upstream
        .breaker_transitions
        .with_label_values(&[env, to])
        .get()
}

fn claims(result: &str) -> u64 {
    metrics::get()
        .upstream
        .write_claims
        .with_label_values(&[result])
        .get()
}

/// Waits (at most 5 s) until `holds`.
async fn wait_for(what: &str, mut holds: impl FnMut() -> bool) {
    let started = Instant::now();
    while !holds() {
        assert!(started.elapsed() < Duration::from_secs(5), "never: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Runs `work` and returns how much `series` grew meanwhile.
async fn grew<T>(series: impl Fn() -> u64, work: impl Future<Output = T>) -> (u64, T) {
    let before = series();
    let out = work.await;
    (series() - before, out)
}

#[tokio::test]
async fn every_family_of_an_environment_is_at_zero_from_the_start() {
    let env = "metrics-start";
    let base = Url::parse("http://127.0.0.1:9").unwrap();
    let _worker = Worker::standalone(named(&base, env)).unwrap();
    let snapshot = Snapshot::take("", "test");
    for family in [
        "d365mcp_upstream_throttled_total",
        "d365mcp_upstream_throttle_windows_total",
        "d365mcp_upstream_throttle_window_open",
        "d365mcp_upstream_retries_total",
        "d365mcp_upstream_outcome_unknown_total",
        "d365mcp_breaker_open",
        "d365mcp_breaker_transitions_total",
    ] {
        let series: Vec<_> = snapshot
            .family(family)
            .unwrap_or_else(|| panic!("{family} absent"))
            .series
            .iter()
            .filter(|s| s.labels.get("environment").map(String::as_str) == Some(env))
            .collect();
        assert!(!series.is_empty(), "{family} has no series for {env}");
        assert!(
            series.iter().all(|s| s.value == 0.0),
            "{family}: {series:?}"
        );
    }
    let reasons = snapshot
        .family("d365mcp_upstream_retries_total")
        .unwrap()
        .series
        .iter()
        .filter(|s| s.labels.get("environment").map(String::as_str) == Some(env))
        .count();
    assert_eq!(reasons, worker::metrics::RETRY_REASONS.len());
    for family in [
        "d365mcp_write_claims_total",
        "d365mcp_cache_requests_total",
        "d365mcp_store_up",
    ] {
        assert!(snapshot.family(family).is_some(), "{family} absent");
    }
}

#[tokio::test]
async fn a_read_counts_its_call_and_its_requests() {
    let sim = SimEnv::start().await;
    let env = "metrics-read";
    let worker = Worker::new(named(&sim.base, env), Arc::clone(&sim.store)).unwrap();
    let duration = || {
        metrics::get()
            .tools
            .duration
            .with_label_values(&[QUERY, env])
            .get_sample_count()
    };
    let before = (requests(env, "GET", "200"), duration());
    let (counted, read) = grew(
        || calls(QUERY, env, ""),
        call(
            &worker,
            request(QUERY, json!({"entity_set": "CustomersV3", "top": 1})),
        ),
    )
    .await;
    read.ok();
    assert_eq!(counted, 1);
    assert_eq!(duration() - before.1, 1);
    assert!(requests(env, "GET", "200") > before.0);
    let upstream = metrics::get()
        .upstream
        .duration
        .with_label_values(&[env, "GET"])
        .get_sample_count();
    assert!(upstream >= 1);
}

#[tokio::test]
async fn a_429_is_counted_retried_and_opens_a_window_that_closes() {
    let fx = Fixture::start().await;
    let env = "metrics-429";
    let worker = Worker::standalone(named(&fx.base, env)).unwrap();
    let open = || {
        metrics::get()
            .upstream
            .throttle_window_open
            .with_label_values(&[env])
            .get()
    };
    let throttled = || {
        metrics::get()
            .upstream
            .throttled
            .with_label_values(&[env])
            .get()
    };
    let windows = || {
        metrics::get()
            .upstream
            .throttle_windows
            .with_label_values(&[env])
            .get()
    };
    let before = (
        requests(env, "GET", "429"),
        throttled(),
        retries(env, "throttled"),
        windows(),
    );
    let read = tokio::spawn(async move {
        call(&worker, request(QUERY, json!({"entity_set": "Throttled"}))).await
    });
    // Held back for the second of `Retry-After: 1` ...
    wait_for("the throttle window is open", || open() == 1).await;
    read.await.unwrap().ok();
    assert_eq!(requests(env, "GET", "429") - before.0, 1);
    assert_eq!(throttled() - before.1, 1);
    assert_eq!(retries(env, "throttled") - before.2, 1);
    assert_eq!(windows() - before.3, 1);
    assert_eq!(calls(QUERY, env, ""), 1);
    // ... and no longer once it has passed, with no request to notice.
    wait_for("the throttle window is closed", || open() == 0).await;
}

#[tokio::test]
async fn a_failing_environment_shows_its_breaker_open_then_closed() {
    let sim = SimEnv::start().await;
    let env = "metrics-breaker";
    let mut config = named(&sim.base, env);
    config.breaker = BreakerConfig {
        threshold: 3,
        window: Duration::from_secs(10),
        open_for: Duration::from_millis(300),
        max_open_for: Duration::from_secs(1),
    };
    let worker = Worker::new(config, Arc::clone(&sim.store)).unwrap();
    let gauge = || {
        metrics::get()
            .upstream
            .breaker_open
            .with_label_values(&[env])
            .get()
    };
    let read = || request(QUERY, json!({"entity_set": "CustomersV3", "top": 1}));

    sim.faults(json!({"error_503_rate": 1.0})).await;
    let failed = call(&worker, read()).await;
    assert_eq!(failed.failure().code, "upstream_unavailable");
    // Sent three times: two retries after a 503, and the third failure
    // opened the breaker.
    assert_eq!(requests(env, "GET", "503"), 3);
    assert_eq!(retries(env, "unavailable"), 2);
    assert_eq!(transitions(env, "open"), 1);
    assert_eq!(gauge(), 1);
    assert_eq!(calls(QUERY, env, "upstream_unavailable"), 1);

    sim.faults(json!({})).await;
    let started = Instant::now();
    while call(&worker, read()).await.result.is_err() {
        assert!(started.elapsed() < Duration::from_secs(3), "never closed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(transitions(env, "half_open"), 1);
    assert_eq!(transitions(env, "closed"), 1);
    assert_eq!(gauge(), 0);
}

#[tokio::test]
async fn a_write_cut_off_at_its_deadline_counts_as_outcome_unknown() {
    let fx = Fixture::start().await;
    let env = "metrics-unknown";
    let worker = Worker::standalone(named(&fx.base, env)).unwrap();
    let unknown = || {
        metrics::get()
            .upstream
            .outcome_unknown
            .with_label_values(&[env])
            .get()
    };
    let mut create = request(
        CREATE,
        json!({"entity_set": "Stall", "fields": {"Name": "x"}}),
    );
    create.deadline_unix_ms = unix_ms() + 600;
    let (counted, called) = grew(unknown, call(&worker, create)).await;
    assert_eq!(called.failure().code, "outcome_unknown");
    assert_eq!(counted, 1);
    assert_eq!(requests(env, "POST", "timeout"), 1);
    assert_eq!(calls(CREATE, env, "outcome_unknown"), 1);
}

#[tokio::test]
async fn a_keyed_write_is_claimed_once_and_its_resend_replayed() {
    let sim = SimEnv::start().await;
    let env = "metrics-keyed";
    let worker = Worker::new(named(&sim.base, env), Arc::clone(&sim.store)).unwrap();
    let mut create = request(
        CREATE,
        json!({"entity_set": "CustomersV3", "fields": {
            "dataAreaId": "usmf", "CustomerAccount": "US-MTR",
            "OrganizationName": "Metrics Ltd", "CustomerGroupId": "10"}}),
    );
    create.request_id = "idem-metrics-keyed-1".into();
    let posts = || requests(env, "POST", "201");

    let (claimed, first) = grew(|| claims("claimed"), call(&worker, create.clone())).await;
    first.ok();
    assert!(claimed >= 1);
    assert_eq!(posts(), 1);

    let (replayed, resent) = grew(|| claims("replayed"), call(&worker, create)).await;
    assert_eq!(resent.ok(), first.ok(), "answered from the first attempt");
    assert!(replayed >= 1);
    assert_eq!(posts(), 1, "the resend was not sent");
    // The resend ran no tool: one call counted.
    assert_eq!(calls(CREATE, env, ""), 1);
}
