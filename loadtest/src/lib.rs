//! The MCP-aware load generator and benchmark reports.
//!
//! Not built yet: the harness (open- and closed-loop load in every MCP
//! protocol era, scenarios, HDR histograms, reports) is its own piece of work.
//! This crate exists so the workspace has the layout DESIGN.md describes; it
//! exports nothing and the CLI has no `loadtest` command until the harness lands.

pub mod spawn;
