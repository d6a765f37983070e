//! The Redis backend against a real `redis-server` that each test starts on
//! a free loopback port. Never skipped: without `redis-server` these tests
//! fail and say how to install it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use bytes::Bytes;
use common::store::{KvStore, RedisStore, StoreError, contract};

/// A `redis-server` child process, killed on drop.
struct RedisServer {
    port: u16,
    child: Child,
}

impl RedisServer {
    fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Self::start_on(port)
    }

    /// Starts on `port` and waits until it answers PING.
    fn start_on(port: u16) -> Self {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start redis-server ({e}): install it (apt-get install -y \
                     redis-server; ./scripts/test.sh does this when it is missing)"
                )
            });
        let server = Self { port, child };
        server.wait_ready();
        server
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn wait_ready(&self) {
        let client = redis::Client::open(self.url()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let pong = client
                .get_connection()
                .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c));
            if pong.is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server on port {} did not answer within 10 s",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn kill(mut self) -> u16 {
        self.stop();
        self.port
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

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
