//! `d365mcp stdio`: MCP on stdin and stdout for a local client that starts
//! the server itself, with the worker in the same process.

use std::net::SocketAddr;

use clap::Args;
use common::config::{ConfigError, EdgeConfig, Environments};

use super::{D365Args, SurfaceArgs, WorkerTuning};

/// `d365mcp stdio`.
#[derive(Args)]
pub struct StdioArgs {
    /// Serve the built-in D365FO simulator, started in this process, instead of the configured D365FO.
    #[arg(long, default_value_t = false)]
    pub sim: bool,
    /// Largest accepted message (one line of stdin), in bytes.
    #[arg(long, env = "D365MCP_MAX_BODY_BYTES", default_value_t = 4 * 1024 * 1024)]
    pub max_body_bytes: usize,
    #[command(flatten)]
    pub surface: SurfaceArgs,
    #[command(flatten)]
    pub d365: D365Args,
    #[command(flatten)]
    pub tuning: WorkerTuning,
}

impl StdioArgs {
    /// The in-process edge's configuration: no listener and no keys (the
    /// caller is the local user), the edge's defaults otherwise.
    pub fn edge_config(&self) -> Result<EdgeConfig, ConfigError> {
        let mut config = EdgeConfig::local(SocketAddr::from(([127, 0, 0, 1], 0)));
        config.max_body_bytes = super::max_body_bytes(self.max_body_bytes)?;
        self.surface.apply(&mut config)?;
        Ok(config)
    }

    /// The configured D365FO environments; `None` with `--sim`.
    pub fn environments(&self) -> Result<Option<Environments>, ConfigError> {
        let configured = self.d365.environments()?;
        match (self.sim, configured) {
            (true, None) => Ok(None),
            (true, Some(_)) => Err(ConfigError::new(
                "--sim",
                "give either --sim or a D365FO (D365FO_BASE_URL or D365MCP_ENVIRONMENTS_FILE), \
                 not both",
            )),
            (false, Some(environments)) => Ok(Some(environments)),
            (false, None) => Err(ConfigError::new(
                common::config::keys::BASE_URL,
                "required for stdio: set it to the environment URL, name several environments \
                 in D365MCP_ENVIRONMENTS_FILE, or pass --sim for the built-in simulator",
            )),
        }
    }
}
