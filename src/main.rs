//! `d365mcp`: one binary, every role. Parses the command line, validates the
//! configuration (exit code 2 naming the bad setting), sets up logging, then
//! binds, runs and drains the chosen role until Ctrl-C or SIGTERM.

mod allocator;
mod cli;
mod healthcheck;
mod roles;
mod stdio;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let (format, otlp) = match (cli.log_format(), cli.otlp()) {
        (Ok(format), Ok(otlp)) => (format, otlp),
        (Err(e), _) | (_, Err(e)) => return config_error(&e),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .on_thread_park(allocator::on_park)
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("d365mcp: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Inside the runtime: the OTLP exporter's gRPC channel is bound to it.
    // Dropped after the role's work, which exports the last spans.
    let _telemetry = {
        let _inside = runtime.enter();
        match common::telemetry::init(format, &cli.log_level, otlp.as_ref()) {
            Ok(telemetry) => telemetry,
            Err(e) => {
                eprintln!("d365mcp: {e}");
                return ExitCode::from(2);
            }
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
