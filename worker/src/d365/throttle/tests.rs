use std::sync::Arc;

use common::store::MemoryStore;

use super::*;
use crate::cache::tests::stores::DownStore;

fn gate(store: &SharedStore, identity: &str) -> ThrottleGate {
    ThrottleGate::new(store.clone(), "x", "https://x.example/", identity)
}

/// The wait `gate` asks for, polling until it refuses a call with no time
/// to wait: delivery through pub/sub is asynchronous.
async fn refused_within(gate: &ThrottleGate, within: Duration) -> Duration {
    let started = std::time::Instant::now();
    loop {
        match gate.wait(Deadline::after(Duration::ZERO)).await {
            Err(WorkerError::Throttled {
                retry_after: Some(left),
            }) => return left,
            Err(other) => panic!("{other:?}"),
            Ok(()) if started.elapsed() < within => {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Ok(()) => panic!("still open after {within:?}"),
        }
    }
}

#[tokio::test]
async fn a_closed_environment_is_waited_out_or_refused() {
    let store: SharedStore = Arc::new(MemoryStore::new());
    let a = ThrottleGate::new(store.clone(), "x", "https://x.example/", "app");
    let b = ThrottleGate::new(store.clone(), "x", "https://x.example", "app");
    let other = ThrottleGate::new(store, "x", "https://x.example", "other-app");
    b.wait(Deadline::NONE).await.unwrap();
    a.close_for(Duration::from_millis(300)).await;
    // Another identity is not held back.
    other
        .wait(Deadline::after(Duration::from_millis(10)))
        .await
        .unwrap();
    // B's view is fresh: the window reaches it through its listener.
    refused_within(&b, Duration::from_millis(100)).await;
    // Too little time left: refused at once, with the wait to come.
    let refused = b
        .wait(Deadline::after(Duration::from_millis(50)))
        .await
        .unwrap_err();
    let WorkerError::Throttled {
        retry_after: Some(left),
    } = refused
    else {
        panic!("{refused:?}");
    };
    assert!(left > Duration::from_millis(100), "{left:?}");
    // Enough time: waited out.
    let started = std::time::Instant::now();
    b.wait(Deadline::after(Duration::from_secs(5)))
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(150));
    b.wait(Deadline::NONE).await.unwrap();
}

#[tokio::test]
async fn a_window_reaches_a_fresh_view_through_pub_sub() {
    let store: SharedStore = Arc::new(MemoryStore::new());
    let a = gate(&store, "app");
    let b = gate(&store, "app");
    // B has just read the store (open) and subscribed.
    b.wait(Deadline::NONE).await.unwrap();
    assert!(b.shared.listener.is_listening());
    let refreshed = b.shared.view.lock().refreshed;
    assert!(refreshed.is_some());

    a.close_for(Duration::from_secs(5)).await;
    // Far sooner than REFRESH_INTERVAL, and without reading the store.
    let left = refused_within(&b, Duration::from_millis(300)).await;
    assert!(left > Duration::from_secs(4), "{left:?}");
    assert_eq!(
        b.shared.view.lock().refreshed,
        refreshed,
        "B read the store"
    );
}

#[tokio::test]
async fn a_new_gate_reads_a_window_set_before_it_existed() {
    let store: SharedStore = Arc::new(MemoryStore::new());
    gate(&store, "app").close_for(Duration::from_secs(5)).await;
    // Nobody listened when the window was announced: only the store has it.
    let late = gate(&store, "app");
    let refused = late
        .wait(Deadline::after(Duration::from_millis(10)))
        .await
        .unwrap_err();
    assert!(
        matches!(refused, WorkerError::Throttled { retry_after: Some(left) } if left > Duration::from_secs(4)),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_stale_view_is_read_again_in_the_background_not_on_the_request() {
    // A store that answers nothing until its timeout, as a global store in
    // another region that is cut off.
    let store: SharedStore = Arc::new(DownStore(Duration::from_millis(400)));
    let g = gate(&store, "app");
    // A gate's first request waits for its first read.
    let started = std::time::Instant::now();
    g.wait(Deadline::NONE).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(400));
    // Later requests on a stale view do not wait for the store.
    tokio::time::sleep(REFRESH_INTERVAL + Duration::from_millis(50)).await;
    let started = std::time::Instant::now();
    for _ in 0..20 {
        g.wait(Deadline::NONE).await.unwrap();
    }
    let took = started.elapsed();
    assert!(took < Duration::from_millis(200), "{took:?}");
    // A window this worker was told of still holds it back.
    g.close_for(Duration::from_secs(5)).await;
    refused_within(&g, Duration::ZERO).await;
}

#[tokio::test]
async fn a_window_only_in_the_store_reaches_a_subscribed_view_by_its_resync() {
    let store: SharedStore = Arc::new(MemoryStore::new());
    let resync = Duration::from_millis(200);
    let b = gate(&store, "app").with_resync(resync);
    b.wait(Deadline::NONE).await.unwrap();
    assert!(b.shared.listener.is_listening());
    // Set without an announcement (a lost message): only a read finds it.
    let until = unix_now_ms() + 5_000;
    store
        .set(
            &b.shared.key,
            Bytes::from(until.to_string()),
            Some(Duration::from_secs(5)),
        )
        .await
        .unwrap();
    // No request in between: the gate's timer reads the store, not a request.
    tokio::time::sleep(resync + Duration::from_millis(100)).await;
    let left = refused_within(&b, Duration::ZERO).await;
    assert!(left > Duration::from_secs(3), "{left:?}");
}

#[tokio::test]
async fn a_polling_gate_reads_a_stale_view_again_in_the_background() {
    let store: SharedStore = Arc::new(MemoryStore::new());
    let b = ThrottleGate::polling(store.clone(), "x", "https://x.example/", "user");
    b.wait(Deadline::NONE).await.unwrap();
    let until = unix_now_ms() + 5_000;
    let value = Bytes::from(until.to_string());
    store
        .set(&b.shared.key, value, Some(Duration::from_secs(5)))
        .await
        .unwrap();
    // A sleep on purpose: the view growing stale is what is tested.
    tokio::time::sleep(REFRESH_INTERVAL + Duration::from_millis(50)).await;
    let left = refused_within(&b, Duration::from_millis(300)).await;
    assert!(left > Duration::from_secs(3), "{left:?}");
}

#[tokio::test]
async fn malformed_messages_are_ignored() {
    let store: SharedStore = Arc::new(MemoryStore::new());
    let b = gate(&store, "app");
    b.wait(Deadline::NONE).await.unwrap();
    let key = b.shared.key.clone();
    let far = unix_now_ms() + 3_600_000;
    let malformed: Vec<Bytes> = vec![
        Bytes::new(),
        Bytes::from_static(b"garbage"),
        Bytes::from(far.to_string()),
        Bytes::from(format!("{far} ")),
        Bytes::from(format!("{far}{key}")),
        Bytes::from(format!("{far}  {key}")),
        Bytes::from(format!("soon {key}")),
        Bytes::from(format!("-5 {key}")),
        Bytes::from(format!("99999999999999999999999 {key}")),
        Bytes::from([&[0xff, 0xfe, b' '][..], key.as_bytes()].concat()),
        Bytes::from(format!("{far} {key}|other")),
    ];
    for message in malformed {
        store.publish(CHANNEL, message).await.unwrap();
    }
    // Messages arrive in order: once this one is applied, the others were
    // seen and ignored, and the listener is still running.
    let until = unix_now_ms() + 2_000;
    store
        .publish(CHANNEL, Bytes::from(format!("{until} {key}")))
        .await
        .unwrap();
    let left = refused_within(&b, Duration::from_millis(300)).await;
    assert!(left <= Duration::from_secs(2), "{left:?}");
    assert!(b.shared.listener.is_listening());
}

#[test]
fn messages_name_the_end_then_the_key() {
    assert_eq!(parse(b"42 a b"), Some((42, "a b")));
    assert_eq!(parse(b"42 "), None);
    assert_eq!(parse(b"42"), None);
    assert_eq!(parse(b"x 42"), None);
}
