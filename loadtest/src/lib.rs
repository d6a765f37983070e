//! `d365mcp loadtest`: an MCP-aware load generator and its reports.
//!
//! # Layout
//!
//! - [`config`]: the settings (flags and `D365MCP_LOADTEST_*` variables),
//!   validated into a [`Config`]; `targets` is where `--spawn` plugs in.
//! - [`scenario`] and [`template`]: the TOML scenario (era, session pattern,
//!   a weighted mix of calls) and its argument templates.
//! - [`client`]: hand-written MCP clients for each protocol era over one
//!   shared connection pool, and the reply checks that name each failure.
//! - [`load`]: open loop (fixed arrival rate, latency from the intended send
//!   time) and closed loop (N clients).
//! - [`stats`]: the collector of HDR histograms and the live progress line.
//! - [`report`]: the JSON report, the Markdown summary and the SVG plot.
//! - [`chaos`]: `d365mcp chaos`, faults injected into a spawned cluster
//!   under load, and an audit of every write against the simulator's journal.
//! - [`spawn`]: a local cluster (Redis, simulator, workers, edges) started
//!   as child processes for a run or a benchmark.
//!
//! [`run`] ties them together: load for the warm-up plus the duration (or
//! until `--requests`), then the reports.

pub mod chaos;
pub mod client;
pub mod config;
pub mod error;
pub mod load;
pub mod report;
pub mod scenario;
pub mod spawn;
pub mod stats;
pub mod template;

use std::{path::Path, time::Instant};

pub use config::{Config, Mode, Settings};
pub use error::Error;
pub use report::Report;

/// Runs the load test `config` describes, writes the reports it asks for,
/// prints the Markdown summary on stdout, and returns the report.
pub async fn run(config: Config) -> Result<Report, Error> {
    let http = client::Http::new(
        config.targets.clone(),
        config.timeout,
        config.api_key.clone(),
    )
    .map_err(Error::Client)?;
    let started = Instant::now();
    let (sink, collector) = stats::collector(started + config.warmup, config.progress);
    // Every sink clone lives inside the load; the collector ends when they are gone.
    let ended = load::generate(&config, http, sink, started).await;
    let stats = collector.await.map_err(Error::Collector)?;
    let report = Report::new(&config, &stats, ended);
    let summary = report::markdown::render(&report);
    if let Some(path) = &config.out {
        write(path, &report.to_json())?;
    }
    if let Some(path) = &config.markdown {
        write(path, &summary)?;
    }
    if let Some(path) = &config.svg {
        write(path, &report::svg::render(&report))?;
    }
    println!("{summary}");
    Ok(report)
}

fn write(path: &Path, text: &str) -> Result<(), Error> {
    std::fs::write(path, text).map_err(|source| Error::Write {
        path: path.to_owned(),
        source,
    })
}
