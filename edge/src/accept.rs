//! The accept loop: HTTP/1.1 and HTTP/2 through hyper, one task a
//! connection, with the bounds a public listener needs.
//!
//! `axum::serve` keeps every connection for as long as the client likes: a
//! client trickling header bytes, or one that connects and never sends a
//! byte, holds a file descriptor until the process runs out of them and
//! stops accepting anyone. Here (settings in `common::config::bounds`):
//!
//! - a connection must send a whole request head within the header-read
//!   timeout — its first one counted from the accept (a connection that
//!   never sends a byte included), later ones by hyper's own timer, which
//!   starts when HTTP/1.1 waits for the next head: an idle HTTP/1.1
//!   keep-alive connection is closed after the header-read timeout too;
//! - a connection with no request in flight for the idle timeout is closed
//!   (an SSE stream is a request in flight for as long as it is open): what
//!   bounds an idle HTTP/2 connection;
//! - past the connection limit (lowered at start to fit the open-file
//!   limit), a new connection is answered `503` with `Retry-After` and
//!   closed, without reading its request; past that, refusals themselves are
//!   bounded and an excess connection is closed at once;
//! - an accept error (out of descriptors) backs off for a moment rather
//!   than spinning.
//!
//! TCP_NODELAY is set on every connection: without it every small SSE frame
//! waits for the peer's delayed ACK.

use std::{
    convert::Infallible,
    future::Future,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{Router, body::Body, extract::ConnectInfo};
use common::config::ConnectionLimits;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::conn::auto::Builder,
};
use tokio::{io::AsyncWriteExt, net::TcpListener, sync::Semaphore};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// File descriptors kept for everything but client connections (the store,
/// workers, logs) when the connection limit is fitted to the open-file limit.
const RESERVED_FDS: usize = 256;

/// Refusals (503 and close) written at once; beyond, a connection is closed.
const MAX_REFUSING: usize = 256;

/// How long writing a refusal may take.
const REFUSAL_WRITE: Duration = Duration::from_secs(1);

/// What every connection beyond the limit is told.
const REFUSAL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
content-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: 175\r\n\r\n\
{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32013,\"message\":\"this edge holds its most connections (D365MCP_MAX_CONNECTIONS); retry in a moment\",\"data\":{\"code\":\"unavailable\"}}}";

/// Serves `app` on `listener` within `limits` until `shutdown` resolves;
/// then stops accepting, lets each connection finish its requests, and
/// returns once all have closed. Each request carries its peer's
/// [`ConnectInfo`].
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let max = fit_to_fd_limit(limits.max_connections, open_file_limit());
    let open = Arc::new(Semaphore::new(max));
    let refusing = Arc::new(Semaphore::new(MAX_REFUSING));
    let stop = CancellationToken::new();
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let builder = Arc::new(builder);
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed; pausing accepts for 50 ms");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
        let Ok(permit) = Arc::clone(&open).try_acquire_owned() else {
            refuse(tcp, &refusing);
            continue;
        };
        let connection = Connection {
            app: app.clone(),
            builder: Arc::clone(&builder),
            limits,
            stop: stop.clone(),
            peer,
        };
        tokio::spawn(async move {
            connection.run(tcp).await;
            drop(permit);
        });
    }
    drop(listener);
    stop.cancel();
    // Every connection holds a permit until it closes.
    let _all = open.acquire_many(max as u32).await;
    Ok(())
}

/// Answers a connection beyond the limit with 503 and closes it.
fn refuse(mut tcp: tokio::net::TcpStream, refusing: &Arc<Semaphore>) {
    crate::metrics::refused(crate::metrics::Refusal::Connections);
    let Ok(permit) = Arc::clone(refusing).try_acquire_owned() else {
        return;
    };
    tokio::spawn(async move {
        let _ = tokio::time::timeout(REFUSAL_WRITE, async {
            tcp.write_all(REFUSAL).await?;
            tcp.shutdown().await
        })
        .await;
        drop(permit);
    });
}

/// One accepted connection.
struct Connection {
    app: Router,
    builder: Arc<Builder<TokioExecutor>>,
    limits: ConnectionLimits,
    stop: CancellationToken,
    peer: SocketAddr,
}

impl Connection {
    async fn run(self, tcp: tokio::net::TcpStream) {
        let activity = Arc::new(Activity::new());
        let (app, peer, seen) = (self.app, self.peer, Arc::clone(&activity));
        let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let mut request = request.map(Body::new);
            request.extensions_mut().insert(ConnectInfo(peer));
            let busy = Busy::start(&seen);
            let app = app.clone();
            async move {
                let response = app.oneshot(request).await.unwrap_or_else(|e| match e {});
                // In flight until the body is sent (or dropped): a stream
                // is never idle.
                Ok::<_, Infallible>(response.map(|body| {
                    Body::new(body.map_frame(move |frame| {
                        let _busy = &busy;
                        frame
                    }))
                }))
            }
        });
        let connection = self
            .builder
            .serve_connection_with_upgrades(TokioIo::new(tcp), service);
        tokio::pin!(connection);
        let mut stopping = false;
        loop {
            let wait = activity.idle_deadline(&self.limits);
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                    return;
                }
                () = self.stop.cancelled(), if !stopping => {
                    stopping = true;
                    connection.as_mut().graceful_shutdown();
                }
                () = sleep_until(wait) => {
                    if activity.is_idle(&self.limits) {
                        tracing::debug!(%peer, "closing an idle or slow connection");
                        return;
                    }
                }
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// Whether a connection has requests in flight, and since when it has none.
struct Activity {
    started: Instant,
    in_flight: AtomicUsize,
    /// Requests seen so far (the first one is timed by the header-read timeout).
    requests: AtomicUsize,
    /// Milliseconds after `started` when the last request ended.
    last_ms: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self {
            started: Instant::now(),
            in_flight: AtomicUsize::new(0),
            requests: AtomicUsize::new(0),
            last_ms: AtomicU64::new(0),
        }
    }

    /// When the connection becomes idle too long, if nothing happens
    /// meanwhile; `None` while a request is in flight.
    fn idle_deadline(&self, limits: &ConnectionLimits) -> Option<Instant> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            // Re-checked when the request ends (it wakes the loop through
            // no channel, so poll again after the shorter timeout).
            return Some(Instant::now() + limits.header_read_timeout);
        }
        let allowed = if self.requests.load(Ordering::Acquire) == 0 {
            limits.header_read_timeout
        } else {
            limits.idle_timeout
        };
        let last = Duration::from_millis(self.last_ms.load(Ordering::Acquire));
        Some(self.started + last + allowed)
    }

    fn is_idle(&self, limits: &ConnectionLimits) -> bool {
        self.idle_deadline(limits)
            .is_some_and(|at| self.in_flight.load(Ordering::Acquire) == 0 && at <= Instant::now())
    }
}

/// One request in flight on a connection, until dropped.
struct Busy(Arc<Activity>);

impl Busy {
    fn start(activity: &Arc<Activity>) -> Self {
        activity.requests.fetch_add(1, Ordering::AcqRel);
        activity.in_flight.fetch_add(1, Ordering::AcqRel);
        Self(Arc::clone(activity))
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        let elapsed = u64::try_from(self.0.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.0.last_ms.store(elapsed, Ordering::Release);
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The process's soft limit of open files, when the system says (Linux).
fn open_file_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// `configured` connections, or fewer when the open-file limit would stop
/// the process first (then accepts would fail instead of being refused).
fn fit_to_fd_limit(configured: usize, fd_limit: Option<usize>) -> usize {
    let Some(fds) = fd_limit else {
        return configured;
    };
    let fits = fds.saturating_sub(RESERVED_FDS).max(16);
    if fits < configured {
        tracing::warn!(
            configured,
            fits,
            open_file_limit = fds,
            "D365MCP_MAX_CONNECTIONS lowered to fit the open-file limit (raise `ulimit -n` for more)"
        );
        fits
    } else {
        configured
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_limit_fits_the_open_file_limit() {
        assert_eq!(fit_to_fd_limit(10_000, None), 10_000);
        assert_eq!(fit_to_fd_limit(10_000, Some(1_024)), 768);
        assert_eq!(fit_to_fd_limit(500, Some(1_048_576)), 500);
        assert_eq!(fit_to_fd_limit(500, Some(100)), 16);
    }

    #[test]
    fn the_refusal_is_well_formed_json_with_its_length() {
        let text = std::str::from_utf8(REFUSAL).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(
            head.contains(&format!("content-length: {}", body.len())),
            "{}",
            body.len()
        );
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(json["error"]["data"]["code"], "unavailable");
        assert_eq!(
            json["error"]["code"],
            common::ErrorCode::Unavailable.jsonrpc_code()
        );
    }
}
