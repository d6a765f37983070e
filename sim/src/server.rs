//! The accept loop: HTTP/1.1 and HTTP/2 over hyper, one task a connection.
//!
//! `axum::serve` would do, except that a handler cannot reach its
//! connection: to drop a connection without a response (a fault D365FO
//! clients must survive), each connection here gets a [`ConnMeta`] in its
//! requests' extensions whose `kill` closes the socket when notified. The
//! peer address in it is also the throttling identity of token-less callers.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tower::ServiceExt;

/// What a request knows of its connection.
#[derive(Debug, Clone)]
pub struct ConnMeta {
    /// The client's address.
    pub peer: SocketAddr,
    /// Notified to close the connection at once, without a response.
    pub kill: Arc<Notify>,
}

/// Serves `app` on `listener` until `shutdown` resolves, then waits for
/// in-flight requests to finish (idle keep-alive connections are closed).
pub async fn run(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    let builder = Builder::new(TokioExecutor::new());
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead
                    // of spinning; per-connection errors are not fatal.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Small OData responses would otherwise wait on Nagle's algorithm
        // and distort latency measurements.
        let _ = tcp.set_nodelay(true);
        let meta = ConnMeta {
            peer,
            kill: Arc::new(Notify::new()),
        };
        let kill = Arc::clone(&meta.kill);
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(meta.clone());
            let request = request.map(Body::new);
            let app = app.clone();
            async move { Ok::<_, Infallible>(app.oneshot(request).await.unwrap_or_else(|e| match e {})) }
        });
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(tcp), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            tokio::select! {
                result = connection => {
                    if let Err(e) = result {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                }
                // Dropping the connection future drops the socket: the
                // client sees the connection close with no response.
                () = kill.notified() => tracing::debug!(%peer, "dropped a connection (fault)"),
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}
