//! `POST /message?sessionId=`: a client message, to the edge holding the
//! session's stream — this one, or another through the store.

use std::{collections::HashMap, sync::Arc};

use axum::{
    body::Bytes,
    extract::{Query, Request, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use common::{ErrorCode, Failure};
use rmcp::model::ClientJsonRpcMessage;
use tokio::sync::mpsc::error::TrySendError;

use super::{Legacy, Record, Relayed, edge_channel, record_key};
use crate::{EdgeState, auth::Principal};

/// Refuses a POST whose body is not declared JSON (415), as `/mcp` does,
/// before the body is read: a `text/plain` POST is what a cross-site form
/// can send without a preflight.
pub async fn require_json(request: Request, next: axum::middleware::Next) -> Response {
    let declared = request
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::trim);
    if declared.is_some_and(|media| media.eq_ignore_ascii_case("application/json")) {
        return next.run(request).await;
    }
    let failure = Failure::new(
        ErrorCode::InvalidRequest,
        "Unsupported Media Type: POST /message takes `Content-Type: application/json`",
    );
    let mut response = crate::error::refusal(&failure, serde_json::Value::Null);
    *response.status_mut() = StatusCode::UNSUPPORTED_MEDIA_TYPE;
    response
}

/// Hands a posted message to its session.
pub async fn post_message(
    State(state): State<EdgeState>,
    Query(query): Query<HashMap<String, String>>,
    request: Request,
) -> Response {
    let Some(session) = query.get("sessionId").filter(|s| !s.is_empty()).cloned() else {
        return error(
            ErrorCode::InvalidRequest,
            "the `sessionId` query parameter is missing; post to the endpoint the SSE stream announced",
        );
    };
    let caller = request
        .extensions()
        .get::<Principal>()
        .cloned()
        .unwrap_or_else(Principal::anonymous);
    let limit = state.config.max_body_bytes;
    let Ok(body) = axum::body::to_bytes(request.into_body(), limit).await else {
        return error(ErrorCode::InvalidRequest, "could not read the request body");
    };
    let message: ClientJsonRpcMessage = match serde_json::from_slice(&body) {
        Ok(message) => message,
        Err(e) => {
            return error(
                ErrorCode::InvalidRequest,
                &format!("the body is not a JSON-RPC message of MCP: {e}"),
            );
        }
    };
    if !crate::sessions::plausible_id(&session) {
        return unknown_session();
    }
    state.legacy.deliver(&session, &caller, message).await
}

impl Legacy {
    async fn deliver(
        &self,
        session: &str,
        caller: &Principal,
        message: ClientJsonRpcMessage,
    ) -> Response {
        if let Some((owner, inbox)) = self.held_here(session) {
            if &owner != caller {
                return unknown_session();
            }
            self.renew_owner(session, caller);
            return match inbox.try_send(message) {
                Ok(()) => StatusCode::ACCEPTED.into_response(),
                Err(TrySendError::Full(_)) => busy("the session has too many messages waiting"),
                Err(TrySendError::Closed(_)) => unknown_session(),
            };
        }
        let record = match self.store.get(&record_key(session)).await {
            Ok(Some(bytes)) => serde_json::from_slice::<Record>(&bytes).ok(),
            Ok(None) => None,
            Err(e) => return busy(&format!("the shared store is unreachable ({e})")),
        };
        let Some(record) = record.filter(|r| &r.principal == caller) else {
            return unknown_session();
        };
        let relayed = Relayed {
            session: session.to_owned(),
            message,
        };
        let Ok(payload) = serde_json::to_vec(&relayed) else {
            return error(ErrorCode::Internal, "the message could not be relayed");
        };
        match self
            .store
            .publish(&edge_channel(&record.edge), Bytes::from(payload))
            .await
        {
            Ok(0) => {
                // Nobody holds the stream any more (its edge died): the
                // record is stale.
                crate::metrics::relay(crate::metrics::Relay::NoStream);
                let _ = self.store.delete(&record_key(session)).await;
                unknown_session()
            }
            Ok(_) => {
                crate::metrics::relay(crate::metrics::Relay::Delivered);
                StatusCode::ACCEPTED.into_response()
            }
            Err(e) => busy(&format!("the shared store is unreachable ({e})")),
        }
    }

    /// Subscribes this edge to its relay channel, once; messages for its
    /// streams posted on other edges arrive there. Subscribed before the
    /// first stream is announced, so no POST relayed to it can arrive before
    /// anyone listens.
    pub(super) async fn start_relay(self: &Arc<Self>) {
        self.relay
            .get_or_init(|| async {
                let this = Arc::clone(self);
                let channel = edge_channel(&self.edge_id);
                crate::follow::follow(self.store.clone(), channel, move |payload| {
                    let this = Arc::clone(&this);
                    async move { this.hand_on(&payload) }
                })
                .await;
            })
            .await;
    }

    /// Hands a message relayed from another edge to its stream here.
    fn hand_on(&self, payload: &[u8]) {
        let Ok(relayed) = serde_json::from_slice::<Relayed>(payload) else {
            tracing::warn!("unreadable relayed legacy message dropped");
            return;
        };
        if let Some((_, inbox)) = self.held_here(&relayed.session)
            && inbox.try_send(relayed.message).is_err()
        {
            tracing::warn!(
                session = relayed.session,
                "relayed legacy message dropped: session busy or closed"
            );
        }
    }
}

fn unknown_session() -> Response {
    error(
        ErrorCode::NotFound,
        "no open legacy session with this id for this caller; open one with GET /sse",
    )
}

fn busy(reason: &str) -> Response {
    crate::error::unavailable(&format!("{reason}; retry shortly"))
}

fn error(code: ErrorCode, message: &str) -> Response {
    crate::error::refusal(&Failure::new(code, message), serde_json::Value::Null)
}
