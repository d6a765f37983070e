//! What an agent sees and what a write asks first: the edge's
//! `tools/list` surface (toolsets, output schemas) and its confirmation of
//! changes to existing data.

use clap::Args;
use common::{
    catalogue::Toolsets,
    config::{ConfigError, EdgeConfig},
};

/// The edge's default tool surface.
#[derive(Clone, Args)]
pub struct SurfaceArgs {
    /// Toolsets `tools/list` shows, comma-separated: data, metadata, labels,
    /// execution, operator, or all. A key's or tenant's `toolsets` in the
    /// keys file replaces it; tools not listed can still be called.
    #[arg(long, env = "D365MCP_TOOLSETS", default_value = "data,metadata,labels")]
    pub toolsets: String,
    /// Whether `tools/list` carries each tool's output schema (`on`/`off`).
    /// Results carry structured content either way; the schemas add bytes
    /// to every request an agent's model makes.
    #[arg(long, env = "D365MCP_TOOL_OUTPUT_SCHEMAS", default_value = "off")]
    pub tool_output_schemas: String,
    /// Whether updates, deletes, batches with writes, actions and JSON
    /// service calls wait for the user's confirmation: auto (when the client
    /// can ask its user), confirm (always; refused when it cannot), allow,
    /// or refuse. A key's or tenant's `writes` in the keys file narrows it.
    #[arg(long, env = "D365MCP_CONFIRM_WRITES", default_value = "auto")]
    pub confirm_writes: String,
    /// Longest a call waits for its user's answer (2025 sessions), and how
    /// long a 2026-07-28 confirmation stays valid.
    #[arg(long, env = "D365MCP_CONFIRM_TIMEOUT", default_value = "5m")]
    pub confirm_timeout: String,
}

impl SurfaceArgs {
    /// Sets `config`'s surface, validated.
    pub fn apply(&self, config: &mut EdgeConfig) -> Result<(), ConfigError> {
        config.toolsets = Toolsets::parse(self.toolsets.split(','))
            .map_err(|reason| ConfigError::new("D365MCP_TOOLSETS (--toolsets)", reason))?;
        config.output_schemas = match self
            .tool_output_schemas
            .trim()
            .to_ascii_lowercase()
            .as_str()
        {
            "on" | "true" | "1" => true,
            "off" | "false" | "0" => false,
            other => {
                return Err(ConfigError::new(
                    "D365MCP_TOOL_OUTPUT_SCHEMAS (--tool-output-schemas)",
                    format!("`{}` is neither on nor off", common::clip::clip(other)),
                ));
            }
        };
        config.writes =
            common::config::policy::Writes::parse(&self.confirm_writes).map_err(|reason| {
                ConfigError::new("D365MCP_CONFIRM_WRITES (--confirm-writes)", reason)
            })?;
        config.confirm_timeout = super::positive(
            "D365MCP_CONFIRM_TIMEOUT (--confirm-timeout)",
            &self.confirm_timeout,
        )?;
        Ok(())
    }
}
