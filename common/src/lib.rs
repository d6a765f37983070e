//! Shared building blocks of d365mcp.
//!
//! # Layout
//!
//! - [`clip`]: a short, escaped prefix of client-supplied text, for logs
//!   and error messages.
//! - [`config`]: typed, validated configuration of every role, and the
//!   [`config::ConfigError`] that names the bad setting.
//! - [`error`]: [`ErrorCode`], the one error vocabulary of the cluster, mapped to
//!   HTTP status, gRPC status and JSON-RPC code; [`Failure`], an error as it
//!   crosses a process boundary, and its JSON-RPC form (docs/ERRORS.md).
//! - [`multipart`]: the `multipart/mixed` wire format of OData `$batch`,
//!   written and read by the worker and the simulator alike.
//! - [`odata`]: OData identifiers and literals, checked and quoted so that
//!   caller text cannot change a request's shape.
//! - [`notify`]: change notifications published between nodes.
//! - [`log_level`]: MCP logging levels by name, ordered by severity.
//! - [`proto`]: the edge↔worker gRPC contract generated from `proto/`.
//! - [`assertion`]: the signed assertion that authenticates each edge→worker
//!   call.
//! - [`executor`]: [`executor::ToolExecutor`], what a worker is to an edge.
//! - [`catalogue`]: the MCP tools the cluster offers, with their JSON Schemas
//!   and annotations.
//! - [`membership`]: workers heartbeat their gRPC URL into the shared store;
//!   edges build their ring from the live ones.
//! - [`metrics`]: the Prometheus metric families of every node, and their
//!   aggregate over the cluster through the shared store.
//! - [`ring`]: the consistent-hash ring with bounded load that maps a D365FO
//!   environment to a worker.
//! - [`store`]: the shared-state trait family, its in-memory backend and its
//!   Redis backend.
//! - [`telemetry`]: tracing set-up (text or JSON logs, optional OTLP
//!   export of spans).
//! - [`trace`]: W3C trace context — `traceparent`/`tracestate` checked,
//!   continued on each hop's span, handed to the D365FO client.

pub mod assertion;
pub mod catalogue;
pub mod clip;
pub mod config;
pub mod error;
pub mod executor;
pub mod log_level;
pub mod membership;
pub mod metrics;
pub mod multipart;
pub mod notify;
pub mod odata;
pub mod proto;
pub mod ring;
pub mod store;
pub mod telemetry;
pub mod trace;

pub use error::{ErrorCode, Failure};
