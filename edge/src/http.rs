//! The edge's HTTP surface.

use std::{future::Future, sync::Arc};

use axum::{Json, Router, extract::State, http::StatusCode, response::IntoResponse, routing::get};
use common::{
    config::EdgeConfig,
    store::{MemoryStore, SharedStore},
};
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{EdgeError, WorkerPool, legacy::Legacy, mcp::McpHandler, sessions::Sessions};

/// Everything a request handler needs. Cheap to clone.
#[derive(Clone)]
pub struct EdgeState {
    /// Validated configuration.
    pub config: Arc<EdgeConfig>,
    /// Where tool calls go.
    pub workers: WorkerPool,
    /// State shared with the other nodes: sessions, stream events, rate
    /// limits. In memory (this process only) unless Redis is configured.
    pub store: SharedStore,
    /// MCP sessions, kept in `store`.
    pub sessions: Arc<Sessions>,
    /// Legacy HTTP+SSE sessions (2024-11-05) streamed from this edge.
    pub legacy: Arc<Legacy>,
    /// `subscriptions/listen` streams open on this edge.
    pub listeners: Arc<crate::listen::Listeners>,
    /// Cancelled at shutdown: ends open MCP sessions and SSE streams.
    pub shutdown: CancellationToken,
    /// Tool calls in flight, and the drain that waits for them.
    pub drain: Arc<crate::drain::Drain>,
}

impl EdgeState {
    /// State for `config` dispatching to `workers`, with a store of its own.
    pub fn new(config: EdgeConfig, workers: WorkerPool) -> Self {
        Self::shared(config, workers, Arc::new(MemoryStore::new()))
    }

    /// State for `config` dispatching to `workers`, sharing `store` with
    /// other nodes (or, in `dev`, with the in-process worker).
    pub fn shared(config: EdgeConfig, workers: WorkerPool, store: SharedStore) -> Self {
        // Every family of the edge reads 0 from start-up, not "absent".
        crate::metrics::register();
        workers.publish_health();
        let sessions = Arc::new(Sessions::new(
            store.clone(),
            config.session_idle_timeout,
            config.session_evict_after,
            config.session_caps,
        ));
        Self {
            config: Arc::new(config),
            workers,
            legacy: Legacy::new(store.clone()),
            listeners: crate::listen::Listeners::new(store.clone(), Arc::clone(&sessions)),
            store,
            sessions,
            shutdown: CancellationToken::new(),
            drain: crate::drain::Drain::new(),
        }
    }
}

/// The MCP server an edge runs for each session and stateless request.
///
/// The product's is [`McpHandler`] (the D365FO catalogue); the conformance
/// tests plug in the suite's reference fixture instead, so that it is served
/// through this same HTTP stack (auth, guards, sessions, limits, legacy).
/// A handler calls [`crate::Notifier::session_initialized`] from its
/// `on_initialized`, and sends notifications that belong to no request
/// through a [`crate::Notifier`], so that they reach a session's stream on
/// whichever edge holds it.
pub trait Handler: rmcp::ServerHandler + Clone + Send + Sync + 'static {
    /// Whether the handler sends the client requests during a call
    /// (elicitation, sampling, roots): only then are a session's answers
    /// relayed between edges (`sessions::answers`). The D365FO tools ask
    /// The D365FO handler asks for confirmations (`confirm`).
    const ASKS_CLIENT: bool = false;

    /// The handler of one session (or stateless request) on `state`'s edge.
    fn for_edge(state: &EdgeState) -> Self;
}

impl Handler for McpHandler {
    // A change to existing data may wait for its user's confirmation
    // (`confirm`), whose answer may reach another edge.
    const ASKS_CLIENT: bool = true;

    fn for_edge(state: &EdgeState) -> Self {
        McpHandler::new(state.clone())
    }
}

/// The edge's router: MCP at `/mcp`, `/health`, `/ready`, and `/metrics`
/// unless they have a listener of their own.
pub fn app(state: EdgeState) -> Router {
    app_with::<McpHandler>(state)
}

/// The edge's router serving `H` in place of the D365FO handler.
pub fn app_with<H: Handler>(state: EdgeState) -> Router {
    let config = &state.config;
    // Host and Origin are checked by `origin::check` for every route, with a
    // JSON-RPC answer; rmcp's own checks would answer /mcp in plain text.
    let mut mcp_config = StreamableHttpServerConfig::default()
        .disable_allowed_hosts()
        .with_max_request_body_bytes(config.max_body_bytes)
        // A stateless answer as one JSON body with a length rather than a
        // chunked SSE stream of one event: less work per call on both ends
        // (rmcp falls back to SSE when progress comes before the result).
        // 2025 sessions keep SSE, whose events are logged for resumption.
        .with_json_response(true)
        .with_cancellation_token(state.shutdown.child_token());
    mcp_config.session_store = Some(state.sessions.records());
    state.sessions.relay_answers(H::ASKS_CLIENT);
    let handler_state = state.clone();
    let mcp = StreamableHttpService::new(
        move || Ok(H::for_edge(&handler_state)),
        Arc::clone(&state.sessions),
        mcp_config,
    );
    let limiter = Arc::new(crate::limits::Limiter::new(
        config.rate_limits.clone(),
        state.store.clone(),
    ));
    // The layers of /mcp, outermost first: `origin::check`, then
    // `auth::authenticate`, `sessions::gate`, `guard::jsonrpc_body`,
    // `auth::resource::require_scope`, `limits::enforce`, `drain::shed`,
    // `listing::splice`, rmcp. Why in that order:
    // - a foreign Origin or Host is refused before anything else runs, so a
    //   cross-site page learns nothing, not even whether a key is valid;
    // - authentication comes before the session gate, which checks that the
    //   session belongs to the caller (the `Principal`);
    // - the gate needs only headers, so an unknown session is refused
    //   before the body (up to D365MCP_MAX_BODY_BYTES) is read;
    // - the body guard parses the body once; the limits read what it found
    //   (`RpcRequest`: id and tool) and so come after it; on the way out the
    //   guard also turns rmcp's plain-text refusals into JSON-RPC errors;
    // - a token's scope is checked against the tool the guard found, before
    //   a call it may not make costs the caller any of its limits;
    // - the caller's own limits come before the edge's load shedding, so a
    //   caller over its limit hears so (429) rather than "edge busy" (503);
    // - a request refused by a limit costs no listing work: the splice sits
    //   innermost, next to the rmcp answer it reads back.
    let shedding = (Arc::clone(&state.drain), config.max_calls_in_flight);
    let auth = crate::auth::Auth::new(config);
    // One tower stack, not one `Router::layer` per middleware: a router
    // boxes each layer it is given, and every request then cloned the boxed
    // stack level by level (73 boxed clones and their allocations a call,
    // 11 % of an edge's instructions: loadtest/bench/instructions.sh).
    // `ServiceBuilder` lists the layers outermost first.
    let stack = tower::ServiceBuilder::new()
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&auth),
            crate::auth::authenticate,
        ))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state.sessions),
            crate::sessions::gate,
        ))
        .layer(axum::middleware::from_fn_with_state(
            config.max_body_bytes,
            crate::guard::jsonrpc_body,
        ))
        // A token's scope is read with the tool the guard found.
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&auth),
            crate::auth::resource::require_scope,
        ))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&limiter),
            crate::limits::enforce,
        ))
        // After the limits: a request they refuse takes no session slot.
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state.sessions),
            crate::sessions::claim,
        ))
        .layer(axum::middleware::from_fn_with_state(
            shedding.clone(),
            crate::drain::shed,
        ))
        .layer(axum::middleware::from_fn(crate::listing::splice))
        .map_response(IntoResponse::into_response)
        .service(mcp);
    let mcp = Router::new().fallback_service(stack);
    let legacy = Router::new()
        .route(
            "/sse",
            get(crate::legacy::open_stream::<H>).layer(axum::middleware::from_fn_with_state(
                Arc::clone(&limiter),
                crate::limits::enforce_stream,
            )),
        )
        .route(
            "/message",
            axum::routing::post(crate::legacy::post_message)
                .layer(axum::middleware::from_fn_with_state(
                    shedding,
                    crate::drain::shed,
                ))
                .layer(axum::middleware::from_fn_with_state(
                    limiter,
                    crate::limits::enforce,
                ))
                .layer(axum::middleware::from_fn_with_state(
                    Arc::clone(&auth),
                    crate::auth::resource::require_scope,
                ))
                .layer(axum::middleware::from_fn_with_state(
                    config.max_body_bytes,
                    crate::guard::jsonrpc_body,
                ))
                // Before the body is read, as on /mcp.
                .layer(axum::middleware::from_fn(crate::legacy::require_json)),
        )
        .layer(axum::middleware::from_fn(crate::refusals::as_jsonrpc))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&auth),
            crate::auth::authenticate,
        ));
    let allowed = crate::origin::Allowed::new(&config.allowed_hosts, &config.allowed_origins);
    let checked = |router: Router<EdgeState>| {
        router.layer(axum::middleware::from_fn_with_state(
            Arc::clone(&allowed),
            crate::origin::check,
        ))
    };
    // Not behind the Host check: Prometheus names a pod by its address,
    // which no allowed-hosts list holds; an operator key guards them instead.
    let scrape = config.metrics_on_listener.then(|| {
        crate::scrape::guarded(
            state.store.clone(),
            Arc::clone(&auth),
            Arc::new(config.policy.clone()),
        )
    });
    // Public discovery: outside the Host/Origin check and authentication.
    let metadata = Router::new()
        .route(
            crate::auth::resource::METADATA_PATH,
            get(crate::auth::resource::serve_metadata),
        )
        .route(
            &format!("{}/{{*resource}}", crate::auth::resource::METADATA_PATH),
            get(crate::auth::resource::serve_metadata),
        )
        .with_state(Arc::clone(&auth));
    let router = Router::new()
        .nest("/mcp", checked(mcp))
        .merge(checked(legacy))
        .route("/health", get(health))
        .route("/ready", get(ready).layer(axum::Extension(auth)))
        .with_state(state)
        .merge(metadata);
    match scrape {
        Some(scrape) => router.merge(scrape),
        None => router,
    }
}

/// Serves [`app`] on `listener` until `shutdown` resolves, then drains.
pub async fn serve(
    listener: TcpListener,
    state: EdgeState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), EdgeError> {
    serve_with::<McpHandler>(listener, state, shutdown).await
}

/// [`serve`] with `H` in place of the D365FO handler ([`app_with`]).
pub async fn serve_with<H: Handler>(
    listener: TcpListener,
    state: EdgeState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), EdgeError> {
    let stop = state.shutdown.clone();
    let health_checks = state
        .workers
        .spawn_health_checks(state.config.health_interval, stop.clone());
    let connections = state.config.connections;
    let (drain, drain_timeout) = (Arc::clone(&state.drain), state.config.drain_timeout);
    // From the signal on, no connection is accepted and `/ready` fails; the
    // calls in flight get the drain's time, then the sessions and streams
    // end so that the graceful shutdown can finish.
    let (signalled, signal) = tokio::sync::oneshot::channel::<()>();
    let draining = tokio::spawn(async move {
        if signal.await.is_ok() {
            let abandoned = drain.run(drain_timeout).await;
            tracing::info!(abandoned, "drained; ending sessions and streams");
        }
        stop.cancel();
    });
    // Each request carries its peer's address (`ConnectInfo`): failed
    // authentications are counted per client.
    let result = crate::accept::serve(listener, app_with::<H>(state), connections, async move {
        shutdown.await;
        let _ = signalled.send(());
    })
    .await;
    // The abandoned calls' answers may still be on their way to the store
    // (a 2025 session's event log): let the drain finish, bounded.
    let _ = tokio::time::timeout(drain_timeout + std::time::Duration::from_secs(2), draining).await;
    health_checks.abort();
    result.map_err(EdgeError::from)
}

async fn health() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// Readiness: to anyone, the status word alone (a load balancer needs no
/// more, and worker URLs and store errors are a map of the cluster); to a
/// caller with a valid key (anyone, on an edge with no keys) also each
/// worker, the store and the failed authentications.
async fn ready(
    State(state): State<EdgeState>,
    axum::Extension(auth): axum::Extension<Arc<crate::auth::Auth>>,
    request: axum::extract::Request,
) -> impl IntoResponse {
    let workers = state.workers.status();
    let draining = state.drain.is_draining();
    let ready = !draining && workers.iter().any(|w| w.healthy);
    let store = probe_store(&state).await;
    // An unreachable store degrades sessions, not stateless calls: the edge
    // stays ready (taking every edge out of a load balancer at once during a
    // Redis outage would stop everything) and says so.
    let (word, detail) = match (ready, &store) {
        (false, _) if draining => ("not ready", "draining for shutdown".to_owned()),
        (false, _) => ("not ready", "no healthy worker".to_owned()),
        (true, Err(e)) => ("degraded", format!("shared store unreachable ({e})")),
        (true, Ok(_)) => ("ready", String::new()),
    };
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    // Only a request that presents a credential is checked (and, when it is
    // wrong, counted): a probe without one is simply answered briefly.
    let presents = ["authorization", "x-api-key"]
        .iter()
        .any(|h| request.headers().contains_key(*h));
    let client = crate::auth::client_of(request.extensions());
    let authenticated =
        auth.is_open() || (presents && auth.check(client, request.headers()).await.is_ok());
    if !authenticated {
        return (code, Json(json!({ "status": word })));
    }
    let status = if detail.is_empty() {
        word.to_owned()
    } else {
        format!("{word}: {detail}")
    };
    let body = json!({
        "status": status,
        "workers": workers.iter().map(|w| json!({
            "url": w.url,
            "healthy": w.healthy,
            "in_flight": w.in_flight,
        })).collect::<Vec<_>>(),
        "store": match &store {
            Ok(ms) => json!({"reachable": true, "latency_ms": ms}),
            Err(e) => json!({"reachable": false, "error": e}),
        },
        "auth": auth.counts(),
    });
    (code, Json(body))
}

/// One read from the shared store: its round trip in milliseconds, or why not.
async fn probe_store(state: &EdgeState) -> Result<f64, String> {
    let started = std::time::Instant::now();
    match tokio::time::timeout(
        std::time::Duration::from_secs(1),
        state.store.get("d365mcp:ready:probe"),
    )
    .await
    {
        Ok(Ok(_)) => Ok(started.elapsed().as_secs_f64() * 1000.0),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("no answer within 1 s".into()),
    }
}
