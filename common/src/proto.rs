//! The edge↔worker gRPC contract, generated at build time from
//! `proto/d365mcp/worker/v1/worker.proto`.

#![allow(missing_docs, clippy::all, clippy::pedantic)]

/// Package `d365mcp.worker.v1`.
pub mod v1 {
    tonic::include_proto!("d365mcp.worker.v1");
}

pub use v1::*;
