//! The circuit breaker against the simulator: an environment that keeps
//! answering 503 (or dropping connections) is refused at once by every
//! worker on the store, nothing more is sent to it, and calls go through
//! again once it recovers and the open period has passed. A keyed write
//! the breaker refused was not applied, so its retry runs afresh.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use common::{config::BreakerConfig, proto::CallToolRequest};
use serde_json::{Value, json};
use worker::Worker;

use super::{
    Called, call, config,
    data::{CREATE, QUERY, SimEnv},
    request,
};

/// Three failures open it for 300 ms (the first probe), at most 1 s.
fn breaker_worker(env: &SimEnv) -> Arc<Worker> {
    let mut config = config(&env.base);
    config.breaker = BreakerConfig {
        threshold: 3,
        window: Duration::from_secs(10),
        open_for: Duration::from_millis(300),
        max_open_for: Duration::from_secs(1),
    };
    Arc::new(Worker::new(config, Arc::clone(&env.store)).unwrap())
}

fn read() -> CallToolRequest {
    request(QUERY, json!({"entity_set": "CustomersV3", "top": 1}))
}

/// Requests that reached the simulator's D365FO endpoints.
async fn d365fo_requests(env: &SimEnv) -> u64 {
    let (_, body) = env.sim_get("/_sim/requests").await;
    body["by_path"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(path, _)| !path.starts_with("/_sim"))
        .map(|(_, n)| n.as_u64().unwrap())
        .sum()
}

/// Calls `worker` until a read succeeds, within `within`; every call
/// before must be the breaker's refusal.
async fn recovered_within(worker: &Worker, within: Duration) {
    let started = Instant::now();
    loop {
        let called = call(worker, read()).await;
        match &called.result {
            Ok(_) => return,
            Err(failure) if started.elapsed() < within => {
                assert_eq!(failure.code, "unavailable", "{failure:?}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(failure) => panic!("not recovered within {within:?}: {failure:?}"),
        }
    }
}

/// Asserts the breaker's refusal: retryable, with a retry-after and a
/// message that says what is failing and that nothing was sent.
fn assert_refused(called: &Called) {
    let failure = called.failure();
    assert_eq!(failure.code, "unavailable", "{failure:?}");
    assert!(failure.retryable);
    assert!(failure.retry_after_secs >= 1, "{failure:?}");
    for part in ["is failing (3 errors in 10 s)", "was not sent", "Retry"] {
        assert!(
            failure.message.contains(part),
            "{part:?} not in {failure:?}"
        );
    }
}

/// Fails reads on `worker` until its breaker opens: each read is sent
/// three times (two retries), so one call is three failures.
async fn open(env: &SimEnv, worker: &Worker, faults: Value) {
    env.faults(faults).await;
    let failed = call(worker, read()).await;
    assert_eq!(failed.failure().code, "upstream_unavailable");
}

#[tokio::test]
async fn a_failing_environment_is_refused_at_once_by_every_worker_until_it_recovers() {
    let env = SimEnv::start().await;
    let a = breaker_worker(&env);
    let b = breaker_worker(&env);
    open(&env, &a, json!({"error_503_rate": 1.0})).await;

    let sent = d365fo_requests(&env).await;
    let started = Instant::now();
    assert_refused(&call(&a, read()).await);
    // B saw no failure itself, yet refuses too.
    assert_refused(&call(&b, read()).await);
    assert!(
        started.elapsed() < Duration::from_millis(250),
        "refusals took {:?}",
        started.elapsed()
    );
    assert_eq!(d365fo_requests(&env).await, sent, "nothing sent while open");

    // The environment recovers; after the open period one probe closes it.
    env.faults(json!({})).await;
    recovered_within(&a, Duration::from_secs(3)).await;
    recovered_within(&b, Duration::from_secs(2)).await;

    let counts = &a.node().breakers.snapshot();
    assert_eq!(counts["opened"], 1, "{counts}");
    assert!(counts["refused"].as_u64().unwrap() >= 1, "{counts}");
    assert_eq!(
        counts["closed"].as_u64().unwrap()
            + b.node().breakers.snapshot()["closed"].as_u64().unwrap(),
        1,
        "one probe closed it"
    );
}

#[tokio::test]
async fn dropped_connections_open_it_too() {
    let env = SimEnv::start().await;
    let a = breaker_worker(&env);
    open(&env, &a, json!({"drop_rate": 1.0})).await;
    assert_refused(&call(&a, read()).await);
    env.faults(json!({})).await;
    recovered_within(&a, Duration::from_secs(3)).await;
}

#[tokio::test]
async fn a_keyed_write_the_breaker_refused_runs_afresh_when_retried() {
    let env = SimEnv::start().await;
    let a = breaker_worker(&env);
    open(&env, &a, json!({"error_503_rate": 1.0})).await;

    let mut create = request(
        CREATE,
        json!({"entity_set": "CustomersV3", "fields": {
            "dataAreaId": "usmf", "CustomerAccount": "US-BRK",
            "OrganizationName": "Breaker Ltd", "CustomerGroupId": "10"}}),
    );
    create.request_id = "idem-breaker-create".into();
    assert_refused(&call(&a, create.clone()).await);

    env.faults(json!({})).await;
    recovered_within(&a, Duration::from_secs(3)).await;
    // Not "outcome unknown": the refusal applied nothing and kept nothing.
    let created = call(&a, create.clone()).await;
    assert_eq!(created.ok()["record"]["OrganizationName"], "Breaker Ltd");
    let (status, _) = env
        .sim_get("/data/CustomersV3(dataAreaId='usmf',CustomerAccount='US-BRK')")
        .await;
    assert_eq!(status, reqwest::StatusCode::OK);
}
