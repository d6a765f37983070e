//! The Redis backend of the shared store against a real `redis-server`
//! that each test starts on a free loopback port. Never skipped: without
//! `redis-server` these tests fail and say how to install it.

// Tests fail loudly on anything unexpected.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::{
    net::TcpListener,
    time::{Duration, Instant},
};

use bytes::Bytes;
use common::store::{KvStore, PubSub, RedisStore, StoreError, contract};
use futures::StreamExt;
use support::{
    redis::RedisServer,
    redis_cluster::{RedisCluster, key_slot},
    redis_tls::TlsRedis,
};

#[tokio::test]
async fn redis_store_meets_the_contract() {
    let server = RedisServer::start();
    let store = RedisStore::open(&server.url()).unwrap();
    contract::run_all(&store, "test:").await;
}

#[tokio::test]
async fn a_dead_redis_fails_fast_and_the_store_reconnects_after_a_restart() {
    let server = RedisServer::start();
    let store = RedisStore::open(&server.url()).unwrap();
    let key = "test:reconnect";
    store
        .set(key, Bytes::from_static(b"1"), None)
        .await
        .unwrap();

    let port = server.kill();
    let started = Instant::now();
    let err = store.get(key).await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "a dead Redis failed after {:?}",
        started.elapsed()
    );

    let _server = RedisServer::start_on(port);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match store.set(key, Bytes::from_static(b"2"), None).await {
            Ok(()) => break,
            Err(StoreError::Unavailable(e)) => {
                assert!(Instant::now() < deadline, "no reconnection in 10 s: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("unexpected error after the restart: {e:?}"),
        }
    }
    assert_eq!(
        store.get(key).await.unwrap().as_deref(),
        Some(&b"2"[..]),
        "the same store works on the restarted server"
    );
}

#[tokio::test]
async fn a_store_opened_before_redis_is_up_works_once_it_is() {
    let port = RedisServer::start().kill();
    let store = RedisStore::open(&format!("redis://127.0.0.1:{port}")).unwrap();
    let err = store.get("test:early").await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");

    let _server = RedisServer::start_on(port);
    let deadline = Instant::now() + Duration::from_secs(10);
    while let Err(e) = store.get("test:early").await {
        assert!(Instant::now() < deadline, "never connected: {e}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_redis_that_never_answers_times_out_as_unavailable() {
    // Accepts connections (the kernel's backlog does) and never replies.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("redis://{}", silent.local_addr().unwrap());
    let store = RedisStore::open_with_timeout(&url, Duration::from_millis(300)).unwrap();
    let started = Instant::now();
    let err = store.get("test:silent").await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
}

/// The contract on a 3-node Redis Cluster, with a key prefix chosen so the
/// contract's key-value, counter and event-log keys live on three different
/// nodes: the run proves the store routes by slot, not one lucky node.
#[tokio::test]
async fn redis_cluster_store_meets_the_contract_across_nodes() {
    let cluster = RedisCluster::start();
    let contract_keys = |p: &str| ["kv:a", "ctr:a", "log:a"].map(|k| format!("{p}{k}"));
    let prefix = (0..1000)
        .map(|n| format!("test:{n}:"))
        .find(|p| {
            let owners: std::collections::BTreeSet<u16> = contract_keys(p)
                .iter()
                .map(|k| cluster.owner_of(k))
                .collect();
            owners.len() == 3
        })
        .expect("a prefix spreading the keys over the three nodes");
    let any = cluster.ports()[0];
    for key in contract_keys(&prefix) {
        assert_eq!(
            cluster.cli(any, &["CLUSTER", "KEYSLOT", &key]),
            key_slot(&key).to_string(),
            "the test's slot function agrees with Redis for {key}"
        );
    }

    let urls = cluster.urls();
    let store = RedisStore::open_cluster(&[urls[0].as_str()]).unwrap();
    contract::run_all(&store, &prefix).await;

    // The event log outlives the run (5 s TTL): it is on its slot's owner.
    let log = format!("{prefix}log:a");
    assert_eq!(cluster.cli(cluster.owner_of(&log), &["EXISTS", &log]), "1");

    // A subscription sits on its channel's slot owner, where PUBLISH goes,
    // so the count PUBLISH returns includes it even when that node is not
    // the seed (the legacy relay reads 0 as "nobody holds the stream").
    let channel = (0..1000)
        .map(|n| format!("{prefix}chan:{n}"))
        .find(|c| format!("redis://127.0.0.1:{}", cluster.owner_of(c)) != urls[0])
        .unwrap();
    let mut sub = store.subscribe(&channel).await.unwrap();
    let receivers = store
        .publish(&channel, Bytes::from_static(b"counted"))
        .await
        .unwrap();
    assert_eq!(receivers, 1, "the subscriber on another node is counted");
    let message = tokio::time::timeout(Duration::from_secs(5), sub.next()).await;
    assert_eq!(message.ok().flatten().as_deref(), Some(&b"counted"[..]));

    // The same node as a single server: a key of another node's slot is
    // redirected, which names the missing setting instead of looking like
    // an outage to wait out.
    let single = RedisStore::open(&urls[0]).unwrap();
    let elsewhere = contract_keys(&prefix)
        .into_iter()
        .find(|k| format!("redis://127.0.0.1:{}", cluster.owner_of(k)) != urls[0])
        .unwrap();
    let err = single.get(&elsewhere).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Protocol(m) if m.contains("--redis-cluster")),
        "{err:?}"
    );
}

/// Killing the node that owns a key's slot makes operations on that key fail
/// as `Unavailable` within the operation timeout, while keys on the other
/// nodes keep working through the same store.
#[tokio::test]
async fn a_dead_cluster_node_fails_its_slots_fast_and_spares_the_others() {
    let mut cluster = RedisCluster::start();
    let seeds = cluster.urls();
    let seeds: Vec<&str> = seeds.iter().map(String::as_str).collect();
    let store = RedisStore::open_cluster(&seeds).unwrap();
    let [victim, survivor] = [cluster.ports()[0], cluster.ports()[1]];
    let key_on = |port: u16| {
        (0..10_000)
            .map(|n| format!("test:node:{n}"))
            .find(|k| cluster.owner_of(k) == port)
            .unwrap()
    };
    let (lost, kept) = (key_on(victim), key_on(survivor));
    for key in [&lost, &kept] {
        store
            .set(key, Bytes::from_static(b"1"), None)
            .await
            .unwrap();
    }

    cluster.kill_node(victim);
    let started = Instant::now();
    let err = store.get(&lost).await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "an operation on the dead node's slot took {:?}",
        started.elapsed()
    );

    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match store.get(&kept).await {
            Ok(value) => {
                assert_eq!(value.as_deref(), Some(&b"1"[..]));
                break;
            }
            Err(StoreError::Unavailable(e)) => {
                assert!(Instant::now() < deadline, "the survivor's key: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("unexpected error on the survivor's key: {e:?}"),
        }
    }

    // Subscribing still works with the first seed dead: it goes to the
    // channel's slot owner, a survivor.
    let chan = &kept;
    let mut sub = store.subscribe(chan).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match store.publish(chan, Bytes::from_static(b"hi")).await {
            Ok(_) | Err(StoreError::Unavailable(_)) => {}
            Err(e) => panic!("publish: {e:?}"),
        }
        if let Ok(Some(message)) =
            tokio::time::timeout(Duration::from_millis(100), sub.next()).await
        {
            assert_eq!(message.as_ref(), b"hi");
            break;
        }
        assert!(Instant::now() < deadline, "nothing delivered in 10 s");
    }
}

#[tokio::test]
async fn a_cluster_store_opens_while_no_node_is_up_and_fails_fast() {
    let port = support::redis::free_port();
    let store = RedisStore::open_cluster(&[&format!("redis://127.0.0.1:{port}")]).unwrap();
    let started = Instant::now();
    let err = store.get("test:early").await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
}

/// `rediss://` works in both modes: the contract over TLS on one server and
/// on a (one-node) Redis Cluster, both through the `--redis-url` setting.
#[tokio::test]
async fn rediss_urls_work_on_one_server_and_on_a_cluster() {
    for cluster in [false, true] {
        let server = TlsRedis::start(cluster);
        let store = RedisStore::open_setting(&server.url(), cluster).unwrap();
        contract::run_all(&store, "test:tls:").await;
    }
}

/// An ACL user with a password, over TLS, alone and on a cluster: the
/// contract holds with the right password; a wrong one (or none) is
/// refused, and the error does not repeat the password.
#[tokio::test]
async fn an_acl_user_with_a_password_over_tls_works_and_a_wrong_one_is_refused() {
    for cluster in [false, true] {
        let server = TlsRedis::start_with_user(cluster, "d365mcp", "s3cret-pw");
        let store =
            RedisStore::open_setting(&server.url_as("d365mcp", "s3cret-pw"), cluster).unwrap();
        contract::run_all(&store, "test:acl:").await;
        for url in [server.url_as("d365mcp", "wrong-pw"), server.url()] {
            let refused = RedisStore::open_setting(&url, cluster).unwrap();
            let error = refused.get("test:acl:x").await.unwrap_err();
            assert!(!error.to_string().contains("wrong-pw"), "{error}");
        }
    }
}

/// Two deployments, each with its own key prefix, share one Redis without
/// seeing each other's keys, channels or members; every key lands under
/// the prefix.
#[tokio::test]
async fn deployments_with_their_own_key_prefixes_share_one_redis_apart() {
    use common::store::MemberStore;
    let server = RedisServer::start();
    let a = RedisStore::open(&server.url())
        .unwrap()
        .with_prefix("dep-a:")
        .unwrap();
    let b = RedisStore::open(&server.url())
        .unwrap()
        .with_prefix("dep-b:")
        .unwrap();
    contract::run_all(&a, "test:").await;

    a.set("shared:k", Bytes::from_static(b"a"), None)
        .await
        .unwrap();
    assert_eq!(b.get("shared:k").await.unwrap(), None);
    assert_eq!(
        a.get("shared:k").await.unwrap(),
        Some(Bytes::from_static(b"a"))
    );

    let mut heard_by_b = b.subscribe("shared:channel").await.unwrap();
    let mut heard_by_a = a.subscribe("shared:channel").await.unwrap();
    a.publish("shared:channel", Bytes::from_static(b"hello"))
        .await
        .unwrap();
    let got = tokio::time::timeout(Duration::from_secs(2), heard_by_a.next()).await;
    assert_eq!(got.unwrap(), Some(Bytes::from_static(b"hello")));
    let crossed = tokio::time::timeout(Duration::from_millis(300), heard_by_b.next()).await;
    assert!(crossed.is_err(), "b heard a's channel");

    a.heartbeat(
        "shared:members",
        "m1",
        Bytes::from_static(b"{}"),
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    assert!(b.live("shared:members").await.unwrap().is_empty());
    assert_eq!(a.live("shared:members").await.unwrap().len(), 1);

    let port = server
        .url()
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches('/')
        .to_owned();
    let keys = std::process::Command::new("redis-cli")
        .args(["-p", &port, "--scan"])
        .output()
        .unwrap();
    let keys = String::from_utf8_lossy(&keys.stdout).into_owned();
    assert!(keys.lines().count() > 0, "no keys at all");
    for key in keys.lines() {
        assert!(key.starts_with("dep-a:"), "a key outside the prefix: {key}");
    }

    for bad in ["", "{tag}:", "a b:", &"x".repeat(65)] {
        let opened = RedisStore::open(&server.url()).unwrap();
        assert!(opened.with_prefix(bad).is_err(), "{bad:?} accepted");
    }
}

#[tokio::test]
async fn a_rate_limit_bucket_is_one_key_that_lives_until_the_bucket_is_full() {
    use common::store::{Limit, RateLimitStore};
    let server = RedisServer::start();
    let store = RedisStore::open(&server.url()).unwrap();
    let key = "test:rl:ttl";
    let limit = Limit {
        rate_per_second: 10.0,
        burst: 2,
    };
    assert!(store.acquire(key, limit, 2).await.unwrap().allowed);
    let tat = store.get(key).await.unwrap().expect("the bucket's key");
    let tat: f64 = std::str::from_utf8(&tat).unwrap().parse().unwrap();
    assert!(
        tat > 1e15,
        "a TAT in microseconds of the server's clock: {tat}"
    );
    assert!(!store.acquire(key, limit, 1).await.unwrap().allowed);
    // A sleep on purpose: the key's TTL running out is what is tested, and
    // Redis expires it exactly (a later read only finds it more expired).
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        store.get(key).await.unwrap(),
        None,
        "full again after 200 ms, and gone"
    );
}
