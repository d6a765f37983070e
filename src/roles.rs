//! Starting each role: bind, announce, run until a shutdown signal, drain.
//!
//! Every server prints one line `d365mcp <role> listening on <addr>` to
//! stdout once bound, so scripts and tests can start it on port 0 (not
//! `stdio`, whose stdout is the protocol: `crate::stdio`).

use std::{net::SocketAddr, sync::Arc};

use anyhow::Context;
use common::{
    config::{ConfigError, D365Config, Environments, HeartbeatConfig, WorkerConfig},
    membership::{Heartbeat, WORKERS, WorkerRecord},
    store::{MemberStore, MemoryStore, SharedStore},
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::cli::{
    AuthArgs, ChaosArgs, Command, DevArgs, EdgeArgs, LoadtestArgs, MetricsArgs, MetricsListen,
    SimArgs, WORKER_METRICS_PORT, WorkerArgs,
};

/// Why a role stopped with an error.
pub enum RunError {
    /// The configuration is invalid (exit code 2).
    Config(ConfigError),
    /// Something failed at run time (exit code 1).
    Failed(anyhow::Error),
}

impl From<ConfigError> for RunError {
    fn from(e: ConfigError) -> Self {
        Self::Config(e)
    }
}

impl From<anyhow::Error> for RunError {
    fn from(e: anyhow::Error) -> Self {
        Self::Failed(e)
    }
}

/// Runs `command` until Ctrl-C or SIGTERM.
pub async fn run(command: Command) -> Result<(), RunError> {
    match command {
        Command::Dev(args) => dev(args).await,
        Command::Edge(args) => edge(args).await,
        Command::Worker(args) => worker(args).await,
        Command::Sim(args) => sim(args).await,
        Command::Stdio(args) => crate::stdio::run(args).await,
        Command::Loadtest(args) => load_test(args).await,
        Command::Chaos(args) => chaos(args).await,
        Command::Healthcheck(args) => crate::healthcheck::run(args).await,
    }
}

/// Runs the chaos schedule, writes its reports, and fails (exit code 1)
/// when a target was missed.
async fn chaos(args: ChaosArgs) -> Result<(), RunError> {
    let binary = std::env::current_exe().context("finding this binary to spawn")?;
    let settings = args.settings(binary)?;
    let report = loadtest::chaos::run(&settings).await.context("chaos")?;
    let markdown = report.markdown();
    if let Some(path) = &args.out {
        std::fs::write(path, report.to_json())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.markdown {
        std::fs::write(path, &markdown).with_context(|| format!("writing {}", path.display()))?;
    }
    println!("{markdown}");
    if report.passed() {
        Ok(())
    } else {
        Err(anyhow::anyhow!("chaos: {} target(s) missed", report.misses.len()).into())
    }
}

/// Validates the flags, runs the load and writes the reports.
async fn load_test(mut args: LoadtestArgs) -> Result<(), RunError> {
    const SPAWN: &str = "D365MCP_LOADTEST_SPAWN (--spawn)";
    let spawned = match args.spawn.take() {
        None => None,
        Some(_) if !args.targets.is_empty() => {
            return Err(
                ConfigError::new(SPAWN, "give either --target or --spawn, not both").into(),
            );
        }
        Some(spec) => {
            let spec = loadtest::spawn::Spawn::parse(&spec)
                .map_err(|reason| ConfigError::new(SPAWN, reason))?;
            let binary = std::env::current_exe().context("finding this binary to spawn")?;
            let cluster = loadtest::spawn::Spawned::start(&binary, spec)
                .await
                .context("starting the cluster to load")?;
            args.targets = cluster.mcp_urls();
            Some(cluster)
        }
    };
    let result = run_load(args).await;
    if let Some(cluster) = spawned {
        cluster.stop();
    }
    result
}

async fn run_load(args: LoadtestArgs) -> Result<(), RunError> {
    let config = loadtest::Config::from_settings(args.settings()).map_err(|e| match e {
        loadtest::Error::Config { key, message } => {
            RunError::Config(ConfigError::new(key, message))
        }
        other => RunError::Failed(other.into()),
    })?;
    loadtest::run(config).await.context("loadtest")?;
    Ok(())
}

/// Connections the kernel queues before they are accepted: the standard
/// library's 128 overflows under a burst of connects (a flood, or many
/// clients at once), and each dropped SYN costs its client a 1 s retry.
const BACKLOG: u32 = 1024;

async fn bind(addr: SocketAddr, role: &str) -> Result<(TcpListener, SocketAddr), RunError> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()
    } else {
        tokio::net::TcpSocket::new_v6()
    };
    let listener = socket
        .and_then(|socket| {
            socket.set_reuseaddr(true)?;
            socket.bind(addr)?;
            socket.listen(BACKLOG)
        })
        .with_context(|| format!("{role}: cannot listen on {addr}"))?;
    let local = listener.local_addr().context("reading the bound address")?;
    Ok((listener, local))
}

fn announce(role: &str, addr: SocketAddr) {
    println!("d365mcp {role} listening on {addr}");
}

/// Resolves on Ctrl-C or SIGTERM.
pub(crate) fn shutdown_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let fired = token.clone();
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let term = std::future::pending::<()>();
        tokio::select! {
            _ = ctrl_c => {},
            _ = term => {},
        }
        tracing::info!("shutdown requested; draining");
        fired.cancel();
    });
    token
}

async fn sim(args: SimArgs) -> Result<(), RunError> {
    let (addr, config) = args.config()?;
    let (listener, local) = bind(addr, "sim").await?;
    // Seed before announcing: "listening" means the data is there.
    let app = tokio::task::spawn_blocking(move || sim::app(config))
        .await
        .context("seeding the simulator's data")?;
    announce("sim", local);
    let stop = shutdown_signal();
    sim::serve_app(listener, app, stop.cancelled_owned())
        .await
        .context("simulator failed")?;
    Ok(())
}

async fn worker(args: WorkerArgs) -> Result<(), RunError> {
    let config = args.config()?;
    let store: Option<SharedStore> = args.redis.store()?.map(|s| Arc::new(s) as SharedStore);
    let global = args.global.store()?;
    let heartbeat = match &store {
        Some(_) => Some(args.heartbeat.config(config.listen)?),
        None => {
            if args.heartbeat.advertise_url.is_some() {
                tracing::warn!("D365MCP_ADVERTISE_URL is ignored without D365MCP_REDIS_URL");
            }
            None
        }
    };
    let config_port = config.listen.port();
    let (listener, local) = bind(config.listen, "worker").await?;
    for env in &config.environments {
        tracing::info!(environment = %env.name, base_url = %env.base_url, "serving environment");
    }
    let regional: SharedStore = match &store {
        Some(store) => {
            tracing::info!("shared store: redis");
            Arc::clone(store)
        }
        None => {
            tracing::info!("shared store: in memory, this process only (no --redis-url)");
            Arc::new(MemoryStore::new())
        }
    };
    let global: SharedStore = match global {
        Some(global) => {
            tracing::info!(
                "global store: redis (write claims, keyed write records and throttle windows \
                 shared with every region)"
            );
            Arc::new(global)
        }
        None => Arc::clone(&regional),
    };
    let worker = worker::Worker::in_region(config, regional, global);
    let worker = Arc::new(worker.context("worker set-up failed")?);
    if worker.node().config.internal_secret.is_none() {
        tracing::warn!(
            listen = %local,
            "no internal secret (D365MCP_INTERNAL_SECRET): this worker runs any call that \
             reaches its port, as whoever the call names"
        );
    }
    // A worker on an ephemeral gRPC port (tests, several on one host) gets
    // an ephemeral metrics port too, rather than all contending for 9464.
    let metrics_port = if config_port == 0 {
        0
    } else {
        WORKER_METRICS_PORT
    };
    let metrics_default = MetricsListen::At(SocketAddr::new(local.ip(), metrics_port));
    // Bound before the worker says it listens: a metrics port in use stops
    // it before anyone counts on it.
    let metrics = bind_metrics(&args.metrics, metrics_default).await?;
    announce("worker", local);
    let stop = shutdown_signal();
    serve_metrics(
        "worker",
        &worker.node().store,
        &args.metrics,
        metrics,
        &stop,
    )?;
    let membership = match (&store, &heartbeat) {
        (Some(store), Some(heartbeat)) => Some(join_cluster(store, heartbeat, local, &stop)?),
        _ => None,
    };
    background_work(&worker, &stop);
    worker::serve(listener, worker, stop.cancelled_owned())
        .await
        .context("worker failed")?;
    if let Some(membership) = membership {
        // The heartbeat leaves as soon as shutdown starts; wait for the
        // leave to reach the store (it is bounded by the store's timeout).
        let _ = membership.await;
    }
    Ok(())
}

/// Registers this worker in the shared store and renews its membership
/// until `stop`, then leaves.
fn join_cluster(
    store: &SharedStore,
    config: &HeartbeatConfig,
    bound: SocketAddr,
    stop: &CancellationToken,
) -> Result<tokio::task::JoinHandle<()>, RunError> {
    let url = config.advertise_url(bound)?;
    let record = WorkerRecord::new(&url, config.interval);
    tracing::info!(id = %record.id, url = %record.url, "joining the cluster");
    let members: Arc<dyn MemberStore> = Arc::clone(store) as Arc<dyn MemberStore>;
    let heartbeat = Heartbeat::new(members, WORKERS, &record, config.interval, config.ttl);
    Ok(tokio::spawn(heartbeat.run(stop.clone().cancelled_owned())))
}

async fn edge(args: EdgeArgs) -> Result<(), RunError> {
    let config = args.config()?;
    let store: SharedStore = match args.redis.store()? {
        Some(store) => {
            tracing::info!("shared store: redis");
            Arc::new(store)
        }
        None => {
            tracing::info!("shared store: in memory, this process only (no --redis-url)");
            Arc::new(MemoryStore::new())
        }
    };
    let stop = shutdown_signal();
    let pool = if config.workers.is_empty() {
        tracing::info!("workers: those registered in the shared store");
        let pool = edge::WorkerPool::registered();
        let members: Arc<dyn MemberStore> = Arc::clone(&store) as Arc<dyn MemberStore>;
        let mut watch = edge::MemberWatch::new(members, pool.clone());
        watch.refresh().await;
        watch.spawn(config.members_refresh, stop.clone());
        pool
    } else {
        edge::WorkerPool::remote(&config.workers).context("worker pool")?
    };
    if config.internal_secret.is_none() {
        tracing::warn!(
            "no internal secret (D365MCP_INTERNAL_SECRET): calls to workers are unsigned, and \
             workers that hold a secret refuse them"
        );
    }
    let pool = pool.signing_with(config.internal_secret.clone());
    let (listener, local) = bind(config.listen, "edge").await?;
    AuthArgs::warn_if_open(&config, local);
    pool.check_health().await;
    let metrics = bind_metrics(&args.metrics, MetricsListen::Shared).await?;
    let state = edge::EdgeState::shared(config, pool, Arc::clone(&store));
    announce("edge", local);
    serve_metrics("edge", &store, &args.metrics, metrics, &stop)?;
    edge::serve(listener, state, stop.cancelled_owned())
        .await
        .context("edge failed")?;
    Ok(())
}

async fn dev(args: DevArgs) -> Result<(), RunError> {
    // Validated before anything starts: a bad keys file stops `dev` as it
    // stops `edge`.
    let edge_config = args.edge_config()?;
    let listen_addr = edge_config.listen;
    let stop = shutdown_signal();
    let (environments, using_sim) = match args.d365.environments()? {
        Some(environments) => (environments, false),
        None => (start_sim(&args.d365.environment, &stop).await?, true),
    };
    let (worker, d365, store) =
        local_worker(environments, &args.tuning, &edge_config.policy, &stop)?;
    let (listener, local) = bind(listen_addr, "edge").await?;
    AuthArgs::warn_if_open(&edge_config, local);
    let metrics = bind_metrics(&args.metrics, MetricsListen::Shared).await?;
    let state = edge::EdgeState::shared(
        edge_config,
        edge::WorkerPool::local(worker),
        Arc::clone(&store),
    );
    announce("dev", local);
    serve_metrics("dev", &store, &args.metrics, metrics, &stop)?;
    print_banner(local, &d365, using_sim);
    edge::serve(listener, state, stop.cancelled_owned())
        .await
        .context("edge failed")?;
    Ok(())
}

/// The built-in simulator, on a loopback port of its own until `stop`, as
/// the one environment, named `name`.
pub(crate) async fn start_sim(
    name: &str,
    stop: &CancellationToken,
) -> Result<Environments, RunError> {
    let (listener, local) = bind(SocketAddr::from(([127, 0, 0, 1], 0)), "sim").await?;
    let sim_stop = stop.clone();
    tokio::spawn(async move {
        if let Err(e) = sim::serve(
            listener,
            sim::SimConfig::default(),
            sim_stop.cancelled_owned(),
        )
        .await
        {
            tracing::error!(error = %e, "simulator stopped");
        }
    });
    let base_url = Url::parse(&format!("http://{local}")).context("simulator URL")?;
    let d365 = D365Config {
        name: name.to_owned(),
        base_url,
        credentials: None,
    };
    Ok(Environments {
        default: d365.name.clone(),
        all: vec![d365],
    })
}

/// A worker in this process (no gRPC hop) serving `environments`, with its
/// background work until `stop`; the default environment's connection; and
/// the in-memory store it shares with the edge in the same process.
pub(crate) fn local_worker(
    environments: Environments,
    tuning: &crate::cli::WorkerTuning,
    policy: &common::config::Policy,
    stop: &CancellationToken,
) -> Result<(Arc<worker::Worker>, D365Config, SharedStore), RunError> {
    let Some(d365) = environments
        .all
        .iter()
        .find(|e| e.name == environments.default)
        .cloned()
    else {
        return Err(ConfigError::new(
            common::config::environments::KEY,
            "the default environment is not configured",
        )
        .into());
    };
    let worker_config = WorkerConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), d365.clone())
        .with_environments(environments);
    let mut worker_config = tuning.apply(worker_config)?;
    // The edge in the same process checks the policy too, as across a hop.
    worker_config.policy = policy.clone();
    let store: SharedStore = Arc::new(MemoryStore::new());
    let worker = Arc::new(
        worker::Worker::new(worker_config, Arc::clone(&store)).context("worker set-up failed")?,
    );
    background_work(&worker, stop);
    Ok((worker, d365, store))
}

/// The metrics listener of its own, when one is configured (`default`
/// when unset), bound but not yet serving.
async fn bind_metrics(
    args: &MetricsArgs,
    default: MetricsListen,
) -> Result<Option<(TcpListener, SocketAddr)>, RunError> {
    // Validated here, before the role announces itself, as every setting.
    args.publish_interval()?;
    match args.listen(default)? {
        MetricsListen::At(addr) => Ok(Some(bind(addr, "metrics (D365MCP_METRICS_LISTEN)").await?)),
        MetricsListen::Shared | MetricsListen::Off => Ok(None),
    }
}

/// Names this process's role in its metrics, publishes them to `store`
/// every interval until `stop` (for `/metrics/cluster` and the statistics
/// tool), and serves `/metrics` on `bound` ([`bind_metrics`]), announced
/// after the role's own line, which scripts and tests read first:
/// `d365mcp metrics listening on <addr>`.
fn serve_metrics(
    role: &str,
    store: &SharedStore,
    args: &MetricsArgs,
    bound: Option<(TcpListener, SocketAddr)>,
    stop: &CancellationToken,
) -> Result<(), RunError> {
    use common::metrics::publish;
    common::metrics::set_role(role);
    let interval = args.publish_interval()?;
    let members: Arc<dyn MemberStore> = Arc::clone(store) as Arc<dyn MemberStore>;
    let publisher = publish::Publisher::new(Arc::clone(&members), interval);
    tokio::spawn(publisher.run(stop.clone()));
    let Some((listener, local)) = bound else {
        return Ok(());
    };
    announce("metrics", local);
    let app = edge::scrape::router(members);
    let stop = stop.clone();
    tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(stop.cancelled_owned())
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "metrics listener stopped");
        }
    });
    Ok(())
}

/// Beside serving, until shutdown: warms the metadata cache of every
/// environment (unless configured off), then watches their versions to
/// announce D365FO service updates.
fn background_work(worker: &Arc<worker::Worker>, stop: &CancellationToken) {
    let worker = Arc::clone(worker);
    let stop = stop.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = async {
                if worker.node().config.cache.warm_up {
                    worker.warm_up(None).await;
                }
                worker.watch_versions().await;
            } => {}
            _ = stop.cancelled() => {}
        }
    });
}

fn print_banner(addr: SocketAddr, d365: &D365Config, using_sim: bool) {
    let url = format!("http://{addr}/mcp");
    let backend = if using_sim {
        format!("the built-in D365FO simulator at {}", d365.base_url)
    } else {
        format!("D365FO at {}", d365.base_url)
    };
    println!(
        "\n  MCP endpoint: {url}\n  D365FO:       {backend}\n\n  Try it (2026-07-28, no handshake):\n\n    \
         curl -s {url} -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \\\n      \
         -H 'MCP-Protocol-Version: 2026-07-28' -H 'Mcp-Method: tools/call' -H 'Mcp-Name: d365fo_query_entities' \\\n      \
         -d '{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{{\"name\":\"d365fo_query_entities\",\"arguments\":{{\"entity_set\":\"CustomersV3\",\"top\":3,\"select\":[\"CustomerAccount\",\"OrganizationName\"]}},\"_meta\":{{\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\",\"io.modelcontextprotocol/clientCapabilities\":{{}}}}}}}}'\n\n  \
         Or open the MCP Inspector: npx @modelcontextprotocol/inspector  (transport: Streamable HTTP, URL: {url})\n"
    );
}
