//! The behaviour every store backend must show. Backends call [`run_all`]
//! from their tests with a fresh store and a key prefix of their own.

// Test support: a broken contract should fail loudly, naming the check.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;

use super::Store;

/// Runs every contract check; panics with a message naming the broken one.
pub async fn run_all(store: &dyn Store, prefix: &str) {
    kv(store, prefix).await;
    counters(store, prefix).await;
    event_log(store, prefix).await;
    pubsub(store, prefix).await;
    super::limits::contract::run(store, prefix).await;
    members(store, prefix).await;
}

async fn kv(store: &dyn Store, p: &str) {
    let key = format!("{p}kv:a");
    assert_eq!(
        store.get(&key).await.unwrap(),
        None,
        "kv: absent key reads None"
    );
    store
        .set(&key, Bytes::from_static(b"1"), None)
        .await
        .unwrap();
    assert_eq!(
        store.get(&key).await.unwrap().as_deref(),
        Some(&b"1"[..]),
        "kv: set then get"
    );
    assert!(
        !store
            .set_if_absent(&key, Bytes::from_static(b"2"), Duration::from_secs(5))
            .await
            .unwrap(),
        "kv: set_if_absent on a present key does nothing"
    );
    assert!(
        store
            .set_if_present(&key, Bytes::from_static(b"4"), Duration::from_secs(5))
            .await
            .unwrap(),
        "kv: set_if_present on a present key sets it"
    );
    assert_eq!(
        store.get(&key).await.unwrap().as_deref(),
        Some(&b"4"[..]),
        "kv: set_if_present's value"
    );
    assert!(
        store.delete(&key).await.unwrap(),
        "kv: delete reports existence"
    );
    assert!(
        !store
            .set_if_present(&key, Bytes::from_static(b"5"), Duration::from_secs(5))
            .await
            .unwrap(),
        "kv: set_if_present on an absent key does nothing"
    );
    assert_eq!(
        store.get(&key).await.unwrap(),
        None,
        "kv: set_if_present brings back no deleted key"
    );
    assert!(
        !store.delete(&key).await.unwrap(),
        "kv: second delete reports absence"
    );
    assert!(
        store
            .set_if_absent(&key, Bytes::from_static(b"3"), Duration::from_millis(150))
            .await
            .unwrap(),
        "kv: set_if_absent on an absent key sets it"
    );
    assert!(
        store
            .expire(&key, Duration::from_millis(150))
            .await
            .unwrap(),
        "kv: expire on a present key"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(store.get(&key).await.unwrap(), None, "kv: entries expire");
    assert!(
        !store.expire(&key, Duration::from_secs(1)).await.unwrap(),
        "kv: expire on an expired key"
    );
}

async fn counters(store: &dyn Store, p: &str) {
    let key = format!("{p}ctr:a");
    assert_eq!(
        store
            .incr(&key, 1, Duration::from_millis(200))
            .await
            .unwrap(),
        1,
        "counter starts at zero"
    );
    assert_eq!(
        store
            .incr(&key, 2, Duration::from_millis(200))
            .await
            .unwrap(),
        3,
        "counter adds"
    );
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(
        store.incr(&key, 1, Duration::from_secs(5)).await.unwrap(),
        1,
        "counter window expires"
    );
}

async fn event_log(store: &dyn Store, p: &str) {
    let stream = format!("{p}log:a");
    let ttl = Duration::from_secs(5);
    let mut ids = Vec::new();
    for i in 0..5u8 {
        ids.push(
            store
                .append(&stream, Bytes::from(vec![i]), 3, ttl)
                .await
                .unwrap(),
        );
    }
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "event ids increase: {ids:?}"
    );
    let all = store.read_after(&stream, 0, 100).await.unwrap();
    assert_eq!(all.len(), 3, "event log keeps only max_len newest");
    assert_eq!(
        all[0].data.as_ref(),
        &[2u8],
        "oldest kept is the third appended"
    );
    let after = store.read_after(&stream, ids[3], 100).await.unwrap();
    assert_eq!(
        after.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![ids[4]],
        "read_after is exclusive"
    );
    assert_eq!(
        store.read_after(&stream, 0, 1).await.unwrap().len(),
        1,
        "read_after honours limit"
    );
    assert!(
        store
            .read_after(&format!("{p}log:none"), 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn pubsub(store: &dyn Store, p: &str) {
    let channel = format!("{p}chan:a");
    assert_eq!(
        store
            .publish(&channel, Bytes::from_static(b"lost"))
            .await
            .unwrap(),
        0,
        "no subscriber, no delivery"
    );
    let mut sub = store.subscribe(&channel).await.unwrap();
    // Redis subscriptions become active asynchronously; publish until seen.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        store
            .publish(&channel, Bytes::from_static(b"hello"))
            .await
            .unwrap();
        match tokio::time::timeout(Duration::from_millis(100), sub.next()).await {
            Ok(Some(message)) => {
                assert_eq!(message.as_ref(), b"hello", "pubsub delivers the message");
                break;
            }
            Ok(None) => panic!("pubsub: subscription ended"),
            Err(_) => assert!(
                tokio::time::Instant::now() < deadline,
                "pubsub: nothing delivered in 5 s"
            ),
        }
    }
}

async fn members(store: &dyn Store, p: &str) {
    let group = format!("{p}members:g");
    let long = Duration::from_secs(30);
    let ids = |members: &[super::Member]| -> Vec<String> {
        members.iter().map(|m| m.id.clone()).collect()
    };
    assert!(
        store.live(&group).await.unwrap().is_empty(),
        "members: an unknown group has none"
    );
    for (id, payload) in [("b", "pb"), ("a", "pa1"), ("a", "pa2")] {
        store
            .heartbeat(&group, id, Bytes::from(payload), long)
            .await
            .unwrap();
    }
    let live = store.live(&group).await.unwrap();
    assert_eq!(
        ids(&live),
        ["a", "b"],
        "members: live, sorted by id, once each"
    );
    assert_eq!(
        live[0].payload.as_ref(),
        b"pa2",
        "members: a heartbeat replaces the payload"
    );
    assert!(
        live.iter()
            .all(|m| m.expires_in <= long && m.expires_in > Duration::from_secs(20)),
        "members: time left is about the TTL: {live:?}"
    );
    assert!(
        store
            .live(&format!("{p}members:other"))
            .await
            .unwrap()
            .is_empty(),
        "members: groups are separate"
    );

    assert!(store.leave(&group, "b").await.unwrap(), "members: leave");
    assert!(
        !store.leave(&group, "b").await.unwrap(),
        "members: a second leave finds nobody"
    );
    assert_eq!(
        ids(&store.live(&group).await.unwrap()),
        ["a"],
        "members: who left is gone at once"
    );

    // c's lease runs out; d's is renewed half-way. The check waits for c
    // to go (bounded) rather than sleeping a fixed time, and d's renewal
    // leaves it half a lease beyond that: a slow machine delays both.
    let short = Duration::from_millis(1_500);
    store
        .heartbeat(&group, "c", Bytes::from_static(b"pc"), short)
        .await
        .unwrap();
    store
        .heartbeat(&group, "d", Bytes::from_static(b"pd"), short)
        .await
        .unwrap();
    tokio::time::sleep(short / 2).await;
    store
        .heartbeat(&group, "d", Bytes::from_static(b"pd"), short)
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let live = loop {
        let live = ids(&store.live(&group).await.unwrap());
        if !live.contains(&"c".to_owned()) || tokio::time::Instant::now() > deadline {
            break live;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(live, ["a", "d"], "members: a lease runs out unless renewed");
    assert!(
        !store.leave(&group, "c").await.unwrap(),
        "members: an expired member was not live"
    );
    assert!(
        store.heartbeat("", "x", Bytes::new(), long).await.is_err()
            && store
                .heartbeat(&format!("{p}members:{{x}}"), "x", Bytes::new(), long)
                .await
                .is_err(),
        "members: a group name that cannot be stored is refused"
    );
}
