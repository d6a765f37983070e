//! Test support: a cluster of real `d365mcp` processes on ephemeral loopback
//! ports, and MCP clients for each protocol era.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod cluster;
pub mod conformance;
pub mod fixture;
pub mod haproxy;
pub mod mcp;
pub mod raw;
pub mod redis;
pub mod redis_cluster;
pub mod redis_tls;
pub mod sse;

#[allow(unused_imports)] // not every test binary starts a whole cluster
pub use cluster::Cluster;
