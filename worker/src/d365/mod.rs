//! Everything that speaks D365FO's HTTP: the client with its retry policy,
//! tokens, the throttle window and the circuit breaker shared through the
//! store, error-body mapping and OData URL building, the `$batch` codec,
//! the guard that sends a write at most once per call, and the span (and
//! W3C `traceparent`) of each request. Tools use this
//! module and nothing below it.

pub mod auth;
pub mod batch;
pub mod breaker;
pub mod client;
pub mod errors;
mod identity;
mod listener;
pub mod location;
pub mod odata;
pub mod request;
pub mod retry;
pub mod throttle;
mod trace;
mod transport;
pub mod write_once;

pub use client::{Call, D365Client};
pub use request::{Answer, Body, Request};
pub use retry::{Deadline, Idempotency};
pub use write_once::{Settled, WriteOnce};
