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
use common::store::{KvStore, RedisStore, StoreError, contract};
use support::redis::RedisServer;

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
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        store.get(key).await.unwrap(),
        None,
        "full again after 200 ms, and gone"
    );
}
