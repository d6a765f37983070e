//! Everything that speaks D365FO's HTTP: the client with its retry policy,
//! tokens, error-body mapping and OData URL building. Tools use this module
//! and nothing below it.

pub mod auth;
pub mod client;
pub mod errors;
pub mod odata;
pub mod retry;

pub use client::{Call, D365Client};
pub use retry::{Deadline, Idempotency};
