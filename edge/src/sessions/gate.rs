//! The gate in front of rmcp for requests that name a session.

use std::sync::Arc;

use axum::middleware::Next;
use axum::{
    extract::{Request, State},
    http::{Method, StatusCode},
    response::{IntoResponse, Response},
};
use common::{ErrorCode, Failure};
use rmcp::transport::streamable_http_server::session::SessionId;

use super::Sessions;
use crate::auth::Principal;

const SESSION_HEADER: &str = "mcp-session-id";

/// Lets a request through only for a live session of its caller.
///
/// - No `Mcp-Session-Id`: through (stateless, or an `initialize`).
/// - Session unknown, ended, expired, or owned by another principal: 404
///   (the client opens a new session). The same answer for all four, so a
///   session id reveals nothing to another caller.
/// - DELETE of a live session: ends it in the store (every edge answers 404
///   from then on), drops this edge's copy, 204 (not rmcp's 202, which the
///   Python SDK and most HTTP clients do not read as success).
/// - Store unreachable: through if this edge holds the session in memory,
///   else 503 (retry).
pub async fn gate(
    State(sessions): State<Arc<Sessions>>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(id) = session_id(&request) else {
        return next.run(request).await;
    };
    if !plausible_id(&id) {
        // Never issued here: no need to ask the store.
        return not_found();
    }
    let id: SessionId = id.into();
    let caller = request
        .extensions()
        .get::<Principal>()
        .cloned()
        .unwrap_or_else(Principal::anonymous);
    let slots = match sessions.records.touch(&id).await {
        Ok(Some(record)) if record.principal == caller => {
            request
                .extensions_mut()
                .insert(crate::logging::SessionLevel(record.log_level));
            record.slots
        }
        Ok(Some(_)) => {
            tracing::info!(session = %id, caller = %caller.subject, "session presented by a principal that does not own it");
            return not_found();
        }
        Ok(None) => {
            // Ended elsewhere (or expired): drop the copy held here.
            sessions
                .forget(&id, crate::metrics::EndReason::Expired)
                .await;
            return not_found();
        }
        Err(e) => {
            if sessions.held_here(&id) && request.method() != Method::DELETE {
                tracing::warn!(session = %id, error = %e, "shared store unreachable; serving the session held here");
                return next.run(request).await;
            }
            return unavailable(&e.to_string());
        }
    };
    if request.method() == Method::DELETE {
        return match sessions.records.end(&id).await {
            Ok(_) => {
                if let Some(slots) = slots {
                    sessions.caps.release(&caller, slots).await;
                }
                sessions
                    .forget(&id, crate::metrics::EndReason::Deleted)
                    .await;
                StatusCode::NO_CONTENT.into_response()
            }
            Err(e) => unavailable(&e.to_string()),
        };
    }
    if let Some(slots) = slots {
        // The slots live as long as the record: renewed with it, off the
        // request's path.
        let caps = std::sync::Arc::clone(&sessions.caps);
        tokio::spawn(async move { caps.renew(&caller, slots).await });
    }
    next.run(request).await
}

/// Takes a slot of the caller's session caps for an `initialize` that
/// opens a session; refuses it (429, `rate_limited`, `data.limit` naming
/// the cap) when the caller's key or tenant holds its most sessions. The
/// slot is given back when the session is not opened after all (the answer
/// names no session).
pub async fn claim(
    State(sessions): State<Arc<Sessions>>,
    mut request: Request,
    next: Next,
) -> Response {
    if request.extensions().get::<super::OpensSession>().is_none() || session_id(&request).is_some()
    {
        return next.run(request).await;
    }
    let caller = request
        .extensions()
        .get::<Principal>()
        .cloned()
        .unwrap_or_else(Principal::anonymous);
    match sessions.caps.claim(&caller).await {
        Err((failure, scope)) => {
            let id = request
                .extensions()
                .get::<crate::limits::RpcRequest>()
                .map_or(serde_json::Value::Null, |r| r.id.clone());
            crate::error::refusal_with(&failure, id, |data| {
                data.insert("limit".into(), scope.sessions().into());
            })
        }
        Ok(None) => next.run(request).await,
        Ok(Some(slots)) => {
            request.extensions_mut().insert(slots);
            let response = next.run(request).await;
            if !response.headers().contains_key(SESSION_HEADER) {
                sessions.caps.release(&caller, slots).await;
            }
            response
        }
    }
}

fn session_id(request: &Request) -> Option<String> {
    let value = request.headers().get(SESSION_HEADER)?.to_str().ok()?.trim();
    (!value.is_empty()).then(|| value.to_owned())
}

/// Whether `id` could be a session id this cluster issued (a UUID, as rmcp
/// and the legacy transport make them); anything else is unknown without
/// a store lookup, and never becomes part of a store key.
pub fn plausible_id(id: &str) -> bool {
    id.len() == 36 && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

fn not_found() -> Response {
    let failure = Failure::new(
        ErrorCode::NotFound,
        "session not found: it ended, expired or was never opened by this caller; \
         send `initialize` without Mcp-Session-Id to open a new one",
    );
    crate::error::refusal(&failure, serde_json::Value::Null)
}

fn unavailable(reason: &str) -> Response {
    crate::error::unavailable(&format!(
        "sessions are unavailable for a moment ({reason}); retry shortly"
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_uuid_shaped_ids_are_looked_up() {
        assert!(super::plausible_id("3b398d5d-734a-4ab3-acad-de16ee947a76"));
        for bad in [
            "",
            "abc",
            "3b398d5d-734a-4ab3-acad-de16ee947a7g",
            &"a".repeat(4096),
        ] {
            assert!(!super::plausible_id(bad), "{bad}");
        }
    }
}
