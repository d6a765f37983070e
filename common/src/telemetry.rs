//! Tracing set-up shared by every role.

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

use crate::config::LogFormat;

/// Installs the global subscriber: logs to stderr in `format`, filtered by
/// `RUST_LOG` when set, else by `default_filter` (e.g. `info`).
///
/// Returns an error when a subscriber is already installed (tests that start
/// several roles in one process call this once, or not at all).
pub fn init(format: LogFormat, default_filter: &str) -> Result<(), TelemetryError> {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(quiet_rmcp(default_filter)))
        .map_err(|e| TelemetryError(format!("log filter `{default_filter}`: {e}")))?;
    let registry = tracing_subscriber::registry().with(filter);
    let result = match format {
        LogFormat::Text => registry
            .with(fmt::layer().with_writer(std::io::stderr).with_target(true))
            .try_init(),
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_writer(std::io::stderr),
            )
            .try_init(),
    };
    result.map_err(|e| TelemetryError(e.to_string()))
}

/// `filter` with rmcp held at `warn` unless it names rmcp itself: rmcp logs
/// a client's `initialize` parameters and every notification whole at
/// `info` — client text of up to the body limit per line. `RUST_LOG`
/// overrides this, for debugging.
fn quiet_rmcp(filter: &str) -> String {
    if filter.contains("rmcp") {
        filter.to_owned()
    } else {
        format!("{filter},rmcp=warn")
    }
}

/// Tracing could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("telemetry set-up failed: {0}")]
pub struct TelemetryError(String);
