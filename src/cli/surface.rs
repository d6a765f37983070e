//! What an agent sees and what a write asks first: the edge's
//! `tools/list` surface (toolsets, output schemas).

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
        Ok(())
    }
}
