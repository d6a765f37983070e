//! The edge→worker hop: the secret edges sign each call with and workers
//! check (`common::assertion`), and the worker's side of the tenant policy.

use clap::Args;
use common::{
    assertion::InternalSecret,
    config::{self, ConfigError, EdgeConfig, WorkerConfig, internal},
};

/// The internal secret, shared by `edge` and `worker`.
#[derive(Clone, Args)]
pub struct HopArgs {
    /// Shared secret (at least 32 bytes) the edges sign each worker call with
    /// and the workers check; the same on every edge and worker.
    #[arg(long, env = "D365MCP_INTERNAL_SECRET", hide_env_values = true)]
    pub internal_secret: Option<String>,
    /// A file holding the internal secret (a mounted Kubernetes Secret);
    /// instead of --internal-secret.
    #[arg(long, env = "D365MCP_INTERNAL_SECRET_FILE")]
    pub internal_secret_file: Option<String>,
}

impl HopArgs {
    fn secret(&self) -> Result<Option<InternalSecret>, ConfigError> {
        internal::secret(
            self.internal_secret.as_deref(),
            self.internal_secret_file.as_deref(),
        )
    }

    /// Sets the edge's signing secret.
    pub fn apply_edge(&self, config: &mut EdgeConfig) -> Result<(), ConfigError> {
        config.internal_secret = self.secret()?;
        Ok(())
    }
}

/// What a worker checks on each call: the assertion and the policy.
#[derive(Clone, Args)]
pub struct WorkerGuardArgs {
    #[command(flatten)]
    pub hop: HopArgs,
    /// The edges' API keys file, read here for its tenant policy (the
    /// workers check it again); the keys' digests are not used.
    #[arg(long = "api-keys-file", env = "D365MCP_API_KEYS_FILE")]
    pub api_keys_file: Option<String>,
    /// Serve a non-loopback --listen address without an internal secret,
    /// accepting unsigned calls from anything that reaches the port: only
    /// where the network alone keeps everything but the edges away.
    #[arg(long = "insecure-internal-hop", env = "D365MCP_INSECURE_INTERNAL_HOP", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub insecure_internal_hop: bool,
}

impl WorkerGuardArgs {
    /// Sets the worker's secret and policy, and refuses a worker that would
    /// take unsigned calls from beyond this machine without an opt-out.
    pub fn apply(&self, config: &mut WorkerConfig) -> Result<(), ConfigError> {
        config.internal_secret = self.hop.secret()?;
        if let Some(path) = &self.api_keys_file {
            config.policy = config::auth::load_file(path.trim())?.policy;
        }
        internal::check_worker(
            config.listen,
            config.internal_secret.as_ref(),
            self.insecure_internal_hop,
        )
    }
}
