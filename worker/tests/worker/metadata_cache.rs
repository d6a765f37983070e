//! The metadata cache against the simulator, counted with `/_sim/requests`:
//! environments on one version share entries, a repeated lookup makes no
//! request, and 50 concurrent first calls on two workers make one.

use std::{sync::Arc, time::Duration};

use parking_lot::Mutex;
use serde_json::json;
use url::Url;

use super::{
    call, request,
    simulator::{Sim, store, worker_on},
};

const LABEL_PATH: &str = "/Metadata/Labels(Id='@SYS13342',Language='en-us')";

#[tokio::test]
async fn environments_with_identical_modules_share_entries() {
    let sim = Sim::start().await;
    let shared = store();
    // One simulator under two URLs: two environments, one set of modules.
    let first = worker_on(&sim.base, &shared);
    let other_url = Url::parse(&format!("http://localhost:{}", sim.port)).unwrap();
    let second = worker_on(&other_url, &shared);
    let schema = json!({"entity": "CustomersV3"});

    let a = call(&first, request("d365fo_get_entity_schema", schema.clone())).await;
    assert!(
        sim.metadata_requests().await > 0,
        "the first lookup reads D365FO"
    );
    sim.reset().await;
    let b = call(&second, request("d365fo_get_entity_schema", schema.clone())).await;
    assert_eq!(a.ok(), b.ok());
    let seen = sim.requests().await;
    assert_eq!(
        sim.metadata_requests().await,
        0,
        "second environment: {seen:?}"
    );
    // The second environment's version was read (its own modules), nothing else.
    assert_eq!(
        seen.keys().collect::<Vec<_>>(),
        ["/data/SystemNotifications/Microsoft.Dynamics.DataEntities.GetInstalledModules"]
    );
    let hits = second.cache().snapshot();
    assert!(hits["l2_hits"].as_u64().unwrap() >= 2, "{hits}");

    // Repeated lookups on either worker make no request at all.
    sim.reset().await;
    for worker in [&first, &second] {
        call(worker, request("d365fo_get_entity_schema", schema.clone()))
            .await
            .ok();
        call(
            worker,
            request("d365fo_get_label", json!({"label_id": "@SYS13342"})),
        )
        .await
        .ok();
    }
    assert_eq!(sim.requests().await.len(), 0);
}

#[tokio::test]
async fn fifty_concurrent_first_label_calls_on_two_workers_make_one_request() {
    let sim = Sim::start().await;
    let shared = store();
    let workers = [worker_on(&sim.base, &shared), worker_on(&sim.base, &shared)];
    let mut calls = Vec::new();
    for i in 0..50 {
        let worker = Arc::clone(&workers[i % 2]);
        calls.push(tokio::spawn(async move {
            call(
                &worker,
                request("d365fo_get_label", json!({"label_id": "@SYS13342"})),
            )
            .await
        }));
    }
    for c in calls {
        assert_eq!(c.await.unwrap().ok()["text"], "Company");
    }
    let seen = sim.requests().await;
    assert_eq!(seen.get(LABEL_PATH), Some(&1), "{seen:?}");
    let fills: u64 = workers
        .iter()
        .map(|w| w.cache().snapshot()["misses"].as_u64().unwrap())
        .sum();
    assert_eq!(fills, 1);
}

#[tokio::test]
async fn a_missing_label_storm_costs_one_request() {
    let sim = Sim::start().await;
    let worker = worker_on(&sim.base, &store());
    for _ in 0..20 {
        let called = call(
            &worker,
            request("d365fo_get_label", json!({"label_id": "@NOPE9"})),
        )
        .await;
        assert_eq!(called.failure().code, "not_found");
    }
    let seen = sim.requests().await;
    assert_eq!(
        seen.get("/Metadata/Labels(Id='@NOPE9',Language='en-us')"),
        Some(&1),
        "{seen:?}"
    );
}

#[tokio::test]
async fn warm_up_reports_progress_and_fills_the_lists() {
    let sim = Sim::start().await;
    let worker = worker_on(&sim.base, &store());
    let steps: Arc<Mutex<Vec<(u64, u64, String)>>> = Arc::default();
    let sink = Arc::clone(&steps);
    let report = move |done: u64, total: u64, message: &str| {
        sink.lock().push((done, total, message.to_owned()));
    };
    let summary = worker.warm_up(Some(&report)).await;
    let summary = &summary[super::ENV];
    assert!(summary["entities"].as_u64().unwrap() > 10, "{summary}");
    let steps = steps.lock().clone();
    assert_eq!(
        steps.iter().map(|s| (s.0, s.1)).collect::<Vec<_>>(),
        [(1, 3), (2, 3), (3, 3)]
    );
    assert!(steps[1].2.contains("data entities"), "{steps:?}");
    // The entity list is cached: a search by name asks only for labels.
    sim.reset().await;
    let called = call(
        &worker,
        request("d365fo_search_entities", json!({"query": "vendor"})),
    )
    .await;
    assert_eq!(called.ok()["entities"][0]["entity_set"], "VendorsV2");
    let seen = sim.requests().await;
    assert!(!seen.contains_key("/Metadata/DataEntities"), "{seen:?}");

    // Dropping the warm-up stops it: with the simulator slowed, nothing
    // more is asked once the future is gone.
    sim.set_latency_ms(300).await;
    sim.reset_counts_only().await;
    let fresh = worker_on(&sim.base, &store());
    let cut = tokio::time::timeout(Duration::from_millis(100), fresh.warm_up(None)).await;
    // (A summary would mean the warm-up finished despite the latency.)
    assert!(cut.is_err(), "the warm-up should still be waiting");
    // A sleep on purpose: this is the window in which nothing may happen.
    // A warm-up still running would have sent its next request when the
    // first answered, 300 ms in; 700 ms leaves room for two.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let seen = sim.requests().await;
    assert_eq!(
        seen.values().sum::<u64>(),
        1,
        "only the first request: {seen:?}"
    );
}
