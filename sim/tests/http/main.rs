//! Behaviour of the simulator over real HTTP: each module starts a
//! simulator on `127.0.0.1:0` and talks to it with reqwest, as a D365FO
//! client would.

// Tests fail loudly on anything unexpected.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod actions;
mod auth;
mod batch;
mod data;
mod entra;
mod faults;
mod journal;
mod metadata;
mod requests;
mod services;
mod support;
mod traces;
mod values;
