//! The middleware in front of D365FO's endpoints, and the router around it.
//!
//! Every request to `/data`, `/Metadata` or `/api` is counted by path (for
//! `GET /_sim/requests`) and its trace context recorded (for
//! `GET /_sim/traces`), then passes, in order: the bearer check (401),
//! throttling (429, holding a concurrency slot until the response is done),
//! added latency, then an injected fault (drop, 500, 502, 503) or the real
//! handler. With auth mode `None` and no fault configured, the gate is the
//! count (an atomic add and a short, usually uncontended lock), the trace
//! record (another such lock, when the request has a `traceparent`) and
//! one atomic load and a branch.
//!
//! The token endpoint and the admin API are merged beside the gated router,
//! so faults never reach them.

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;

use crate::admin::{self, Control};
use crate::auth::bearer::{Caller, Verifier, unauthorized};
use crate::auth::{AuthConfig, AuthMode};
use crate::faults::FaultConfig;
use crate::faults::inject::{Faults, Outcome, error_response, throttled};
use crate::journal::Journal;
use crate::requests::RequestLog;
use crate::server::ConnMeta;

/// Puts the gate in front of `d365` (D365FO's routes) and merges in the
/// token endpoint and the admin API.
pub(crate) fn wrap(
    d365: Router,
    auth: AuthConfig,
    faults: FaultConfig,
    upgrades: Arc<std::sync::atomic::AtomicU32>,
    journal: Option<Arc<Journal>>,
) -> Router {
    // Innermost, so only writes that passed auth, throttling and faults
    // (and so reached the application) are journaled.
    let d365 = match &journal {
        Some(journal) => d365.layer(middleware::from_fn_with_state(
            Arc::clone(journal),
            crate::journal::record,
        )),
        None => d365,
    };
    let live = Arc::new(crate::auth::live::Live::default());
    let control = Arc::new(Control {
        verifier: Verifier::new(&auth).with_live(Arc::clone(&live)),
        faults: Faults::new(faults),
        requests: RequestLog::default(),
        traces: Default::default(),
        upgrades,
        journal,
    });
    let tokens = crate::auth::router(auth, live);
    d365.layer(middleware::from_fn_with_state(Arc::clone(&control), gate))
        .merge(tokens)
        .merge(admin::router(control))
}

/// Whether `path` is one of D365FO's gated endpoints (first segment
/// `data`, `Metadata` or `api`, in any letter case, as IIS matches them).
fn is_d365(path: &str) -> bool {
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    ["data", "metadata", "api"]
        .iter()
        .any(|p| first.eq_ignore_ascii_case(p))
}

async fn gate(State(control): State<Arc<Control>>, request: Request, next: Next) -> Response {
    if !is_d365(request.uri().path()) {
        return next.run(request).await;
    }
    // Counted before anything can refuse it: the count is what clients sent.
    control.requests.record(request.uri().path());
    control
        .traces
        .record(request.method(), request.uri().path(), request.headers());
    if control.verifier.mode() == AuthMode::None && !control.faults.is_active() {
        return next.run(request).await;
    }
    let base = crate::routes::base_url(request.headers(), request.uri());
    let mut request = request;
    let caller = match control.verifier.check(request.headers(), &base) {
        Ok(Some(principal)) => {
            let caller = principal.caller.clone();
            // Read by the write handlers (`routes::write`).
            request.extensions_mut().insert(principal);
            Some(caller)
        }
        Ok(None) => None,
        Err(why) => {
            tracing::debug!(%why, path = request.uri().path(), "refused a request: 401");
            return unauthorized();
        }
    };
    if !control.faults.is_active() {
        return next.run(request).await;
    }
    let faults = &control.faults;
    let config = faults.current();
    let throttling = config.throttle.requests.is_some() || config.throttle.concurrency.is_some();
    let _slot = if throttling {
        let caller = caller.unwrap_or_else(|| peer_identity(&request));
        match faults
            .throttler
            .admit(&caller, &config.throttle, Instant::now())
        {
            Ok(slot) => Some(slot),
            Err(refusal) => return throttled(&refusal),
        }
    } else {
        None
    };
    let delay = faults.latency(&config);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    match faults.outcome(&config) {
        Outcome::Pass => next.run(request).await,
        Outcome::Drop => drop_connection(request).await,
        other => match error_response(other) {
            Some(response) => response,
            None => next.run(request).await,
        },
    }
}

/// The client's IP, for callers without a verified token (and every caller
/// in auth modes `none` and `any-token`); one identity for all when the app
/// runs without a server (router tests).
fn peer_identity(request: &Request) -> Caller {
    match request.extensions().get::<ConnMeta>() {
        Some(meta) => Caller(format!("ip:{}", meta.peer.ip())),
        None => Caller("anonymous".to_owned()),
    }
}

/// Closes the request's connection without a response. Under
/// [`crate::serve`] the connection task drops the socket and this future
/// with it; without a server, a body that fails at once makes hyper (or the
/// test) see an aborted response.
async fn drop_connection(request: Request) -> Response {
    // Taken out first: a `&Request` held across an await is not `Send`.
    let kill = request
        .extensions()
        .get::<ConnMeta>()
        .map(|meta| Arc::clone(&meta.kill));
    drop(request);
    if let Some(kill) = kill {
        kill.notify_one();
        std::future::pending::<()>().await;
    }
    Response::new(Body::new(AbortBody))
}

/// A response body that fails on its first read.
struct AbortBody;

impl http_body::Body for AbortBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
        Poll::Ready(Some(Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "connection dropped by fault injection",
        ))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gated_paths() {
        for p in [
            "/data",
            "/data/CustomersV3",
            "/Metadata/DataEntities",
            "/METADATA",
            "/api/services/x",
        ] {
            assert!(is_d365(p), "{p}");
        }
        for p in [
            "/",
            "/_sim/faults",
            "/t/oauth2/v2.0/token",
            "/database",
            "/apis",
        ] {
            assert!(!is_d365(p), "{p}");
        }
    }
}
