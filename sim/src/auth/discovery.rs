//! Entra's discovery documents, so a protected resource (the edge) finds
//! the simulator's issuer and keys as it would Entra's:
//!
//! - `GET /{tenant}/v2.0/.well-known/openid-configuration`: OpenID Connect
//!   Discovery 1.0 metadata, `issuer` `{base}/{tenant}/v2.0`.
//! - `GET /{tenant}/discovery/v2.0/keys`: the JWKS.
//!
//! `{base}` is the simulator's URL as the request reached it, so the issuer
//! a client discovers is the one in the tokens it is then given from the
//! same address.

use std::sync::Arc;

use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::entra::{EntraError, json_response};
use super::token::Issuer;
use super::{issuer_v2, keys, now_secs};

/// The OpenID configuration of the tenant.
pub async fn openid_configuration(
    State(issuer): State<Arc<Issuer>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
) -> Response {
    if !tenant.eq_ignore_ascii_case(&issuer.config.tenant_id) {
        return EntraError::tenant_not_found(&tenant).into_response_at(now_secs(), None);
    }
    let base = crate::routes::base_url(&headers, &uri);
    json_response(StatusCode::OK, document(&base, &issuer.config.tenant_id))
}

/// The discovery document for `tenant` served at `base`.
pub fn document(base: &str, tenant: &str) -> String {
    let root = format!("{}/{tenant}", base.trim_end_matches('/'));
    serde_json::json!({
        "issuer": issuer_v2(base, tenant),
        // Listed because discovery requires it; not served (no browser flows).
        "authorization_endpoint": format!("{root}/oauth2/v2.0/authorize"),
        "token_endpoint": format!("{root}/oauth2/v2.0/token"),
        "jwks_uri": format!("{root}/discovery/v2.0/keys"),
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "token_endpoint_auth_methods_supported": ["client_secret_post"],
        "grant_types_supported": [
            "client_credentials",
            "password",
            super::token::JWT_BEARER,
        ],
        "claims_supported": [
            "sub", "iss", "aud", "exp", "iat", "nbf", "oid", "tid", "upn",
            "preferred_username", "name", "scp", "roles", "azp", "ver",
        ],
        "tenant_region_scope": "NA",
    })
    .to_string()
}

/// The tenant's signing keys. Entra serves them for any tenant id; so does
/// the simulator (the key is one).
pub async fn jwks(Path(_tenant): Path<String>) -> Response {
    let mut response = json_response(StatusCode::OK, keys::jwks());
    // Key sets change rarely; let verifiers cache them, as Entra does.
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("max-age=86400, private"),
    );
    response
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_document_points_at_this_simulator() {
        let doc: serde_json::Value =
            serde_json::from_str(&super::document("http://127.0.0.1:9/", "t")).unwrap();
        assert_eq!(doc["issuer"], "http://127.0.0.1:9/t/v2.0");
        assert_eq!(doc["jwks_uri"], "http://127.0.0.1:9/t/discovery/v2.0/keys");
        assert_eq!(
            doc["token_endpoint"],
            "http://127.0.0.1:9/t/oauth2/v2.0/token"
        );
    }
}
