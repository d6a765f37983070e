//! `/metrics` (this node) and `/metrics/cluster` (every live node, summed
//! through the shared store) in the Prometheus text format.
//!
//! [`router`] serves them without authentication: it is mounted on a
//! metrics listener of its own (`D365MCP_METRICS_LISTEN`), which the
//! network keeps private. On the edge's MCP listener the same routes ask
//! for an operator's API key when keys are configured ([`guarded`]): the
//! cluster's metrics name every tenant and environment.

use std::sync::Arc;

use axum::{
    Router,
    extract::{Request, State},
    http::{StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
    routing::get,
};
use common::{
    config::Policy,
    metrics::{self, publish},
    store::MemberStore,
};

/// The two routes over `store` (where the nodes publish their snapshots).
pub fn router(store: Arc<dyn MemberStore>) -> Router {
    Router::new()
        .route("/metrics", get(node))
        .route("/metrics/cluster", get(cluster))
        .with_state(store)
}

/// [`router`] behind the edge's authentication: an operator key, unless the
/// edge checks no keys.
pub(crate) fn guarded(
    store: Arc<dyn MemberStore>,
    auth: Arc<crate::auth::Auth>,
    policy: Arc<Policy>,
) -> Router {
    router(store).layer(axum::middleware::from_fn(
        move |request: Request, next: Next| {
            let (auth, policy) = (Arc::clone(&auth), Arc::clone(&policy));
            async move {
                let client = crate::auth::client_of(request.extensions());
                match auth.check(client, request.headers()).await {
                    Err(refusal) => *refusal,
                    // An access token is never an operator's: operators hold keys.
                    Ok(p)
                        if !auth.is_open()
                            && (p.grant.is_some()
                                || !policy.is_operator(&p.subject, &p.tenant)) =>
                    {
                        (
                            StatusCode::FORBIDDEN,
                            "metrics need an operator key (operator = true in the keys file)\n",
                        )
                            .into_response()
                    }
                    Ok(_) => next.run(request).await,
                }
            }
        },
    ))
}

async fn node() -> Response {
    text(metrics::render())
}

async fn cluster(State(store): State<Arc<dyn MemberStore>>) -> Response {
    match publish::cluster(store.as_ref()).await {
        Ok(view) => text(view.render()),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the shared store holding the cluster's metrics is unavailable: {e}\n"),
        )
            .into_response(),
    }
}

fn text(body: String) -> Response {
    ([(header::CONTENT_TYPE, metrics::TEXT_FORMAT)], body).into_response()
}
