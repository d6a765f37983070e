//! D365FO's throttling is shared by the workers on one store: a 429 that
//! one worker gets holds back the others until its Retry-After has passed.

use std::{
    sync::{Arc, atomic::Ordering},
    time::{Duration, Instant},
};

use common::store::{MemoryStore, SharedStore};
use futures::StreamExt;
use serde_json::json;
use worker::{Worker, d365::throttle::CHANNEL};

use super::{call, config, fixture::Fixture, request, unix_ms};

const QUERY: &str = "d365fo_query_entities";

#[tokio::test]
async fn a_throttled_environment_holds_back_every_worker_on_the_store() {
    let fx = Fixture::start().await;
    let store: SharedStore = Arc::new(MemoryStore::new());
    let a = Worker::new(config(&fx.base), Arc::clone(&store)).unwrap();
    let mut announced = store.subscribe(CHANNEL).await.unwrap();
    let b = Worker::new(config(&fx.base), store).unwrap();

    // Worker a is told "429, Retry-After: 1" and waits it out.
    let first =
        tokio::spawn(
            async move { call(&a, request(QUERY, json!({"entity_set": "Throttled"}))).await },
        );
    // Worker a has shared the window once it announces it: the store's key
    // is set before the announcement.
    let announcement = tokio::time::timeout(Duration::from_secs(5), announced.next())
        .await
        .expect("worker a announced no throttle window within 5 s")
        .expect("the announcement channel stays open");
    assert!(
        std::str::from_utf8(&announcement)
            .unwrap()
            .contains(fx.base.as_str().trim_end_matches('/')),
        "{announcement:?}"
    );

    // Worker b was never throttled itself, yet holds back: refused at once
    // when its deadline is shorter than the wait ...
    let mut short = request(QUERY, json!({"entity_set": "CustomersV3", "top": 1}));
    short.deadline_unix_ms = unix_ms() + 200;
    let refused = call(&b, short).await;
    let failure = refused.failure();
    assert_eq!(failure.code, "throttled", "{}", failure.message);
    assert!(failure.retryable);
    assert!(failure.retry_after_secs >= 1, "{failure:?}");

    // ... and waiting the window out when it has time.
    let started = Instant::now();
    let waited = call(
        &b,
        request(QUERY, json!({"entity_set": "CustomersV3", "top": 1})),
    )
    .await;
    waited.ok();
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "b did not wait: {:?}",
        started.elapsed()
    );
    first.await.unwrap().ok();
    assert_eq!(fx.state.throttle_hits.load(Ordering::SeqCst), 2);
}
