//! Start roles as child processes of the built binary; each prints
//! `d365mcp <role> listening on <addr>` once bound, which is how the test
//! learns its port. Children are killed when dropped.

use std::{net::SocketAddr, process::Stdio, time::Duration};

use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

/// A running `d365mcp` process.
pub struct Process {
    pub role: String,
    pub addr: SocketAddr,
    child: Child,
    /// The metrics listener's address, once the process announced one
    /// (`d365mcp metrics listening on <addr>`, after its own line).
    metrics: tokio::sync::watch::Receiver<Option<SocketAddr>>,
}

impl Process {
    /// Starts `d365mcp <args>` and waits until it reports its address.
    pub async fn start(role: &str, args: &[&str], envs: &[(&str, &str)]) -> Process {
        let mut command = Command::new(env!("CARGO_BIN_EXE_d365mcp"));
        command
            .args(args)
            .env(
                "RUST_LOG",
                std::env::var("TEST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .env_remove("D365FO_BASE_URL")
            .env_remove("D365FO_CLIENT_ID")
            .env_remove("D365FO_CLIENT_SECRET")
            .env_remove("D365FO_TENANT_ID")
            .env_remove("D365MCP_LISTEN")
            .env_remove("D365MCP_WORKERS");
        for (k, v) in envs {
            command.env(k, v);
        }
        Self::spawn(role, command).await
    }

    /// Starts `command`, a d365mcp role however it is reached (the image's
    /// filesystem, in tests/container_image.rs), and waits until it
    /// reports its address.
    pub async fn spawn(role: &str, mut command: Command) -> Process {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let mut child = command.spawn().expect("spawn d365mcp");
        let stdout = child.stdout.take().expect("stdout piped");
        let mut lines = BufReader::new(stdout).lines();
        let addr = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.expect("read stdout") {
                if let Some((_, addr)) = line.split_once(" listening on ") {
                    return addr.trim().parse::<SocketAddr>().expect("address");
                }
            }
            panic!("d365mcp {role} exited before listening");
        })
        .await
        .unwrap_or_else(|_| panic!("d365mcp {role} did not start within 30 s"));
        // Keep draining stdout so the child never blocks on a full pipe,
        // noting the metrics listener when it is announced.
        let (metrics_tx, metrics) = tokio::sync::watch::channel(None);
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some((_, addr)) = line.split_once("d365mcp metrics listening on ") {
                    let _ = metrics_tx.send(addr.trim().parse().ok());
                }
            }
        });
        Process {
            role: role.into(),
            addr,
            child,
            metrics,
        }
    }

    /// `http://addr/metrics` of the process's own metrics listener, waiting
    /// up to 10 s for it to be announced.
    #[allow(dead_code)] // not every test binary scrapes a listener
    pub async fn metrics_url(&self) -> String {
        let mut metrics = self.metrics.clone();
        let addr = tokio::time::timeout(Duration::from_secs(10), metrics.wait_for(Option::is_some))
            .await
            .unwrap_or_else(|_| panic!("d365mcp {} announced no metrics listener", self.role))
            .expect("the stdout reader")
            .expect("an address");
        format!("http://{addr}/metrics")
    }

    /// `http://addr`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// An edge's `/ready` body, whatever its status: all of it on an edge
    /// without API keys, its status word alone on one with keys.
    pub async fn ready(&self) -> serde_json::Value {
        self.ready_with(None).await
    }

    /// An edge's `/ready` body as a caller presenting `key` sees it (the
    /// details need a valid key on an edge with keys).
    pub async fn ready_with(&self, key: Option<&str>) -> serde_json::Value {
        let mut request = reqwest::Client::new().get(format!("{}/ready", self.url()));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        request
            .send()
            .await
            .expect("GET /ready")
            .json()
            .await
            .expect("/ready's JSON")
    }

    /// Kills the process (SIGKILL) and waits for it to exit.
    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }

    /// Asks the process to stop (SIGTERM, a graceful shutdown) and waits
    /// up to 10 s for it to exit.
    pub async fn terminate(&mut self) {
        if let Some(pid) = self.child.id() {
            let sent = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .expect("run kill -TERM");
            assert!(sent.success(), "kill -TERM {pid}");
        }
        let exited = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
        assert!(
            exited.is_ok(),
            "d365mcp {} did not stop within 10 s",
            self.role
        );
    }
}

/// A simulator, workers and edges.
pub struct Cluster {
    pub sim: Process,
    pub workers: Vec<Process>,
    pub edges: Vec<Process>,
}

/// Chooses the cluster's shape.
pub struct ClusterBuilder {
    workers: usize,
    edges: usize,
    sim_args: Vec<String>,
    edge_args: Vec<String>,
    worker_args: Vec<String>,
    environments: Option<String>,
}

impl Cluster {
    pub fn builder() -> ClusterBuilder {
        ClusterBuilder {
            workers: 1,
            edges: 1,
            sim_args: Vec::new(),
            edge_args: Vec::new(),
            worker_args: Vec::new(),
            environments: None,
        }
    }

    /// The MCP URL of edge `i`.
    pub fn mcp_url(&self, i: usize) -> String {
        format!("{}/mcp", self.edges[i].url())
    }
}

impl ClusterBuilder {
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = n;
        self
    }

    pub fn edges(mut self, n: usize) -> Self {
        self.edges = n;
        self
    }

    pub fn sim_arg(mut self, arg: &str) -> Self {
        self.sim_args.push(arg.into());
        self
    }

    /// An argument for every worker; `{sim}` is replaced by the simulator's URL.
    pub fn worker_arg(mut self, arg: &str) -> Self {
        self.worker_args.push(arg.into());
        self
    }

    /// Workers read this environments file (TOML; `{sim}` is replaced by
    /// the simulator's URL) instead of `--d365fo-base-url`.
    pub fn environments_file(mut self, toml: &str) -> Self {
        self.environments = Some(toml.into());
        self
    }

    pub fn edge_arg(mut self, arg: &str) -> Self {
        self.edge_args.push(arg.into());
        self
    }

    pub async fn start(self) -> Cluster {
        let mut sim_args = vec!["sim", "--listen", "127.0.0.1:0"];
        sim_args.extend(self.sim_args.iter().map(String::as_str));
        let sim = Process::start("sim", &sim_args, &[]).await;
        let sim_url = sim.url();
        let mut workers = Vec::new();
        let mut extra: Vec<String> = self
            .worker_args
            .iter()
            .map(|a| a.replace("{sim}", &sim_url))
            .collect();
        let environments = self.environments.as_ref().map(|toml| {
            let path = std::env::temp_dir().join(format!(
                "d365mcp-envs-{}-{}.toml",
                std::process::id(),
                sim_url.rsplit(':').next().unwrap_or("0")
            ));
            std::fs::write(&path, toml.replace("{sim}", &sim_url)).expect("write environments");
            path.to_string_lossy().into_owned()
        });
        match &environments {
            Some(path) => extra.extend(["--environments-file".to_owned(), path.clone()]),
            None => extra.extend(["--d365fo-base-url".to_owned(), sim_url.clone()]),
        }
        for _ in 0..self.workers {
            let mut args = vec!["worker", "--listen", "127.0.0.1:0"];
            args.extend(extra.iter().map(String::as_str));
            workers.push(Process::start("worker", &args, &[]).await);
        }
        let worker_urls = workers
            .iter()
            .map(Process::url)
            .collect::<Vec<_>>()
            .join(",");
        let mut edges = Vec::new();
        for _ in 0..self.edges {
            let mut args = vec![
                "edge",
                "--listen",
                "127.0.0.1:0",
                "--workers",
                &worker_urls,
                "--health-interval",
                "250ms",
            ];
            args.extend(self.edge_args.iter().map(String::as_str));
            edges.push(Process::start("edge", &args, &[]).await);
        }
        let cluster = Cluster {
            sim,
            workers,
            edges,
        };
        for i in 0..cluster.edges.len() {
            wait_for(&format!("{}/ready", cluster.edges[i].url()), 200).await;
        }
        cluster
    }
}

/// An edge in front of the one worker at `worker_url`, with `extra`
/// arguments, once it is ready.
#[allow(dead_code)] // not every test binary starts edges one by one
pub async fn edge_for(worker_url: &str, extra: &[&str]) -> Process {
    let mut args = vec![
        "edge",
        "--listen",
        "127.0.0.1:0",
        "--workers",
        worker_url,
        "--health-interval",
        "250ms",
    ];
    args.extend(extra);
    let edge = Process::start("edge", &args, &[]).await;
    wait_for(&format!("{}/ready", edge.url()), 200).await;
    edge
}

/// Polls `url` until it answers `status`, for at most 10 s.
pub async fn wait_for(url: &str, status: u16) {
    let client = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(response) = client.get(url).send().await
            && response.status().as_u16() == status
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{url} did not answer {status} within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The simulator's request counter (`GET /_sim/requests`): `total` and
/// `by_path`.
pub async fn sim_requests(sim_url: &str) -> serde_json::Value {
    reqwest::get(format!("{sim_url}/_sim/requests"))
        .await
        .expect("GET /_sim/requests")
        .json()
        .await
        .expect("the request counter's JSON")
}

/// Waits (at most 10 s) until the simulator has received a request: a
/// call started before is then in flight at D365FO.
#[allow(dead_code)] // not every test binary starts a call in flight
pub async fn wait_for_sim_request(sim_url: &str) {
    super::wait_until(
        "a D365FO request reaches the simulator",
        Duration::from_secs(10),
        || async move {
            let requests = sim_requests(sim_url).await;
            match requests["total"].as_u64() {
                Some(n) if n > 0 => Ok(()),
                _ => Err(requests.to_string()),
            }
        },
    )
    .await;
}

/// Zeroes the simulator's request counter (and its faults).
pub async fn reset_sim(sim_url: &str) {
    let reset = reqwest::Client::new()
        .post(format!("{sim_url}/_sim/reset"))
        .send()
        .await
        .expect("POST /_sim/reset");
    assert_eq!(reset.status(), 204, "POST /_sim/reset");
}
