//! What a test changes in the directory while the simulator runs: an app
//! registration's client secret (rotation), the tokens D365FO then refuses,
//! and the secrets of the Key Vault stand-in ([`super::vault`]).
//!
//! Admin route (no auth, like the rest of `/_sim`):
//!
//! - `POST /_sim/clients/{client_id}/secret` with
//!   `{"secret": "…", "revoke_tokens": true}`: the app's client secret
//!   becomes `secret`, so the old one gets Entra's AADSTS7000215; with
//!   `revoke_tokens`, D365FO answers 401 to the app-only tokens issued to
//!   the app before (as when an administrator revokes the app's sessions).
//!   204; 404 for an unknown client; 400 for an empty secret.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;
use serde::Deserialize;

use super::token::Issuer;

/// App-only tokens remembered per client, for revocation; older ones are
/// forgotten (and so stay valid), which a test never reaches.
const REMEMBERED_PER_CLIENT: usize = 256;

/// Most revoked tokens kept; past it the oldest revocations are dropped.
const MAX_REVOKED: usize = 16 * 1024;

/// The directory's changes since start-up, shared by the token endpoint,
/// the bearer check and the vault.
#[derive(Debug, Default)]
pub struct Live {
    /// Rotated client secrets, by lower-cased client id.
    secrets: Mutex<HashMap<String, String>>,
    /// App-only tokens issued, by lower-cased client id, newest last.
    issued: Mutex<HashMap<String, VecDeque<String>>>,
    /// Tokens D365FO refuses.
    revoked: Mutex<(HashSet<String>, VecDeque<String>)>,
    /// The vault's secrets, by name (case-insensitive, as Key Vault's).
    pub(super) vault: Mutex<HashMap<String, super::vault::Stored>>,
}

impl Live {
    /// The client's secret if it was rotated.
    pub fn secret_of(&self, client_id: &str) -> Option<String> {
        self.secrets
            .lock()
            .get(&client_id.to_ascii_lowercase())
            .cloned()
    }

    /// Remembers an app-only token issued to `client_id`.
    pub fn issued(&self, client_id: &str, token: &str) {
        let mut issued = self.issued.lock();
        let tokens = issued.entry(client_id.to_ascii_lowercase()).or_default();
        if tokens.len() >= REMEMBERED_PER_CLIENT {
            tokens.pop_front();
        }
        tokens.push_back(token.to_owned());
    }

    /// Whether D365FO refuses `token`.
    pub fn is_revoked(&self, token: &str) -> bool {
        self.revoked.lock().0.contains(token)
    }

    /// Rotates the client's secret; with `revoke`, its tokens so far are
    /// refused.
    fn rotate(&self, client_id: &str, secret: &str, revoke: bool) {
        let id = client_id.to_ascii_lowercase();
        self.secrets.lock().insert(id.clone(), secret.to_owned());
        if !revoke {
            return;
        }
        let tokens = self.issued.lock().remove(&id).unwrap_or_default();
        let mut revoked = self.revoked.lock();
        for token in tokens {
            if revoked.1.len() >= MAX_REVOKED
                && let Some(oldest) = revoked.1.pop_front()
            {
                revoked.0.remove(&oldest);
            }
            if revoked.0.insert(token.clone()) {
                revoked.1.push_back(token);
            }
        }
    }
}

/// The body of `POST /_sim/clients/{client_id}/secret`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rotation {
    secret: String,
    #[serde(default)]
    revoke_tokens: bool,
}

/// `POST /_sim/clients/{client_id}/secret`.
pub async fn rotate(
    State(issuer): State<Arc<Issuer>>,
    Path(client_id): Path<String>,
    Json(rotation): Json<Rotation>,
) -> Response {
    if issuer.config.client(&client_id).is_none() {
        let body = serde_json::json!({"error": format!("no client '{client_id}'")});
        return (StatusCode::NOT_FOUND, Json(body)).into_response();
    }
    if rotation.secret.is_empty() {
        let body = serde_json::json!({"error": "the new secret is empty"});
        return (StatusCode::BAD_REQUEST, Json(body)).into_response();
    }
    issuer
        .live
        .rotate(&client_id, &rotation.secret, rotation.revoke_tokens);
    StatusCode::NO_CONTENT.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_replaces_the_secret_and_revokes_what_was_issued() {
        let live = Live::default();
        live.issued("App", "t1");
        live.rotate("app", "new", false);
        assert_eq!(live.secret_of("APP").as_deref(), Some("new"));
        assert!(!live.is_revoked("t1"));
        live.issued("app", "t2");
        live.rotate("app", "newer", true);
        assert!(live.is_revoked("t1") && live.is_revoked("t2"));
        live.issued("app", "t3");
        assert!(!live.is_revoked("t3"));
    }
}
