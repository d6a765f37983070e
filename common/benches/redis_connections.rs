//! One multiplexed connection or a pool of connections for the Redis store?
//!
//! Starts its own `redis-server` on a free loopback port and drives the
//! store's hot operations (`get`, `set`, `incr`, `append`, in turn) from 1,
//! 16 and 128 concurrent callers through:
//!
//! - `store`: `RedisStore` itself (one multiplexed `ConnectionManager`,
//!   every operation under the store's timeout), the production path;
//! - `multiplexed`: the same commands on a bare `ConnectionManager`;
//! - `pool N`: the same commands on a `deadpool-redis` pool of N
//!   connections, one checked out per operation.
//!
//! Prints ops/s and the 99th-percentile latency of each. About a minute:
//! `cargo bench -p common --bench redis_connections` (`BENCH_SECS` sets the
//! seconds per case, 3 by default). The result is recorded in
//! `common/src/store/redis/README.md`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    process::{Child, Command, Stdio},
    sync::{Arc, LazyLock},
    time::{Duration, Instant},
};

use bytes::Bytes;
use common::store::{CounterStore, EventLog, KvStore, RedisStore};
use deadpool_redis::{Config, PoolConfig, Runtime};
use redis::{Script, aio::ConnectionLike};

/// The store's scripts (`common/src/store/redis/scripts.rs`), so the bare
/// connections run the very commands the store runs.
const INCR: &str = "local value = redis.call('INCRBY', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) == -1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return value";
const APPEND: &str =
    "local id = redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[2], '0-*', 'd', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return id";

static INCR_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(INCR));
static APPEND_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(APPEND));

const CALLERS: [usize; 3] = [1, 16, 128];
const KEYS_PER_CALLER: usize = 64;

fn main() {
    let secs: u64 = std::env::var("BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let server = Server::start();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(&server.url(), Duration::from_secs(secs)));
}

async fn run(url: &str, per_case: Duration) {
    let store = RedisStore::open(url).unwrap();
    let manager = redis::aio::ConnectionManager::new(redis::Client::open(url).unwrap())
        .await
        .unwrap();
    let pools: Vec<(usize, deadpool_redis::Pool)> = [8, 16]
        .into_iter()
        .map(|size| {
            let mut config = Config::from_url(url);
            config.pool = Some(PoolConfig::new(size));
            (size, config.create_pool(Some(Runtime::Tokio1)).unwrap())
        })
        .collect();

    println!(
        "{:<14} {:>8} {:>12} {:>10}",
        "connection", "callers", "ops/s", "p99 µs"
    );
    for callers in CALLERS {
        let store = Arc::new(store.clone());
        report(
            "store",
            callers,
            drive(callers, per_case, move |caller, i| {
                let store = store.clone();
                async move { store_op(&store, caller, i).await }
            })
            .await,
        );
        let conn = manager.clone();
        report(
            "multiplexed",
            callers,
            drive(callers, per_case, move |caller, i| {
                let mut conn = conn.clone();
                async move { raw_op(&mut conn, caller, i).await }
            })
            .await,
        );
        for (size, pool) in &pools {
            let pool = pool.clone();
            report(
                &format!("pool {size}"),
                callers,
                drive(callers, per_case, move |caller, i| {
                    let pool = pool.clone();
                    async move {
                        let mut conn = pool.get().await.map_err(|e| e.to_string())?;
                        raw_op(&mut conn, caller, i).await
                    }
                })
                .await,
            );
        }
    }
}

/// `callers` tasks each running `op` back to back for `length` (after a
/// short warm-up); every operation's latency in microseconds.
async fn drive<F, Fut>(callers: usize, length: Duration, op: F) -> (f64, Vec<u64>)
where
    F: Fn(usize, usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Result<(), String>> + Send,
{
    let warm_up = Duration::from_millis(300);
    let start = Instant::now() + warm_up;
    let end = start + length;
    let tasks: Vec<_> = (0..callers)
        .map(|caller| {
            let op = op.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut i = 0;
                loop {
                    let began = Instant::now();
                    if began >= end {
                        break;
                    }
                    op(caller, i).await.unwrap();
                    if began >= start {
                        latencies.push(u64::try_from(began.elapsed().as_micros()).unwrap());
                    }
                    i += 1;
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    (all.len() as f64 / length.as_secs_f64(), all)
}

fn report(name: &str, callers: usize, (ops_per_sec, mut latencies): (f64, Vec<u64>)) {
    latencies.sort_unstable();
    let p99 = latencies
        .get(latencies.len().saturating_sub(1) * 99 / 100)
        .copied()
        .unwrap_or(0);
    println!("{name:<14} {callers:>8} {ops_per_sec:>12.0} {p99:>10}");
}

/// Operation `i` of `caller` through the store: get, set, incr, append in turn.
async fn store_op(store: &RedisStore, caller: usize, i: usize) -> Result<(), String> {
    let key = format!("bench:{caller}:{}", i % KEYS_PER_CALLER);
    let ttl = Duration::from_secs(60);
    let result = match i % 4 {
        0 => store.get(&key).await.map(drop),
        1 => {
            store
                .set(&key, Bytes::from_static(b"value"), Some(ttl))
                .await
        }
        2 => store.incr(&format!("{key}:n"), 1, ttl).await.map(drop),
        _ => store
            .append(
                &format!("{key}:log"),
                Bytes::from_static(b"event"),
                100,
                ttl,
            )
            .await
            .map(drop),
    };
    result.map_err(|e| e.to_string())
}

/// The same operation as [`store_op`] as commands on any connection.
async fn raw_op<C: ConnectionLike + Send>(
    conn: &mut C,
    caller: usize,
    i: usize,
) -> Result<(), String> {
    let key = format!("bench:{caller}:{}", i % KEYS_PER_CALLER);
    let result = match i % 4 {
        0 => redis::cmd("GET")
            .arg(&key)
            .query_async::<Option<Vec<u8>>>(conn)
            .await
            .map(drop),
        1 => {
            redis::cmd("SET")
                .arg(&key)
                .arg("value")
                .arg("PX")
                .arg(60_000)
                .query_async::<()>(conn)
                .await
        }
        2 => INCR_SCRIPT
            .key(format!("{key}:n"))
            .arg(1)
            .arg(60_000)
            .invoke_async::<i64>(conn)
            .await
            .map(drop),
        _ => APPEND_SCRIPT
            .key(format!("{key}:log"))
            .arg("event")
            .arg(100)
            .arg(60_000)
            .invoke_async::<String>(conn)
            .await
            .map(drop),
    };
    result.map_err(|e| e.to_string())
}

/// A `redis-server` on a free loopback port, killed on drop.
struct Server {
    port: u16,
    child: Child,
}

impl Server {
    fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (apt-get install -y redis-server)");
        let server = Self { port, child };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) {
                let mut reply = [0u8; 7];
                if stream.write_all(b"PING\r\n").is_ok() && stream.read_exact(&mut reply).is_ok() {
                    break server;
                }
            }
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
