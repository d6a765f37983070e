//! What the metadata tools return, as `structuredContent`; their output
//! schemas are derived from these types. So far the connection tools'.

use schemars::JsonSchema;
use serde::Serialize;

/// The result of `d365fo_test_connection`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ConnectionResult {
    // Whether D365FO answered an authenticated query.
    pub ok: bool,
    // The environment's name.
    pub environment: String,
    // The environment's URL.
    pub base_url: String,
    // The round-trip time, in milliseconds.
    pub latency_ms: f64,
    // What happened: connected, or the error's code and message.
    pub message: String,
}

/// The result of `d365fo_get_environment_info`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct EnvironmentInfoResult {
    // The environment's name.
    pub environment: String,
    // The environment's URL.
    pub base_url: String,
    // The application version, e.g. 10.0.41.
    pub application_version: String,
    // The platform build version.
    pub platform_version: String,
}
