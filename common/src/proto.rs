//! The edge↔worker gRPC contract, generated at build time from
//! `proto/d365mcp/worker/v1/worker.proto`.

#![allow(missing_docs, clippy::all, clippy::pedantic)]

/// Package `d365mcp.worker.v1`.
pub mod v1 {
    tonic::include_proto!("d365mcp.worker.v1");
}

pub use v1::*;

/// Largest gRPC message either side sends or accepts. A tool result is one
/// message; tonic's 4 MiB default is too small for a page of wide D365FO rows,
/// and the worker bounds its results well below this.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;
