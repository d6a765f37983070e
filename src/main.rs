//! `d365mcp`: one binary, every role. Parses the command line, validates the
//! configuration (exit code 2 naming the bad setting), sets up logging, then
//! binds, runs and drains the chosen role until Ctrl-C or SIGTERM.

mod cli;
mod roles;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc instead of the system allocator: under load, glibc's `malloc`
/// and `free` took about a tenth of an edge's and a worker's CPU (perf, in
/// the cluster benchmark of loadtest/bench), spent on the many short-lived
/// buffers of HTTP, gRPC and JSON.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let format = match cli.log_format() {
        Ok(format) => format,
        Err(e) => return config_error(&e),
    };
    if let Err(e) = common::telemetry::init(format, &cli.log_level) {
        eprintln!("d365mcp: {e}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("d365mcp: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(roles::run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(roles::RunError::Config(e)) => config_error(&e),
        Err(roles::RunError::Failed(e)) => {
            eprintln!("d365mcp: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn config_error(e: &common::config::ConfigError) -> ExitCode {
    eprintln!("d365mcp: {e}");
    ExitCode::from(2)
}
