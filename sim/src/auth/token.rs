//! `POST /{tenant}/oauth2/v2.0/token`: Entra ID's client-credentials grant.
//!
//! The request is a form (`grant_type=client_credentials`, `client_id`,
//! `client_secret`, `scope={resource}/.default`); the answer is
//! `{"token_type":"Bearer","expires_in","ext_expires_in","access_token"}` or
//! one of Entra's error bodies ([`super::entra`]). Checks run in the order
//! Entra reports them: the tenant, missing parameters, the grant type, the
//! client and its secret, then the scope and its resource.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use percent_encoding::percent_decode_str;

use super::entra::EntraError;
use super::{AuthConfig, Claims, issuer, now_secs, object_id};
use crate::json;

/// The form fields of a token request, percent-decoded.
#[derive(Debug, Default)]
struct TokenForm {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    scope: Option<String>,
}

impl TokenForm {
    /// Parses `application/x-www-form-urlencoded`; a field given twice keeps
    /// its first value, a malformed pair is skipped (Entra then reports the
    /// parameter as missing).
    fn parse(body: &[u8]) -> Self {
        let mut form = Self::default();
        let text = String::from_utf8_lossy(body);
        for pair in text.split('&') {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let Some(value) = decode(value) else { continue };
            let slot = match decode(name).as_deref() {
                Some("grant_type") => &mut form.grant_type,
                Some("client_id") => &mut form.client_id,
                Some("client_secret") => &mut form.client_secret,
                Some("scope") => &mut form.scope,
                _ => continue,
            };
            if slot.is_none() && !value.is_empty() {
                *slot = Some(value);
            }
        }
        form
    }
}

fn decode(s: &str) -> Option<String> {
    let spaced = s.replace('+', " ");
    percent_decode_str(&spaced)
        .decode_utf8()
        .ok()
        .map(|d| d.into_owned())
}

/// Issues tokens for one simulator.
pub struct Issuer {
    config: AuthConfig,
    key: EncodingKey,
}

impl Issuer {
    /// An issuer for `config`, signing with its HMAC key.
    pub fn new(config: AuthConfig) -> Self {
        let key = EncodingKey::from_secret(config.signing_key.as_bytes());
        Self { config, key }
    }

    /// The access token for a checked request, or an Entra error.
    fn grant(&self, tenant: &str, form: &TokenForm, now: u64) -> Result<String, EntraError> {
        let config = &self.config;
        if !tenant.eq_ignore_ascii_case(&config.tenant_id) {
            return Err(EntraError::tenant_not_found(tenant));
        }
        let grant = form
            .grant_type
            .as_deref()
            .ok_or_else(|| EntraError::missing("grant_type"))?;
        if grant != "client_credentials" {
            return Err(EntraError::unsupported_grant(grant));
        }
        let client_id = form
            .client_id
            .as_deref()
            .ok_or_else(|| EntraError::missing("client_id"))?;
        let scope = form
            .scope
            .as_deref()
            .ok_or_else(|| EntraError::missing("scope"))?;
        let client = config
            .clients
            .iter()
            .find(|c| c.client_id.eq_ignore_ascii_case(client_id))
            .ok_or_else(|| EntraError::unknown_client(client_id, tenant))?;
        let secret = form
            .client_secret
            .as_deref()
            .ok_or_else(EntraError::missing_secret)?;
        if secret != client.client_secret {
            return Err(EntraError::bad_secret(&client.client_id));
        }
        let resource = scope
            .trim()
            .strip_suffix("/.default")
            .filter(|r| !r.contains(char::is_whitespace))
            .ok_or_else(|| EntraError::bad_scope(scope.trim()))?;
        if !is_http_url(resource) {
            return Err(EntraError::unknown_resource(resource, tenant));
        }
        self.sign(resource, &client.client_id, now)
            .map_err(|_| EntraError::unknown_resource(resource, tenant))
    }

    /// A signed token for `client_id` with audience `resource`.
    pub fn sign(
        &self,
        resource: &str,
        client_id: &str,
        now: u64,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let iss = issuer(&self.config.tenant_id);
        let oid = object_id(client_id);
        let claims = Claims {
            aud: resource.to_owned(),
            idp: iss.clone(),
            iss,
            iat: now,
            // Entra backdates nbf by five minutes against clock skew.
            nbf: now.saturating_sub(300),
            exp: now.saturating_add(self.config.token_lifetime_secs),
            appid: client_id.to_owned(),
            appidacr: "1".to_owned(),
            sub: oid.clone(),
            oid,
            tid: self.config.tenant_id.clone(),
            uti: uuid::Uuid::new_v4().simple().to_string(),
            ver: "1.0".to_owned(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.key)
    }

    fn success(&self, token: &str) -> Response {
        let lifetime = self.config.token_lifetime_secs;
        let mut body = String::with_capacity(token.len() + 96);
        body.push_str(&format!(
            "{{\"token_type\":\"Bearer\",\"expires_in\":{lifetime},\"ext_expires_in\":{lifetime},\"access_token\":"
        ));
        json::push_str(&mut body, token);
        body.push('}');
        super::entra::json_response(StatusCode::OK, body)
    }
}

/// An absolute `http`/`https` URL with a host: what a D365FO resource is.
fn is_http_url(s: &str) -> bool {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"));
    rest.and_then(|r| r.split('/').next())
        .is_some_and(|host| !host.is_empty())
}

/// The token endpoint handler.
pub async fn token(
    State(issuer): State<Arc<Issuer>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let now = now_secs();
    let form = TokenForm::parse(&body);
    match issuer.grant(&tenant, &form, now) {
        Ok(token) => issuer.success(&token),
        Err(e) => {
            let correlation = headers
                .get("client-request-id")
                .and_then(|v| v.to_str().ok());
            e.into_response_at(now, correlation)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &str) -> TokenForm {
        TokenForm::parse(pairs.as_bytes())
    }

    #[test]
    fn forms_decode_like_browsers_send_them() {
        let f = form(
            "grant_type=client_credentials&scope=http%3A%2F%2Fh%3A1%2F.default&client_secret=a+b%2B&x=1&scope=ignored",
        );
        assert_eq!(f.grant_type.as_deref(), Some("client_credentials"));
        assert_eq!(f.scope.as_deref(), Some("http://h:1/.default"));
        assert_eq!(f.client_secret.as_deref(), Some("a b+"));
        assert!(f.client_id.is_none());
        assert!(form("%FF=1&client_id=%E2%82").client_id.is_none());
    }

    #[test]
    fn checks_run_in_entra_order() {
        let issuer = Issuer::new(AuthConfig::default());
        let t = super::super::DEFAULT_TENANT_ID;
        let ok = "grant_type=client_credentials&client_id=11111111-2222-3333-4444-555555555555&client_secret=d365mcp-sim-secret&scope=http://h/.default";
        assert!(issuer.grant(t, &form(ok), 1).is_ok());
        let code =
            |tenant: &str, body: &str| issuer.grant(tenant, &form(body), 1).unwrap_err().code;
        assert_eq!(code("other", ok), 90002);
        assert_eq!(code(t, "client_id=x"), 900144);
        assert_eq!(
            code(t, &ok.replace("client_credentials", "password")),
            70003
        );
        assert_eq!(code(t, &ok.replace("11111111", "99999999")), 700016);
        assert_eq!(code(t, &ok.replace("sim-secret", "nope")), 7000215);
        assert_eq!(
            code(t, &ok.replace("&client_secret=d365mcp-sim-secret", "")),
            7000218
        );
        assert_eq!(
            code(t, &ok.replace("/.default", "/user_impersonation")),
            1002012
        );
        assert_eq!(code(t, &ok.replace("http://h", "api%3A%2F%2Fx")), 500011);
    }
}
