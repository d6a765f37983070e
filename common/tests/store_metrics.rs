//! The Redis store's metrics against a real `redis-server` this test
//! starts on a free loopback port: every operation is timed by name, a
//! failure counted by kind, and `d365mcp_store_up` follows whether Redis
//! answers. A test binary of its own, so that no other test moves the
//! process-wide gauge meanwhile. Never skipped: without `redis-server` it
//! fails and says how to install it.

// Tests fail loudly on anything unexpected.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use bytes::Bytes;
use common::{
    metrics,
    store::{EventLog, GLOBAL, KvStore, REGIONAL, RedisStore, StoreError},
};

/// A `redis-server` on loopback, killed on drop.
struct Server(Child);

impl Server {
    fn start(port: u16) -> Self {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start redis-server ({e}): apt-get install -y redis-server")
            });
        Self(child)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn duration_count(operation: &str) -> u64 {
    metrics::get()
        .store
        .duration
        .with_label_values(&[REGIONAL, operation])
        .get_sample_count()
}

fn errors(operation: &str, kind: &str) -> u64 {
    errors_of(REGIONAL, operation, kind)
}

fn errors_of(store: &str, operation: &str, kind: &str) -> u64 {
    metrics::get()
        .store
        .errors
        .with_label_values(&[store, operation, kind])
        .get()
}

fn up_of(store: &str) -> i64 {
    metrics::get().store.up.with_label_values(&[store]).get()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn redis_operations_are_timed_and_failures_counted_by_kind() {
    let port = free_port();
    let url = format!("redis://127.0.0.1:{port}");
    let store = RedisStore::open_with_timeout(&url, Duration::from_millis(500)).unwrap();
    let up = || up_of(REGIONAL);

    // Nobody listens yet: unavailable, timed all the same.
    let (timed, failed) = (duration_count("GET"), errors("GET", "unavailable"));
    let err = store.get("metrics:k").await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert_eq!(duration_count("GET") - timed, 1);
    assert_eq!(errors("GET", "unavailable") - failed, 1);
    assert_eq!(up(), 0);

    // Redis comes up on that port; the store reconnects by itself.
    let _server = Server::start(port);
    let started = Instant::now();
    while store
        .set("metrics:k", Bytes::from_static(b"1"), None)
        .await
        .is_err()
    {
        assert!(started.elapsed() < Duration::from_secs(10), "no Redis");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(up(), 1);
    let timed = duration_count("GET");
    let value = store.get("metrics:k").await.unwrap();
    assert_eq!(value.as_deref(), Some(&b"1"[..]));
    assert_eq!(duration_count("GET") - timed, 1);

    // A reply the store cannot use (GET on a stream) is a protocol error:
    // Redis answered, so it stays up.
    store
        .append(
            "metrics:stream",
            Bytes::from_static(b"e"),
            10,
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    let failed = errors("GET", "protocol");
    let err = store.get("metrics:stream").await.unwrap_err();
    assert!(matches!(err, StoreError::Protocol(_)), "{err:?}");
    assert_eq!(errors("GET", "protocol") - failed, 1);
    assert_eq!(up(), 1);

    // A global store that cannot be reached is down under its own label,
    // while the regional one stays up.
    let global = format!("redis://127.0.0.1:{}", free_port());
    let global = RedisStore::open_with_timeout(&global, Duration::from_millis(300))
        .unwrap()
        .global();
    let failed = (
        errors("GET", "unavailable"),
        errors_of(GLOBAL, "GET", "unavailable"),
    );
    assert!(global.get("metrics:k").await.is_err());
    assert_eq!(errors_of(GLOBAL, "GET", "unavailable") - failed.1, 1);
    assert_eq!(errors("GET", "unavailable"), failed.0);
    assert_eq!(up_of(GLOBAL), 0);
    assert_eq!(up(), 1);
}
