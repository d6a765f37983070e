//! Admin routes of the Entra stand-in (no auth, like the rest of `/_sim`):
//!
//! - `POST /_sim/users/{upn}/token` with an optional JSON body
//!   `{"scope": "api://d365mcp/mcp.tools", "client_id": "…",
//!   "lifetime_secs": 3599}`: a delegated token for the user, as the
//!   password grant would give it but with no password, for any `scope`
//!   the token endpoint accepts (default: every scope of the first app
//!   exposing an API), asked by `client_id` (default: that app). A
//!   negative `lifetime_secs` gives an already expired token. 200 with the
//!   token endpoint's success body; 404 `{"error"}` for an unknown user;
//!   400 with Entra's error body for a bad scope or client.
//! - `GET /_sim/tokens`: grants since start-up by kind,
//!   `{"client_credentials","password","on_behalf_of","admin","refused"}`.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::entra::{EntraError, json_response};
use super::grants::{Client, Minter, Subject, resolve};
use super::now_secs;
use super::token::Issuer;

/// The body of `POST /_sim/users/{upn}/token`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenRequest {
    scope: Option<String>,
    client_id: Option<String>,
    lifetime_secs: Option<i64>,
}

/// `POST /_sim/users/{upn}/token`.
pub async fn token(
    State(issuer): State<Arc<Issuer>>,
    Path(upn): Path<String>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    body: Bytes,
) -> Response {
    let request: TokenRequest = if body.iter().all(u8::is_ascii_whitespace) {
        TokenRequest::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(request) => request,
            Err(e) => return error(StatusCode::BAD_REQUEST, &e.to_string()),
        }
    };
    let config = &issuer.config;
    let Some(user) = config.user(&upn) else {
        return error(StatusCode::NOT_FOUND, &format!("no user '{upn}'"));
    };
    let first_api = config.clients.iter().find(|c| c.app_id_uri.is_some());
    let scope = match (&request.scope, first_api) {
        (Some(scope), _) => scope.clone(),
        (None, Some(api)) => format!("{}/.default", api.app_id_uri.as_deref().unwrap_or_default()),
        (None, None) => {
            return error(
                StatusCode::BAD_REQUEST,
                "no app exposes an API: name a scope",
            );
        }
    };
    let client_id = request
        .client_id
        .clone()
        .or_else(|| first_api.map(|a| a.client_id.clone()))
        .unwrap_or_default();
    let now = now_secs();
    let default_lifetime = i64::try_from(config.token_lifetime_secs).unwrap_or(i64::MAX);
    let lifetime = request.lifetime_secs.unwrap_or(default_lifetime);
    // Shifted in time so that exp = now + lifetime, whatever its sign.
    let (shifted_config, minted_at) = if lifetime >= 0 {
        let mut c = config.clone();
        c.token_lifetime_secs = lifetime.unsigned_abs();
        (c, now)
    } else {
        let mut c = config.clone();
        c.token_lifetime_secs = 0;
        (c, now.saturating_sub(lifetime.unsigned_abs()))
    };
    let authority = crate::routes::base_url(&headers, &uri);
    let minter = Minter {
        config: &shifted_config,
        authority: &authority,
        now: minted_at,
    };
    let subject = Subject::of(user);
    let tenant = &config.tenant_id;
    let granted = config
        .client(&client_id)
        .ok_or_else(|| EntraError::unknown_client(&client_id, tenant))
        .and_then(|client| {
            let target = resolve(config, &scope, tenant)?;
            let client = Client {
                id: &client.client_id,
                confidential: false,
            };
            Ok((
                minter.mint(&target, client, Some(&subject))?,
                target.granted_scope(),
            ))
        });
    match granted {
        Ok((token, scope)) => {
            issuer.counts.admin.fetch_add(1, Ordering::Relaxed);
            let body = serde_json::json!({
                "token_type": "Bearer",
                "scope": scope,
                "expires_in": lifetime.max(0),
                "ext_expires_in": lifetime.max(0),
                "access_token": token,
            });
            json_response(StatusCode::OK, body.to_string())
        }
        Err(e) => e.into_response_at(now, None),
    }
}

/// `GET /_sim/tokens`.
pub async fn counts(State(issuer): State<Arc<Issuer>>) -> Response {
    let c = &issuer.counts;
    let load = |n: &std::sync::atomic::AtomicU64| n.load(Ordering::Relaxed);
    let body = serde_json::json!({
        "client_credentials": load(&c.client_credentials),
        "password": load(&c.password),
        "on_behalf_of": load(&c.on_behalf_of),
        "admin": load(&c.admin),
        "refused": load(&c.refused),
    });
    json_response(StatusCode::OK, body.to_string())
}

fn error(status: StatusCode, message: &str) -> Response {
    json_response(status, serde_json::json!({ "error": message }).to_string())
}
