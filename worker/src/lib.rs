//! The d365mcp worker: executes MCP tools against Dynamics 365 Finance &
//! Operations over OData.
//!
//! # Layout
//!
//! - [`executor`]: [`Worker`], which implements
//!   `common::executor::ToolExecutor`: one call is one stream of events whose
//!   drop cancels the work. It resolves the call's environment and records
//!   the call's metrics.
//! - [`node`]: what a worker shares between calls: its environments (each
//!   with a pooled client and a token cache), the cache, the shared store.
//! - [`cache`]: [`MetadataCache`], metadata and labels keyed by environment
//!   version, in memory (L1) and in the shared store (L2), one fill per key
//!   across the workers sharing that store (see `cache/README.md`).
//! - [`metadata`]: D365FO's metadata (entities, enumerations, labels,
//!   actions) read through the cache; the metadata tools and the start-up
//!   warm-up ([`Worker::warm_up`]) run on it.
//! - `watch`: [`Worker::watch_versions`] notices D365FO service updates and
//!   announces them to the edges through the store.
//! - [`metrics`]: the worker's label values on the node's Prometheus
//!   families (`common::metrics`) — tool calls, D365FO requests, retries,
//!   throttle windows, breakers, write claims, the cache — and
//!   [`metrics::init`], which puts them at zero when a worker starts.
//! - [`call_log`]: retries, throttle waits and pages read, sent to the
//!   caller as log events while its call runs; [`progress`]: the call's
//!   progress events, when its caller asked for them.
//! - [`replay`]: a client's retry of a write it keyed, answered from the
//!   first attempt (its result, "still running", or its unknown outcome).
//! - [`grpc`]: the thin gRPC adapter ([`grpc_service`]) and [`serve`], which
//!   runs it with the standard health service on a listener it is handed.
//!   [`MAX_MESSAGE_BYTES`] is the message size both ends must allow.
//! - [`tenancy`]: the tenant policy checked again before a call runs.
//! - [`tools`]: one module per catalogue group (data, execution, metadata,
//!   server), one file per tool or pair of tools: parse the arguments (into
//!   the argument types of `common::catalogue`, which the tool schemas are
//!   derived from), call D365FO, build the result. Nothing below `tools`
//!   imports from it.
//! - [`d365`]: D365FO's HTTP: the client with its retry policy and deadline
//!   ([`d365::client`], [`d365::retry`]), requests and whole answers
//!   ([`d365::request`]), Entra ID tokens ([`d365::auth`]), D365FO's
//!   throttle windows shared by every worker on the store
//!   ([`d365::throttle`]), error bodies ([`d365::errors`]), OData URLs
//!   ([`d365::odata`]), a created record's key from its `Location` header
//!   ([`d365::location`]), the `$batch` codec ([`d365::batch`]) and the
//!   request-id claim that sends a write at most once
//!   ([`d365::write_once`]).
//! - [`error`]: [`WorkerError`], mapped onto `common::ErrorCode`.
//!
//! Every error leaves the worker as a `ToolFailure` with its code; the edge
//! decides from the code whether a client sees an `isError` tool result.

pub mod cache;
pub mod call_log;
pub mod d365;
pub mod detached;
pub mod error;
pub mod executor;
pub mod grpc;
pub mod metadata;
pub mod metrics;
pub mod node;
pub mod progress;
pub mod replay;
pub mod tenancy;
pub mod tools;
mod watch;

pub use cache::MetadataCache;
pub use error::WorkerError;
pub use executor::Worker;
pub use grpc::{GrpcService, MAX_MESSAGE_BYTES, grpc_service, serve};
