//! `d365mcp chaos`: the cluster under fire, and an audit of every write.
//!
//! For each seed, a fresh local cluster ([`crate::spawn`]: Redis, the
//! simulator finishing what it started (`--finish-abandoned`, as D365FO
//! does) and journaling every write, two workers, two edges) takes a steady
//! open-loop load of creates, updates, gets and queries over the
//! 2026-07-28 protocol from a client that retries as README's contract
//! allows ([`client`]). The run is cut into phases of equal length; every
//! phase but the first (the baseline) injects one fault a seeded moment
//! into it, then restarts the node:
//!
//! 1. `kill -9` of worker 0 (restarted after `--down`);
//! 2. `kill -9` of edge 0 (restarted after `--down`);
//! 3. `kill -9` of Redis, which keeps nothing (restarted after `--down`) —
//!    with `--redis-cluster`, of one of a Redis Cluster's three masters
//!    (no replicas: its slots are unserved until it is back, empty);
//! 4. `SIGTERM` of edge 1, which drains (restarted once it exited);
//! 5. `SIGTERM` of worker 1 (restarted once it exited).
//!
//! When the load has ended and every call has its answer, the simulator's
//! journal is read ([`audit`]) and set against what each client heard:
//! **lost** writes (acknowledged, never applied), **doubled** writes
//! (reaching D365FO more than once), writes **applied but reported
//! failed**, and `outcome_unknown` answers; per phase, with the failed-read
//! share and the recovery time — from the fault to the end of the last
//! attempt that did not succeed ([`report`]).
//!
//! Not covered: network delay (`tc netem` needs privileges), and a Redis
//! Cluster failing over to a replica (the spawned cluster has none).

pub mod audit;
pub mod client;
pub mod ops;
pub mod report;

use std::{
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use rand::{Rng, SeedableRng, rngs::StdRng};
use tokio::task::JoinSet;
use url::Url;

use crate::spawn::{Node, Spawn, SpawnError, Spawned};
use client::{Edges, Ending, Tried};
use ops::Op;
pub use report::{Report, SeedReport};

/// The settings of a chaos run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The `d365mcp` binary whose cluster is put under fire.
    pub binary: PathBuf,
    /// One run per seed: the call mix, the edges first tried, fault timing.
    pub seeds: Vec<u64>,
    /// Calls started per second.
    pub rate: f64,
    /// Length of each phase.
    pub phase: Duration,
    /// How long a killed node stays down before it is started again.
    pub down: Duration,
    /// How long one call may keep retrying.
    pub budget: Duration,
    /// Latency the simulator adds to every D365FO request, so that calls
    /// are in flight when a node dies.
    pub sim_latency_ms: u64,
    /// Limits a run must meet (see [`Targets`]).
    pub targets: Targets,
    /// Run on a Redis Cluster of three masters instead of one Redis.
    pub redis_cluster: bool,
    /// A rolling restart instead of the faults: SIGTERM each edge, then
    /// each worker, one at a time, each started again once it has drained.
    pub rolling: bool,
}

/// What a run must show to pass.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Targets {
    /// Most failed reads, in percent of the reads of any phase.
    pub max_failed_read_pct: f64,
    /// Longest recovery after any fault.
    pub max_recovery_s: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            binary: PathBuf::from("d365mcp"),
            seeds: vec![1, 2, 3],
            rate: 30.0,
            phase: Duration::from_secs(12),
            down: Duration::from_secs(1),
            budget: Duration::from_secs(30),
            sim_latency_ms: 100,
            targets: Targets {
                max_failed_read_pct: 0.1,
                max_recovery_s: 5.0,
            },
            redis_cluster: false,
            rolling: false,
        }
    }
}

/// Why a chaos run could not be made (not: what it found).
#[derive(Debug, thiserror::Error)]
pub enum ChaosError {
    #[error("{0}")]
    Spawn(#[from] SpawnError),
    #[error("chaos: {0}")]
    Run(String),
}

/// One fault of the schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `kill -9`, then a restart after the down time.
    Kill(Node),
    /// `SIGTERM`, then a restart once the node exited.
    Term(Node),
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fault::Kill(node) => write!(f, "kill -9 {node}"),
            Fault::Term(node) => write!(f, "SIGTERM {node}"),
        }
    }
}

/// The faults of the phases after the baseline, in order: with a Redis
/// Cluster, the Redis fault is the loss of one of its three nodes. A
/// rolling restart (an upgrade) drains and restarts every edge, then every
/// worker, one at a time.
pub fn schedule(redis_cluster: bool, rolling: bool) -> Vec<Fault> {
    if rolling {
        return vec![
            Fault::Term(Node::Edge(0)),
            Fault::Term(Node::Edge(1)),
            Fault::Term(Node::Worker(0)),
            Fault::Term(Node::Worker(1)),
        ];
    }
    vec![
        Fault::Kill(Node::Worker(0)),
        Fault::Kill(Node::Edge(0)),
        Fault::Kill(Node::Redis(usize::from(redis_cluster))),
        Fault::Term(Node::Edge(1)),
        Fault::Term(Node::Worker(1)),
    ]
}

/// A finished call: what it was, when it ran, every attempt and its end.
#[derive(Debug, Clone)]
pub struct Call {
    pub op: Op,
    pub started: Instant,
    pub tried: Vec<Tried>,
    pub ending: Ending,
}

/// Runs every seed in turn and reports on them all.
pub async fn run(settings: &Settings) -> Result<Report, ChaosError> {
    if !(settings.rate.is_finite() && (0.1..=1000.0).contains(&settings.rate)) {
        return Err(ChaosError::Run(format!(
            "the rate must be between 0.1 and 1000 calls/s, not {}",
            settings.rate
        )));
    }
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let mut seeds = Vec::new();
    for &seed in &settings.seeds {
        seeds.push(run_seed(settings, seed, &run_id[..8]).await?);
    }
    Ok(Report::new(settings, seeds))
}

async fn run_seed(settings: &Settings, seed: u64, run_id: &str) -> Result<SeedReport, ChaosError> {
    let spec = Spawn {
        redis: true,
        redis_cluster: settings.redis_cluster,
        edges: 2,
        workers: 2,
        sim_latency_ms: settings.sim_latency_ms,
        sim_args: vec!["--finish-abandoned".into(), "--journal".into()],
        ..Spawn::default()
    };
    let mut cluster = Spawned::start(&settings.binary, spec).await?;
    let urls = cluster
        .mcp_urls()
        .iter()
        .map(|u| Url::parse(u).map_err(|e| ChaosError::Run(format!("{u}: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let sim_url = cluster
        .sim_url()
        .ok_or_else(|| ChaosError::Run("the cluster has no simulator".into()))?;
    let edges = Edges::new(urls, settings.budget).map_err(|e| ChaosError::Run(e.to_string()))?;

    // The records updates and gets work on, made before any fault.
    for i in 0..ops::BASE_RECORDS {
        let op = ops::base_create(seed, run_id, i);
        let (_, ending) = edges
            .call(
                0,
                op.n,
                op.tool,
                &op.args,
                op.key.as_deref(),
                settings.budget,
            )
            .await;
        if ending != Ending::Ok {
            return Err(ChaosError::Run(format!(
                "creating base record {i}: {ending:?}"
            )));
        }
    }

    let mut rng = StdRng::seed_from_u64(seed);
    let schedule = schedule(settings.redis_cluster, settings.rolling);
    let phases = 1 + schedule.len();
    let start = Instant::now();
    let end = start + settings.phase * u32::try_from(phases).unwrap_or(u32::MAX);
    let load = tokio::spawn(load(edges, settings.clone(), seed, run_id.to_owned(), end));

    let mut faults = Vec::new();
    for (i, fault) in schedule.iter().enumerate() {
        let phase_start = start + settings.phase * u32::try_from(i + 1).unwrap_or(u32::MAX);
        let quarter = settings.phase / 4;
        let at = phase_start + quarter + quarter.mul_f64(rng.random_range(0.0..1.0));
        tokio::time::sleep_until(at.into()).await;
        let injected = Instant::now();
        inject(&mut cluster, *fault, settings.down).await?;
        faults.push((*fault, injected - start));
    }
    let results = load
        .await
        .map_err(|e| ChaosError::Run(format!("the load task failed: {e}")))?;
    // A call task that panicked lost its record: the run cannot be audited.
    let mut calls = Vec::with_capacity(results.len());
    for result in results {
        calls.push(result.map_err(|e| ChaosError::Run(format!("a call's task failed: {e}")))?);
    }
    calls.sort_by_key(|c| c.op.n);
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| ChaosError::Run(e.to_string()))?;
    // Writes whose callers left are finished by the simulator and by their
    // workers (within their deadlines): read the journal once it is still.
    audit::settle(&http, &sim_url, settings.budget).await;
    let journal = audit::journal(&http, &sim_url)
        .await
        .map_err(ChaosError::Run)?;
    cluster.stop();
    Ok(SeedReport::new(
        seed, settings, start, &faults, &calls, &journal,
    ))
}

/// Injects `fault` and brings the node back.
async fn inject(cluster: &mut Spawned, fault: Fault, down: Duration) -> Result<(), ChaosError> {
    let restart_timeout = Duration::from_secs(30);
    match fault {
        Fault::Kill(node) => {
            cluster.signal(node, "KILL")?;
            tokio::time::sleep(down).await;
        }
        Fault::Term(node) => {
            cluster.signal(node, "TERM")?;
            let drained = cluster.wait_exit(node, Duration::from_secs(60)).await;
            if !drained {
                return Err(ChaosError::Run(format!(
                    "{node} did not exit within 60 s of SIGTERM"
                )));
            }
        }
    }
    cluster.restart(fault.node(), restart_timeout).await?;
    Ok(())
}

impl Fault {
    /// The node it strikes.
    pub fn node(self) -> Node {
        match self {
            Fault::Kill(node) | Fault::Term(node) => node,
        }
    }
}

/// Most calls in flight; past it a tick is skipped (and counted).
const MAX_IN_FLIGHT: usize = 4096;

/// Starts calls at the settings' rate until `end` and returns them all,
/// each with its answer.
async fn load(
    edges: Edges,
    settings: Settings,
    seed: u64,
    run_id: String,
    end: Instant,
) -> Vec<Result<Call, String>> {
    let edges = Arc::new(edges);
    // Another stream than the fault timing's, so both follow the seed alone.
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed_ca11);
    let mut interval = tokio::time::interval(Duration::from_secs_f64(1.0 / settings.rate));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut running = JoinSet::new();
    let mut calls = Vec::new();
    let mut n = 0u64;
    loop {
        let tick = interval.tick().await;
        if tick.into_std() >= end {
            break;
        }
        while let Some(call) = running.try_join_next() {
            calls.push(call.map_err(|e| e.to_string()));
        }
        if running.len() >= MAX_IN_FLIGHT {
            continue;
        }
        let op = ops::next(seed, &run_id, n, &mut rng);
        let first = rng.random_range(0..2);
        n += 1;
        let (edges, budget) = (Arc::clone(&edges), settings.budget);
        running.spawn(async move {
            let started = Instant::now();
            let (tried, ending) = edges
                .call(first, op.n, op.tool, &op.args, op.key.as_deref(), budget)
                .await;
            Call {
                op,
                started,
                tried,
                ending,
            }
        });
    }
    while let Some(call) = running.join_next().await {
        calls.push(call.map_err(|e| e.to_string()));
    }
    calls
}
