//! The breaker's state machine on the in-memory store: opening on a streak,
//! sharing the open state, one probe, reopening for longer, a store that is
//! down.

use std::sync::Arc;

use common::store::MemoryStore;

use super::*;
use crate::cache::tests::stores::DownStore;

const URL: &str = "https://contoso.example/";

fn config(threshold: u32, open_ms: u64) -> BreakerConfig {
    BreakerConfig {
        threshold,
        window: Duration::from_secs(10),
        open_for: Duration::from_millis(open_ms),
        max_open_for: Duration::from_millis(open_ms * 3),
    }
}

fn breaker(store: &SharedStore, config: BreakerConfig) -> Breaker {
    Breaker::new(
        store.clone(),
        "contoso",
        URL,
        config,
        Duration::from_secs(5),
        Arc::default(),
    )
}

fn memory() -> SharedStore {
    Arc::new(MemoryStore::new())
}

/// Sends `n` requests through `b` that all fail.
async fn fail(b: &Breaker, n: u32) {
    for _ in 0..n {
        let permit = b.admit().await.unwrap();
        b.record(permit, Health::Failed).await;
    }
}

/// Polls `b` until it refuses, within `within`: announcements arrive
/// asynchronously. Returns the refusal's retry-after and message.
async fn refused_within(b: &Breaker, within: Duration) -> (Duration, String) {
    let started = std::time::Instant::now();
    loop {
        match b.admit().await {
            Err(WorkerError::CircuitOpen {
                message,
                retry_after,
            }) => return (retry_after, message),
            Err(other) => panic!("{other:?}"),
            Ok(permit) if started.elapsed() < within => {
                drop(permit);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Ok(_) => panic!("still sending after {within:?}"),
        }
    }
}

/// Polls `b` until it admits a call, within `within`.
async fn admitted_within(b: &Breaker, within: Duration) -> Permit {
    let started = std::time::Instant::now();
    loop {
        match b.admit().await {
            Ok(permit) => return permit,
            Err(WorkerError::CircuitOpen { .. }) if started.elapsed() < within => {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err(other) => panic!("not admitted within {within:?}: {other}"),
        }
    }
}

#[tokio::test]
async fn a_streak_opens_and_every_gate_on_the_store_refuses() {
    let store = memory();
    let a = breaker(&store, config(3, 5_000));
    let b = breaker(&store, config(3, 5_000));
    // B has read the store and listens.
    drop(b.admit().await.unwrap());
    assert!(b.shared.listener.is_listening());

    fail(&a, 2).await;
    // Answered in between: the count starts again.
    let permit = a.admit().await.unwrap();
    a.record(permit, Health::Answered).await;
    fail(&a, 2).await;
    drop(a.admit().await.unwrap());
    fail(&a, 1).await;

    let (left, message) = refused_within(&a, Duration::ZERO).await;
    assert!(left > Duration::from_secs(4), "{left:?}");
    assert_eq!(
        message,
        "D365FO environment https://contoso.example is failing (3 errors in 10 s); not sending \
         to it for 5 s, so this call was not sent and changed nothing. Retry then."
    );
    // B hears it through pub/sub, sooner than its refresh.
    let (left, _) = refused_within(&b, Duration::from_millis(300)).await;
    assert!(left > Duration::from_secs(4), "{left:?}");
    assert!(
        b.shared.view.lock().fresh(REFRESH_INTERVAL),
        "B read the store"
    );
    // A gate made later reads it from the store.
    let late = breaker(&store, config(3, 5_000));
    refused_within(&late, Duration::ZERO).await;

    let counts = a.counters.snapshot();
    assert_eq!(
        (counts["opened"].as_u64(), counts["refused"].as_u64()),
        (Some(1), Some(1))
    );
    assert!(store.get(&a.shared.key).await.unwrap().is_some());
}

#[tokio::test]
async fn failures_that_say_nothing_do_not_count() {
    let store = memory();
    let a = breaker(&store, config(2, 5_000));
    for _ in 0..10 {
        let permit = a.admit().await.unwrap();
        a.record(permit, Health::Unknown).await;
    }
    fail(&a, 1).await;
    drop(a.admit().await.unwrap());
}

#[tokio::test]
async fn a_threshold_of_zero_never_opens() {
    let store = memory();
    let off = breaker(&store, BreakerConfig::off());
    fail(&off, 100).await;
    drop(off.admit().await.unwrap());
    assert!(store.get(&off.shared.key).await.unwrap().is_none());
}

#[tokio::test]
async fn one_probe_across_the_store_and_its_answer_closes() {
    let store = memory();
    let a = breaker(&store, config(2, 200));
    let b = breaker(&store, config(2, 200));
    drop(b.admit().await.unwrap());
    fail(&a, 2).await;
    refused_within(&b, Duration::from_millis(300)).await;

    // Once the time is up, exactly one call probes; the others are refused.
    let probe = admitted_within(&a, Duration::from_secs(2)).await;
    assert!(probe.probe.is_some());
    let (wait, message) = refused_within(&b, Duration::ZERO).await;
    assert_eq!(wait, PROBE_RETRY_AFTER);
    assert!(
        message.contains("one probe request is checking"),
        "{message}"
    );
    refused_within(&a, Duration::ZERO).await;

    // The probe is answered: closed for everyone, the keys gone.
    a.record(probe, Health::Answered).await;
    let permit = a.admit().await.unwrap();
    assert!(permit.probe.is_none());
    drop(admitted_within(&b, Duration::from_millis(300)).await);
    assert!(store.get(&a.shared.key).await.unwrap().is_none());
    assert!(store.get(&a.shared.probe_key).await.unwrap().is_none());
    assert_eq!(a.counters.snapshot()["closed"], 1);
    assert_eq!(a.counters.snapshot()["probes"], 1);
}

#[tokio::test]
async fn a_failed_probe_reopens_for_twice_as_long() {
    let store = memory();
    let a = breaker(&store, config(1, 200));
    let b = breaker(&store, config(1, 200));
    drop(b.admit().await.unwrap());
    fail(&a, 1).await;

    let probe = admitted_within(&a, Duration::from_secs(2)).await;
    a.record(probe, Health::Failed).await;
    let (left, message) = refused_within(&b, Duration::from_millis(300)).await;
    assert!(left > Duration::from_millis(300), "doubled: {left:?}");
    assert!(message.contains("then 1 failed probe)"), "{message}");
    let stored = store.get(&a.shared.key).await.unwrap().unwrap();
    let open = Open::decode(std::str::from_utf8(&stored).unwrap()).unwrap();
    assert_eq!((open.open_ms, open.probes_failed), (400, 1));

    // Doubling stops at the maximum (600 ms here).
    let probe = admitted_within(&b, Duration::from_secs(2)).await;
    b.record(probe, Health::Failed).await;
    let (left, _) = refused_within(&a, Duration::from_millis(300)).await;
    assert!(left <= Duration::from_millis(600), "{left:?}");
    assert_eq!(a.shared.view.lock().open.map(|o| o.open_ms), Some(600));
}

#[tokio::test]
async fn a_probe_that_says_nothing_frees_the_claim_for_the_next_call() {
    let store = memory();
    let a = breaker(&store, config(1, 100));
    fail(&a, 1).await;
    let probe = admitted_within(&a, Duration::from_secs(2)).await;
    a.record(probe, Health::Unknown).await;
    let again = a.admit().await.unwrap();
    assert!(again.probe.is_some(), "the next call probes");
    // A cancelled probe (dropped) frees it too.
    drop(again);
    let started = std::time::Instant::now();
    while store.get(&a.shared.probe_key).await.unwrap().is_some() {
        assert!(started.elapsed() < Duration::from_secs(2), "claim kept");
        tokio::task::yield_now().await;
    }
    assert!(a.admit().await.unwrap().probe.is_some());
}

#[tokio::test]
async fn a_store_that_is_down_leaves_a_local_breaker() {
    let store: SharedStore = Arc::new(DownStore(Duration::ZERO));
    let a = breaker(&store, config(2, 150));
    drop(a.admit().await.unwrap());
    fail(&a, 2).await;
    refused_within(&a, Duration::ZERO).await;
    // The probe is this worker's own; its answer closes.
    let probe = admitted_within(&a, Duration::from_secs(2)).await;
    assert!(probe.probe.is_some());
    refused_within(&a, Duration::ZERO).await;
    a.record(probe, Health::Answered).await;
    drop(a.admit().await.unwrap());
}
