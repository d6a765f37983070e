//! `--spawn`: a local cluster for one load-test run.
//!
//! [`Spawned::start`] starts, as child processes of a `d365mcp` binary and all
//! on 127.0.0.1 with ports the kernel picks: `redis-server` when asked (no
//! persistence), the simulator, the workers and the edges; it waits until
//! every edge's `/ready` answers 200. [`Spawned::stop`] (or dropping it)
//! kills them all, edges first, and reaps them. Run from `d365mcp loadtest
//! --spawn`, the binary is the running one (`std::env::current_exe()`).
//!
//! Edges get a rate-limits file of their own: without one an edge applies
//! the production defaults (100 requests/s per API key), which a benchmark
//! would measure instead of the cluster. The spawned limit is still a real
//! per-key limit, so every request pays the check a deployment pays. Their
//! session and stream caps are lifted for the same reason.
//!
//! Children log at `warn` (override with `log_level`) into files under a
//! directory of their own in the system's temporary directory, removed on
//! stop; a child that fails to start is reported with the end of its log.

mod child;
mod redis;
mod spec;

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Command,
    sync::atomic::{AtomicUsize, Ordering},
    time::{Duration, Instant},
};

use child::Child;

/// Most edges or workers one spec may ask for.
pub const MAX_NODES: usize = 32;

/// What to start.
#[derive(Debug, Clone, PartialEq)]
pub struct Spawn {
    /// Start a `redis-server` and give it to every worker and edge.
    pub redis: bool,
    /// Start a Redis Cluster of three masters instead (implies `redis`).
    pub redis_cluster: bool,
    /// Edges (at least 1).
    pub edges: usize,
    /// Workers (at least 1).
    pub workers: usize,
    /// Latency the simulator adds to every D365FO request (`--latency-ms`).
    pub sim_latency_ms: u64,
    /// More simulator flags, e.g. `--throttle-rate 6000/300`.
    pub sim_args: Vec<String>,
    /// More flags for every worker.
    pub worker_args: Vec<String>,
    /// More flags for every edge.
    pub edge_args: Vec<String>,
    /// The spawned edges' per-API-key limit (every caller is `anonymous`).
    pub rate_limit: RateLimit,
    /// The children's log filter (`RUST_LOG`).
    pub log_level: String,
    /// Longest wait for each child to bind, and for the edges to be ready.
    pub startup_timeout: Duration,
}

/// A rate limit as the edge's rate-limits file writes it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Requests per second in the long run.
    pub rate: f64,
    /// Requests admitted at once after a quiet spell.
    pub burst: u32,
}

impl Default for Spawn {
    fn default() -> Self {
        Self {
            redis: false,
            redis_cluster: false,
            edges: 1,
            workers: 1,
            sim_latency_ms: 0,
            sim_args: Vec::new(),
            worker_args: Vec::new(),
            edge_args: Vec::new(),
            // Far above what one machine can send, so it never refuses.
            rate_limit: RateLimit {
                rate: 1_000_000.0,
                burst: 1_000_000,
            },
            log_level: "warn".into(),
            startup_timeout: Duration::from_secs(30),
        }
    }
}

/// Why a cluster could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// The spec asks for something that cannot run.
    #[error("spawn: {0}")]
    Spec(String),
    /// A program could not be started at all.
    #[error("spawn: cannot start {name} (`{program}`): {source}")]
    Start {
        name: String,
        program: String,
        source: std::io::Error,
    },
    /// A child stopped or never said where it listens.
    #[error("spawn: {name} {status}; the end of its log:\n{log}")]
    Exited {
        name: String,
        status: String,
        log: String,
    },
    /// An edge never answered `/ready` with 200.
    #[error("spawn: {url} did not answer 200 within {secs} s (last answer: {last})")]
    NotReady {
        url: String,
        secs: u64,
        last: String,
    },
    /// A file or directory of the run could not be written.
    #[error("spawn: {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// One process of a spawned cluster, for [`Spawned::signal`] and
/// [`Spawned::restart`] (a chaos run's faults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Node {
    /// The edge at this index.
    Edge(usize),
    /// The worker at this index.
    Worker(usize),
    /// The simulator.
    Sim,
    /// The Redis server (0), or this node of the Redis Cluster.
    Redis(usize),
}

impl std::fmt::Display for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Node::Edge(i) => write!(f, "edge {i}"),
            Node::Worker(i) => write!(f, "worker {i}"),
            Node::Sim => f.write_str("simulator"),
            Node::Redis(i) => write!(f, "redis node {i}"),
        }
    }
}

/// A running local cluster; stopped by [`Spawned::stop`] or on drop.
pub struct Spawned {
    edges: Vec<Child>,
    workers: Vec<Child>,
    sim: Option<Child>,
    redis: Vec<Child>,
    redis_cluster: bool,
    dir: PathBuf,
}

impl Spawned {
    /// Starts `spec` from the `d365mcp` binary at `binary`; any child that
    /// was started is stopped again when a later one fails.
    pub async fn start(binary: &Path, spec: Spawn) -> Result<Spawned, SpawnError> {
        validate(&spec)?;
        let dir = run_dir()?;
        let mut cluster = Spawned {
            edges: Vec::new(),
            workers: Vec::new(),
            sim: None,
            redis: Vec::new(),
            redis_cluster: spec.redis_cluster,
            dir,
        };
        // On an error `cluster` is dropped, which stops what already runs.
        if spec.redis_cluster {
            cluster.redis = redis::start_cluster(&cluster.dir, spec.startup_timeout).await?;
        } else if spec.redis {
            cluster.redis = vec![redis::start(&cluster.dir, spec.startup_timeout).await?];
        }
        let redis_url = cluster.redis_url();
        let redis_args = |command: &mut Command| {
            if let Some(url) = &redis_url {
                command.args(["--redis-url", url]);
                if spec.redis_cluster {
                    command.arg("--redis-cluster");
                }
            }
        };
        let d365 = |role: &str| d365mcp(binary, role, &spec.log_level);

        let mut sim = d365("sim");
        sim.args(["--latency-ms", &spec.sim_latency_ms.to_string()])
            .args(&spec.sim_args);
        let sim = cluster.start_child("sim".into(), sim, &spec).await?;
        let sim_url = format!("http://{}", sim.addr);
        cluster.sim = Some(sim);

        for i in 0..spec.workers {
            let mut worker = d365("worker");
            worker.args(["--d365fo-base-url", &sim_url]);
            // A restart reuses the gRPC port; the metrics port must not be
            // the fixed default, which every worker on this host would want.
            worker.args(["--metrics-listen", "127.0.0.1:0"]);
            redis_args(&mut worker);
            worker.args(&spec.worker_args);
            let worker = cluster
                .start_child(format!("worker {i}"), worker, &spec)
                .await?;
            cluster.workers.push(worker);
        }
        let workers = cluster
            .workers
            .iter()
            .map(|w| format!("http://{}", w.addr))
            .collect::<Vec<_>>()
            .join(",");
        let limits = cluster.dir.join("rate-limits.toml");
        write(&limits, &rate_limits_toml(spec.rate_limit))?;

        for i in 0..spec.edges {
            let mut edge = d365("edge");
            edge.args(["--workers", &workers, "--health-interval", "250ms"])
                .arg("--rate-limits-file")
                .arg(&limits)
                // Every simulated client is the one `anonymous` key: the
                // caps of one key (256 sessions) would be measured instead.
                .args(["--max-sessions-per-key", "1000000"])
                .args(["--max-sessions-per-tenant", "1000000"])
                .args(["--max-streams-per-key", "1000000"])
                .args(["--max-streams-per-tenant", "1000000"]);
            redis_args(&mut edge);
            edge.args(&spec.edge_args);
            let edge = cluster
                .start_child(format!("edge {i}"), edge, &spec)
                .await?;
            cluster.edges.push(edge);
        }
        cluster.wait_ready(spec.startup_timeout).await?;
        Ok(cluster)
    }

    /// Each edge's MCP endpoint, `http://127.0.0.1:<port>/mcp`.
    pub fn mcp_urls(&self) -> Vec<String> {
        self.edges
            .iter()
            .map(|e| format!("http://{}/mcp", e.addr))
            .collect()
    }

    /// The simulator's base URL (what the workers call D365FO).
    pub fn sim_url(&self) -> Option<String> {
        self.sim.as_ref().map(|s| format!("http://{}", s.addr))
    }

    /// The Redis URL, when one was started; a Redis Cluster's node URLs,
    /// comma-separated (as `--redis-url` with `--redis-cluster` takes them).
    pub fn redis_url(&self) -> Option<String> {
        let urls: Vec<String> = self
            .redis
            .iter()
            .map(|r| format!("redis://{}", r.addr))
            .collect();
        (!urls.is_empty()).then(|| urls.join(","))
    }

    /// The process id of every child, Redis included.
    pub fn pids(&self) -> Vec<u32> {
        self.children().map(Child::pid).collect()
    }

    /// Sends `signal` (`KILL`, `TERM`, … as `kill -s` names them) to `node`.
    pub fn signal(&mut self, node: Node, signal: &str) -> Result<(), SpawnError> {
        let child = self.node(node)?;
        child.signal(signal).map_err(|source| SpawnError::Io {
            path: PathBuf::from(format!("{node} (pid {})", child.pid())),
            source,
        })
    }

    /// Waits, at most `timeout`, for `node` to exit; `true` when it did.
    pub async fn wait_exit(&mut self, node: Node, timeout: Duration) -> bool {
        match self.node(node) {
            Ok(child) => child.wait_exit(timeout).await,
            Err(_) => true,
        }
    }

    /// Starts `node` again on its address (killing it first if it still
    /// runs) and waits, at most `timeout`, until it serves: an edge answers
    /// `/ready` with 200, a worker or the simulator listens, Redis answers
    /// PING.
    pub async fn restart(&mut self, node: Node, timeout: Duration) -> Result<(), SpawnError> {
        let redis_cluster = self.redis_cluster;
        let child = self.node(node)?;
        child.restart(timeout).await?;
        match node {
            Node::Redis(_) => {
                redis::wait_ready(child, timeout).await?;
                if redis_cluster {
                    redis::wait_cluster_ok(child, timeout).await?;
                }
                Ok(())
            }
            Node::Edge(_) => {
                let addr = child.addr;
                wait_ready(child, addr, timeout).await
            }
            Node::Worker(_) | Node::Sim => Ok(()),
        }
    }

    /// Where the children's logs are (removed on stop).
    pub fn log_dir(&self) -> &Path {
        &self.dir
    }

    fn node(&mut self, node: Node) -> Result<&mut Child, SpawnError> {
        let child = match node {
            Node::Edge(i) => self.edges.get_mut(i),
            Node::Worker(i) => self.workers.get_mut(i),
            Node::Sim => self.sim.as_mut(),
            Node::Redis(i) => self.redis.get_mut(i),
        };
        child.ok_or_else(|| SpawnError::Spec(format!("this cluster has no {node}")))
    }

    /// Kills every child, edges first, and waits for each to exit.
    pub fn stop(mut self) {
        self.stop_all();
    }

    fn children(&self) -> impl Iterator<Item = &Child> {
        self.edges
            .iter()
            .chain(&self.workers)
            .chain(&self.sim)
            .chain(&self.redis)
    }

    fn stop_all(&mut self) {
        // Front to back, so no edge sees its workers vanish while serving.
        self.edges.iter_mut().for_each(Child::stop);
        self.workers.iter_mut().for_each(Child::stop);
        self.sim.iter_mut().for_each(Child::stop);
        self.redis.iter_mut().for_each(Child::stop);
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    async fn start_child(
        &self,
        name: String,
        command: Command,
        spec: &Spawn,
    ) -> Result<Child, SpawnError> {
        let log = self.dir.join(format!("{}.log", name.replace(' ', "-")));
        Child::start(name, command, log, spec.startup_timeout).await
    }

    /// Polls every edge's `/ready` until it answers 200.
    async fn wait_ready(&mut self, timeout: Duration) -> Result<(), SpawnError> {
        for edge in &mut self.edges {
            let addr = edge.addr;
            wait_ready(edge, addr, timeout).await?;
        }
        Ok(())
    }
}

/// Polls `edge`'s `/ready` at `addr` until it answers 200.
async fn wait_ready(
    edge: &mut Child,
    addr: SocketAddr,
    timeout: Duration,
) -> Result<(), SpawnError> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap_or_default();
    let deadline = Instant::now() + timeout;
    let url = format!("http://{addr}/ready");
    loop {
        let last = match client.get(&url).send().await {
            Ok(r) if r.status() == reqwest::StatusCode::OK => return Ok(()),
            Ok(r) => {
                let status = r.status();
                format!("{status} {}", r.text().await.unwrap_or_default())
            }
            Err(e) => e.to_string(),
        };
        if edge.exit_status().is_some() {
            return Err(edge.failed("exited while starting"));
        }
        if Instant::now() >= deadline {
            return Err(SpawnError::NotReady {
                url,
                secs: timeout.as_secs(),
                last,
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        self.stop_all();
    }
}

fn validate(spec: &Spawn) -> Result<(), SpawnError> {
    for (what, n) in [("edges", spec.edges), ("workers", spec.workers)] {
        if n == 0 || n > MAX_NODES {
            return Err(SpawnError::Spec(format!(
                "{what} must be between 1 and {MAX_NODES}, not {n}"
            )));
        }
    }
    let RateLimit { rate, burst } = spec.rate_limit;
    if !(rate.is_finite() && rate > 0.0) || burst == 0 {
        return Err(SpawnError::Spec(format!(
            "the rate limit needs a rate above 0 and a burst of at least 1 (got {rate}/s, burst {burst})"
        )));
    }
    Ok(())
}

/// The edges' rate-limits file (README, *Rate limits*).
fn rate_limits_toml(limit: RateLimit) -> String {
    format!(
        "# Written by the load tester's --spawn: lifted far above the production\n\
         # default so that the benchmark measures the cluster, not the limit.\n\
         [principal]\nrate = {:?}\nburst = {}\n",
        limit.rate, limit.burst
    )
}

/// `binary <role> --listen 127.0.0.1:0` with a clean environment: settings
/// of the caller's own deployment (`D365*`, `SIM_*`) must not leak in.
fn d365mcp(binary: &Path, role: &str, log_level: &str) -> Command {
    let mut command = Command::new(binary);
    command
        .args([role, "--listen", "127.0.0.1:0"])
        .env("RUST_LOG", log_level);
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("D365") || key.starts_with("SIM_") {
            command.env_remove(key.as_ref());
        }
    }
    command
}

/// A directory for this run's logs and files.
fn run_dir() -> Result<PathBuf, SpawnError> {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "d365mcp-spawn-{}-{}",
        std::process::id(),
        RUNS.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).map_err(|source| SpawnError::Io {
        path: dir.clone(),
        source,
    })?;
    Ok(dir)
}

fn write(path: &Path, text: &str) -> Result<(), SpawnError> {
    std::fs::write(path, text).map_err(|source| SpawnError::Io {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limits_file_names_one_principal_limit() {
        let text = rate_limits_toml(Spawn::default().rate_limit);
        assert!(text.contains("[principal]\nrate = 1000000.0\nburst = 1000000\n"));
    }

    #[test]
    fn refuses_an_empty_or_oversized_cluster() {
        for (edges, workers) in [(0, 1), (1, 0), (MAX_NODES + 1, 1)] {
            let spec = Spawn {
                edges,
                workers,
                ..Spawn::default()
            };
            assert!(matches!(validate(&spec), Err(SpawnError::Spec(_))));
        }
        assert!(validate(&Spawn::default()).is_ok());
        let no_rate = Spawn {
            rate_limit: RateLimit {
                rate: 0.0,
                burst: 1,
            },
            ..Spawn::default()
        };
        assert!(validate(&no_rate).is_err());
    }
}
