//! Execution tools: OData actions, JSON services and reports.

use super::ToolSpec;

/// Tool names of this group.
pub mod names {}

/// This group's tools, in listing order.
pub fn specs() -> Vec<ToolSpec> {
    Vec::new()
}
