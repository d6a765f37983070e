//! A stand-in for a Microsoft Dynamics 365 Finance & Operations environment.
//!
//! The simulator serves the OData surface the worker talks to, over seeded,
//! deterministic data, so the cluster can be developed and tested without a
//! real D365FO environment. It follows the real service where its behaviour is
//! known: response and error shapes, `cross-company`, wildcard `eq`, weak ETags,
//! server-driven paging through `@odata.nextLink`.
//!
//! # Layout
//!
//! - [`config`]: [`SimConfig`], what a simulator instance is started with.
//! - [`data`]: the seeded entity sets ([`data::Dataset`]), their schemas and
//!   the key index every keyed read goes through.
//! - [`odata`]: the OData request language: query options, the `$filter`
//!   tokenizer/parser/binder/evaluator, and entity-key parsing.
//! - [`error`]: [`SimError`], rendered as D365FO error bodies.
//! - [`metadata`]: the catalogue behind `/Metadata/*`, labels, the actions
//!   served, and the EDMX of `/data/$metadata`; `pdf` writes report output.
//! - `routes`: the HTTP adapter: service document, collections, keyed reads
//!   and the version actions.
//! - [`auth`]: the Entra-style token endpoint and D365FO's bearer check.
//! - [`faults`]: latency, throttling, 5xx and dropped connections;
//!   `admin` changes them at run time (`/_sim/faults`, `/_sim/reset`) and
//!   reports the request counts of `requests` (`/_sim/requests`) and the
//!   trace context `traces` saw (`/_sim/traces`), and
//!   `gate` puts all of it in front of D365FO's endpoints (see README.md).
//! - `splitmix`: the one SplitMix64 generator behind seeded data and
//!   fault draws.
//! - [`app`] builds the router (pure, for `oneshot` tests); [`serve`] runs it on
//!   a listener it is handed until a shutdown future resolves (`server`).

mod admin;
pub mod auth;
pub mod config;
pub mod data;
pub mod error;
pub mod faults;
mod gate;
pub mod journal;
mod json;
pub mod metadata;
pub mod odata;
mod pdf;
mod requests;
mod routes;
mod server;
mod splitmix;
mod traces;

use std::future::Future;
use std::sync::Arc;

pub use config::SimConfig;
pub use error::SimError;

/// Builds the simulator's router over freshly seeded data.
///
/// Pure apart from seeding: nothing is bound, so tests can drive the result
/// with `tower::ServiceExt::oneshot`.
pub fn app(config: SimConfig) -> axum::Router {
    let (auth, faults) = (config.auth.clone(), config.faults.clone());
    let journal = config.journal.then(Arc::default);
    let finish_abandoned = config.finish_abandoned;
    let dataset = data::Dataset::generate(config.seed, config.scale);
    let upgrades = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let state = routes::AppState::new(config, dataset, Arc::clone(&upgrades));
    let d365 = routes::router(Arc::new(state));
    let app = gate::wrap(d365, auth, faults, upgrades, journal);
    if finish_abandoned {
        app.layer(axum::middleware::from_fn(finish_abandoned_requests))
    } else {
        app
    }
}

/// Runs each request to its end on a task of its own, so that a caller who
/// goes away (a timeout, a killed worker) no longer cancels it. Real D365FO
/// finishes a request whose caller left, a write included: observed of the
/// service (issue 14's chaos run), not promised by any documentation we
/// know of, so the at-most-once tests assume it. Wraps the fault gate too: a
/// request received during its injected latency is finished as well.
async fn finish_abandoned_requests(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match tokio::spawn(next.run(request)).await {
        Ok(response) => response,
        Err(e) => {
            tracing::error!(error = %e, "a request's task failed");
            axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// Serves the simulator on `listener` until `shutdown` resolves, then drains
/// in-flight requests.
///
/// Accepted sockets get `TCP_NODELAY`, and each connection can be dropped
/// mid-request by fault injection (see `server`).
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: SimConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, company = %config.default_company, "D365FO simulator listening");
    }
    serve_app(listener, app(config), shutdown).await
}

/// Serves a router built by [`app`]. Lets a caller seed the data (seconds at
/// `--scale large`) before it announces that the simulator is ready.
pub async fn serve_app(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    server::run(listener, app, shutdown).await
}
