//! Azure Key Vault's secret endpoint, and the managed-identity endpoint a
//! node reads it with, so that credentials kept in a vault are tested with
//! no cloud.
//!
//! - `GET /_sim/keyvault/secrets/{name}?api-version=…`: Key Vault's Get
//!   Secret below the vault URL `{sim}/_sim/keyvault`. Needs a bearer
//!   token of this simulator for the audience [`VAULT_AUDIENCE`]; answers
//!   `{"value","id","attributes"}`, or Key Vault's `{"error":{"code",
//!   "message"}}`: 401 `Unauthorized` (no token, a bad one, another
//!   audience), 404 `SecretNotFound`.
//! - `PUT /_sim/vault/secrets/{name}` with `{"value": "…"}` (admin, no
//!   auth): sets the secret, as a new version. 204.
//! - `GET /metadata/identity/oauth2/token?api-version=…&resource=…` with
//!   `Metadata: true`: Azure's instance metadata service (IMDS), a token
//!   for the managed identity [`MANAGED_IDENTITY_CLIENT_ID`] (or the
//!   `client_id` asked for).
//!
//! The vault starts with the first registered app's credentials under
//! [`DEFAULT_SECRET_NAMES`], so `d365mcp dev` can read them as shipped.
//! Error wording is guessed from Key Vault's codes (`AKV10000`,
//! `AKV10022`, `SecretNotFound`), not recorded from a real vault.

use std::sync::Arc;

use axum::Json;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;
use serde_json::json;

use super::entra::{EntraError, json_response};
use super::grants::{Client, Minter, resolve};
use super::token::Issuer;
use super::{Claims, issuer, now_secs};

/// The audience Key Vault accepts in Azure's public cloud.
pub const VAULT_AUDIENCE: &str = "https://vault.azure.net";

/// The client id of the node's managed identity when IMDS is asked for no
/// other.
pub const MANAGED_IDENTITY_CLIENT_ID: &str = "99999999-0000-4000-8000-00000000d365";

/// The secrets the vault starts with: client id, client secret, tenant id.
pub const DEFAULT_SECRET_NAMES: [&str; 3] = [
    "d365fo-client-id",
    "d365fo-client-secret",
    "d365fo-tenant-id",
];

/// Longest secret value kept (Key Vault's own limit is 25 KB).
const MAX_VALUE_BYTES: usize = 25 * 1024;

/// One secret's current version.
#[derive(Debug, Clone)]
pub struct Stored {
    value: String,
    version: String,
    updated: u64,
}

impl Stored {
    fn new(value: &str) -> Self {
        Self {
            value: value.to_owned(),
            version: uuid::Uuid::new_v4().simple().to_string(),
            updated: now_secs(),
        }
    }
}

/// Puts the first app's credentials in the vault.
pub fn seed(issuer: &Issuer) {
    let Some(app) = issuer.config.clients.first() else {
        return;
    };
    let values = [&app.client_id, &app.client_secret, &issuer.config.tenant_id];
    let mut vault = issuer.live.vault.lock();
    for (name, value) in DEFAULT_SECRET_NAMES.into_iter().zip(values) {
        vault.insert(name.to_owned(), Stored::new(value));
    }
}

/// Key Vault's error answer.
fn vault_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({"error": {"code": code, "message": message}});
    let mut response = (status, Json(body)).into_response();
    if status == StatusCode::UNAUTHORIZED {
        // Key Vault's challenge names the resource to ask a token for.
        let challenge = format!("Bearer resource=\"{VAULT_AUDIENCE}\"");
        if let Ok(value) = HeaderValue::from_str(&challenge) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
    }
    response
}

/// Checks the vault token; the refusal's message otherwise.
fn check(vault: &Issuer, headers: &HeaderMap) -> Result<(), String> {
    let token = super::bearer::bearer(headers)
        .ok_or("AKV10000: Request is missing a Bearer or PoP token.")?;
    let keys = super::keys::keys().map_err(|e| e.to_string())?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.leeway = vault.config.clock_skew_secs.min(86_400);
    validation.validate_aud = false;
    validation.set_issuer(&[issuer(&vault.config.tenant_id)]);
    let claims = jsonwebtoken::decode::<Claims>(token, &keys.decoding, &validation)
        .map_err(|e| format!("AKV10032: Invalid token: {e}."))?
        .claims;
    if claims.aud.trim_end_matches('/') != VAULT_AUDIENCE {
        return Err(format!(
            "AKV10022: Invalid audience. Expected {VAULT_AUDIENCE}, found: {}.",
            claims.aud
        ));
    }
    Ok(())
}

/// `GET /_sim/keyvault/secrets/{name}`.
pub async fn get_secret(
    State(issuer): State<Arc<Issuer>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
) -> Response {
    if let Err(message) = check(&issuer, &headers) {
        return vault_error(StatusCode::UNAUTHORIZED, "Unauthorized", &message);
    }
    let stored = issuer
        .live
        .vault
        .lock()
        .get(&name.to_ascii_lowercase())
        .cloned();
    let Some(stored) = stored else {
        let message = format!("A secret with (name/id) {name} was not found in this key vault.");
        return vault_error(StatusCode::NOT_FOUND, "SecretNotFound", &message);
    };
    let base = crate::routes::base_url(&headers, &uri);
    let body = json!({
        "value": stored.value,
        "id": format!("{base}/_sim/keyvault/secrets/{name}/{}", stored.version),
        "attributes": {
            "enabled": true,
            "created": stored.updated,
            "updated": stored.updated,
            "recoveryLevel": "Recoverable+Purgeable",
        },
    });
    (StatusCode::OK, Json(body)).into_response()
}

/// The body of `PUT /_sim/vault/secrets/{name}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewValue {
    value: String,
}

/// `PUT /_sim/vault/secrets/{name}`.
pub async fn set_secret(
    State(issuer): State<Arc<Issuer>>,
    Path(name): Path<String>,
    Json(body): Json<NewValue>,
) -> Response {
    let valid_name = (1..=127).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if !valid_name || body.value.len() > MAX_VALUE_BYTES {
        let message = "a secret name is 1 to 127 letters, digits or '-'; a value at most 25 KB";
        return vault_error(StatusCode::BAD_REQUEST, "BadParameter", message);
    }
    let stored = Stored::new(&body.value);
    issuer
        .live
        .vault
        .lock()
        .insert(name.to_ascii_lowercase(), stored);
    StatusCode::NO_CONTENT.into_response()
}

/// The query of IMDS's token request.
#[derive(Debug, Deserialize)]
pub struct ImdsQuery {
    resource: Option<String>,
    client_id: Option<String>,
}

/// `GET /metadata/identity/oauth2/token`.
pub async fn imds_token(
    State(issuer): State<Arc<Issuer>>,
    Query(query): Query<ImdsQuery>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
) -> Response {
    let now = now_secs();
    // IMDS refuses requests without the header (SSRF protection).
    let metadata = headers.get("metadata").and_then(|v| v.to_str().ok());
    if !metadata.is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        let body = json!({"error": "invalid_request", "error_description": "Required metadata header not specified"});
        return json_response(StatusCode::BAD_REQUEST, body.to_string());
    }
    let Some(resource) = query.resource.filter(|r| !r.trim().is_empty()) else {
        return EntraError::missing("resource").into_response_at(now, None);
    };
    let client_id = query
        .client_id
        .unwrap_or_else(|| MANAGED_IDENTITY_CLIENT_ID.to_owned());
    let authority = crate::routes::base_url(&headers, &uri);
    let minter = Minter {
        config: &issuer.config,
        authority: &authority,
        now,
    };
    let tenant = &issuer.config.tenant_id;
    let scope = format!("{}/.default", resource.trim_end_matches('/'));
    let client = Client {
        id: &client_id,
        confidential: true,
    };
    let minted = resolve(&issuer.config, &scope, tenant)
        .and_then(|target| minter.mint(&target, client, None));
    match minted {
        Ok(token) => {
            let lifetime = issuer.config.token_lifetime_secs;
            let body = json!({
                "access_token": token,
                "client_id": client_id,
                "expires_in": lifetime.to_string(),
                "expires_on": now.saturating_add(lifetime).to_string(),
                "ext_expires_in": lifetime.to_string(),
                "not_before": now.to_string(),
                "resource": resource,
                "token_type": "Bearer",
            });
            json_response(StatusCode::OK, body.to_string())
        }
        Err(e) => e.into_response_at(now, None),
    }
}
