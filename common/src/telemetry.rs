//! Tracing set-up shared by every role: logs on stderr, and spans exported
//! over OTLP when an endpoint is configured.
//!
//! JSON logs put the current span and the list of its parents on every
//! line (`span`, `spans`), so a line written deep inside a call (a D365FO
//! request's) still carries the call's request id, trace id, tool, tenant
//! and principal.
//!
//! OTLP export is off by default. With an endpoint, spans go through
//! `tracing-opentelemetry` to a batch exporter over gRPC (the workspace's
//! tonic), and `trace::start` takes span ids from the exported spans, so
//! the `traceparent` sent onwards names spans a collector has.

use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::{EnvFilter, fmt, prelude::*};

use crate::config::{ConfigError, LogFormat};

/// The setting that turns OTLP export on.
pub const OTLP_KEY: &str = "D365MCP_OTLP_ENDPOINT (--otlp-endpoint)";

/// How long shutting down waits for the last spans to be exported.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// Where and as what spans are exported.
#[derive(Debug, Clone)]
pub struct Otlp {
    endpoint: url::Url,
    service_name: String,
}

impl Otlp {
    /// Export to the OTLP/gRPC collector at `endpoint` (`http://` or
    /// `https://`, e.g. `http://otel-collector:4317`) as `service_name`;
    /// an error naming [`OTLP_KEY`] for anything else.
    pub fn new(endpoint: &str, service_name: &str) -> Result<Self, ConfigError> {
        let endpoint = url::Url::parse(endpoint.trim()).map_err(|e| {
            ConfigError::new(
                OTLP_KEY,
                format!("not a URL ({e}), e.g. http://localhost:4317"),
            )
        })?;
        if !matches!(endpoint.scheme(), "http" | "https") || endpoint.host_str().is_none() {
            return Err(ConfigError::new(
                OTLP_KEY,
                "must be an http:// or https:// URL of an OTLP/gRPC collector, e.g. \
                 http://localhost:4317",
            ));
        }
        Ok(Self {
            endpoint,
            service_name: service_name.to_owned(),
        })
    }
}

/// Keeps the OTLP exporter alive; dropping it exports the spans still
/// buffered (within [`FLUSH_TIMEOUT`]). Does nothing without export.
#[must_use = "dropping it stops span export"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(e) = provider.shutdown_with_timeout(FLUSH_TIMEOUT)
        {
            eprintln!("d365mcp: the last spans were not exported: {e}");
        }
    }
}

/// Installs the global subscriber: logs to stderr in `format`, filtered by
/// `RUST_LOG` when set, else by `default_filter` (e.g. `info`), and spans
/// exported to `otlp` when given. With `otlp`, call it inside a Tokio
/// runtime (the gRPC channel is bound to it) and keep the returned
/// [`Telemetry`] until the runtime's work is done.
///
/// Returns an error when a subscriber is already installed (tests that start
/// several roles in one process call this once, or not at all).
pub fn init(
    format: LogFormat,
    default_filter: &str,
    otlp: Option<&Otlp>,
) -> Result<Telemetry, TelemetryError> {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(quiet_rmcp(default_filter)))
        .map_err(|e| TelemetryError(format!("log filter `{default_filter}`: {e}")))?;
    let provider = otlp.map(provider).transpose()?;
    let otel = provider.as_ref().map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("d365mcp"))
            // Busy/idle times per poll cost more than they tell here.
            .with_tracked_inactivity(false)
    });
    let registry = tracing_subscriber::registry().with(filter).with(otel);
    let result = match format {
        LogFormat::Text => registry
            .with(
                fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_target(true)
                    // Colour codes only for a person at a terminal, not in
                    // a log file (a stdio client keeps the server's stderr).
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(true)
                    .with_writer(std::io::stderr),
            )
            .try_init(),
    };
    result.map_err(|e| TelemetryError(e.to_string()))?;
    crate::trace::set_exporting(provider.is_some());
    Ok(Telemetry { provider })
}

/// The tracer provider exporting to `otlp` in batches.
fn provider(otlp: &Otlp) -> Result<SdkTracerProvider, TelemetryError> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(otlp.endpoint.as_str())
        .build()
        .map_err(|e| TelemetryError(format!("OTLP exporter for {}: {e}", otlp.endpoint)))?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(otlp.service_name.clone())
        .build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_otlp_endpoint_must_be_an_http_url() {
        assert!(Otlp::new("http://localhost:4317", "d365mcp-edge").is_ok());
        assert!(Otlp::new(" https://collector.example:4317 ", "d365mcp-worker").is_ok());
        for bad in ["", "localhost:4317", "grpc://x:4317", "http://"] {
            let e = Otlp::new(bad, "x").unwrap_err();
            assert!(
                e.to_string().contains("D365MCP_OTLP_ENDPOINT"),
                "{bad}: {e}"
            );
        }
    }
}
