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
//! - `routes`: the HTTP adapter: service document, collections, keyed reads
//!   and the version actions.
//! - [`app`] builds the router (pure, for `oneshot` tests); [`serve`] runs it on
//!   a listener it is handed until a shutdown future resolves.

pub mod config;
pub mod data;
pub mod error;
mod json;
pub mod odata;
mod routes;

use std::future::Future;
use std::sync::Arc;

pub use config::SimConfig;
pub use error::SimError;

/// Builds the simulator's router over freshly seeded data.
///
/// Pure apart from seeding: nothing is bound, so tests can drive the result
/// with `tower::ServiceExt::oneshot`.
pub fn app(config: SimConfig) -> axum::Router {
    let dataset = data::Dataset::seeded(config.seed);
    routes::router(Arc::new(routes::AppState::new(config, dataset)))
}

/// Serves the simulator on `listener` until `shutdown` resolves, then drains
/// in-flight requests.
///
/// Accepted sockets get `TCP_NODELAY`: small OData responses would otherwise
/// wait on Nagle's algorithm and distort latency measurements.
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: SimConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, company = %config.default_company, "D365FO simulator listening");
    }
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app(config))
        .with_graceful_shutdown(shutdown)
        .await
}
