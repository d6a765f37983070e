//! `d365mcp stdio`: the edge's MCP handler on stdin and stdout, its worker
//! in this process, as `dev` assembles them but with no listener.
//!
//! stdout carries the protocol and nothing else: no announcement line, no
//! banner; logs go to stderr (`common::telemetry`). The process ends when
//! the client closes stdin, or on Ctrl-C or SIGTERM.

use anyhow::Context;

use crate::{
    cli::StdioArgs,
    roles::{RunError, local_worker, shutdown_signal, start_sim},
};

/// Serves one MCP conversation on stdin and stdout.
pub async fn run(args: StdioArgs) -> Result<(), RunError> {
    // Every setting is validated before the simulator or worker starts.
    let edge_config = args.edge_config()?;
    let configured = args.environments()?;
    let stop = shutdown_signal();
    let environments = match configured {
        Some(environments) => environments,
        None => start_sim(&args.d365.environment, &stop).await?,
    };
    // The caller is the local user who started this process: no keys and
    // no policy (`EdgeConfig::local`), so the handler serves it as
    // `anonymous` of the default tenant (README, "stdio").
    let (worker, d365, store) =
        local_worker(environments, &args.tuning, &edge_config.policy, &stop)?;
    tracing::info!(environment = %d365.name, base_url = %d365.base_url, sim = args.sim,
        "serving MCP on stdin and stdout");
    common::metrics::set_role("stdio");
    let state = edge::EdgeState::shared(edge_config, edge::WorkerPool::local(worker), store);
    let served = edge::serve_stdio(state, stop.clone().cancelled_owned()).await;
    // Ends the simulator and the worker's background work.
    stop.cancel();
    served.context("stdio")?;
    Ok(())
}
