//! An `haproxy` child process balancing HTTP round robin over backends on
//! loopback, with no stickiness: consecutive requests of one client (one
//! MCP session) land on different backends. Killed on drop; never skipped.

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use super::redis::free_port;

pub struct Haproxy {
    port: u16,
    child: Child,
    config: std::path::PathBuf,
}

impl Haproxy {
    /// Starts one in front of `backends` (`host:port` each).
    pub fn start(backends: &[std::net::SocketAddr]) -> Self {
        let port = free_port();
        let servers: String = backends
            .iter()
            .enumerate()
            .map(|(i, addr)| format!("    server edge{i} {addr}\n"))
            .collect();
        // `http-server-close`: a new backend connection, and so a new
        // round-robin choice, for every request; long `server` and `tunnel`
        // timeouts for SSE streams.
        let config = format!(
            "global\n    maxconn 1024\n\
             defaults\n    mode http\n    option http-server-close\n    timeout connect 2s\n    \
             timeout client 120s\n    timeout server 120s\n    timeout tunnel 120s\n\
             frontend mcp\n    bind 127.0.0.1:{port}\n    default_backend edges\n\
             backend edges\n    balance roundrobin\n{servers}"
        );
        let path =
            std::env::temp_dir().join(format!("d365mcp-haproxy-{}-{port}.cfg", std::process::id()));
        std::fs::write(&path, config).expect("write haproxy config");
        let mut child = Command::new("haproxy")
            .args(["-db", "-f"])
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start haproxy ({e}): install it (apt-get install -y haproxy; \
                     ./scripts/test.sh does this when it is missing)"
                )
            });
        let started = Instant::now();
        // Listening, and ours: a haproxy that exited (its port taken since
        // free_port chose it) must not pass for another listener.
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("haproxy exited ({status}) instead of listening on {port}");
            }
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "haproxy did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Self {
            port,
            child,
            config: path,
        }
    }

    /// The balanced MCP endpoint.
    pub fn mcp_url(&self) -> String {
        format!("http://127.0.0.1:{}/mcp", self.port)
    }

    /// The balanced base URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.config);
    }
}

/// Two edges (and a worker) of the D365FO server on one Redis, behind
/// haproxy: the topology the client and conformance tests drive.
pub struct Balanced {
    pub lb: Haproxy,
    pub cluster: super::Cluster,
    _redis: super::redis::RedisServer,
}

/// Two edges and a worker on a Redis of their own, the edges started with
/// `edge_args` too.
pub async fn two_edges(edge_args: &[&str]) -> (super::Cluster, super::redis::RedisServer) {
    let redis = super::redis::RedisServer::start();
    let redis_arg = format!("--redis-url={}", redis.url());
    let mut builder = super::Cluster::builder()
        .edges(2)
        .workers(1)
        .edge_arg(&redis_arg)
        .worker_arg(&redis_arg);
    for arg in edge_args {
        builder = builder.edge_arg(arg);
    }
    (builder.start().await, redis)
}

impl Balanced {
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// [`Balanced::start`] with more arguments for both edges.
    pub async fn start_with(edge_args: &[&str]) -> Self {
        let (cluster, redis) = two_edges(edge_args).await;
        let edges: Vec<std::net::SocketAddr> = cluster.edges.iter().map(|e| e.addr).collect();
        let lb = Haproxy::start(&edges);
        Self {
            lb,
            cluster,
            _redis: redis,
        }
    }
}
