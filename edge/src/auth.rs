//! Authentication: who is calling, decided once per HTTP request.
//!
//! A caller presents an API key as `Authorization: Bearer <key>` or
//! `X-API-Key: <key>`; the edge compares the key's SHA-256 with the
//! configured digests and attaches the [`Principal`] to the request, where
//! sessions (bound to it), rate limits and the worker call read it. With no
//! keys configured every caller is [`Principal::anonymous`].

use std::sync::Arc;

use axum::{
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, header},
    middleware::Next,
    response::Response,
};
use common::{ErrorCode, Failure, config::ApiKey};
use sha2::{Digest, Sha256};

/// The authenticated caller of one request.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Principal {
    /// The key's name (or `anonymous`).
    pub subject: String,
    /// The tenant the caller belongs to.
    pub tenant: String,
}

impl Principal {
    /// The caller of an edge that checks no keys.
    pub fn anonymous() -> Self {
        Self {
            subject: "anonymous".into(),
            tenant: common::config::auth::DEFAULT_TENANT.into(),
        }
    }

    /// The principal `parts` carry: set by [`authenticate`] on every request
    /// the MCP service sees. Anonymous when absent (a handler driven without
    /// the HTTP layer, as in unit tests).
    pub fn of(parts: Option<&http::request::Parts>) -> Self {
        parts
            .and_then(|p| p.extensions.get::<Principal>())
            .cloned()
            .unwrap_or_else(Self::anonymous)
    }
}

/// Attaches the caller's [`Principal`], or answers 401.
pub async fn authenticate(
    State(keys): State<Arc<[ApiKey]>>,
    mut request: Request,
    next: Next,
) -> Response {
    let principal = if keys.is_empty() {
        Principal::anonymous()
    } else {
        match identify(&keys, request.headers()) {
            Ok(principal) => principal,
            Err(reason) => return unauthenticated(reason),
        }
    };
    request.extensions_mut().insert(principal);
    next.run(request).await
}

fn identify(keys: &[ApiKey], headers: &HeaderMap) -> Result<Principal, &'static str> {
    let presented = presented_key(headers)?;
    let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
    keys.iter()
        .find(|k| same(&k.sha256, &digest))
        .map(|k| Principal {
            subject: k.name.clone(),
            tenant: k.tenant.clone(),
        })
        .ok_or("the API key is not valid for this server")
}

fn presented_key(headers: &HeaderMap) -> Result<&str, &'static str> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let value = value
            .to_str()
            .map_err(|_| "the Authorization header is not readable text")?;
        let (scheme, key) = value.split_once(' ').unwrap_or((value, ""));
        if !scheme.eq_ignore_ascii_case("bearer") || key.trim().is_empty() {
            return Err("send the API key as `Authorization: Bearer <key>`");
        }
        return Ok(key.trim());
    }
    if let Some(value) = headers.get("x-api-key") {
        return value
            .to_str()
            .map(str::trim)
            .map_err(|_| "the X-API-Key header is not readable text");
    }
    Err("this server needs an API key: send `Authorization: Bearer <key>` or `X-API-Key: <key>`")
}

/// Compares digests in constant time: how long it takes says nothing about
/// how much of a key was right.
fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    use subtle::ConstantTimeEq as _;
    bool::from(a.ct_eq(b))
}

fn unauthenticated(reason: &str) -> Response {
    let failure = Failure::new(ErrorCode::Unauthenticated, reason).with_hint(
        "send `Authorization: Bearer <key>` or `X-API-Key: <key>` with a key of this server",
    );
    let mut response = crate::error::refusal(&failure, serde_json::Value::Null);
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Vec<ApiKey> {
        vec![ApiKey {
            name: "erp".into(),
            tenant: "contoso".into(),
            sha256: Sha256::digest(b"s3cret").into(),
        }]
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn a_configured_key_names_its_principal() {
        for h in [
            headers(&[("authorization", "Bearer s3cret")]),
            headers(&[("authorization", "bearer  s3cret ")]),
            headers(&[("x-api-key", "s3cret")]),
        ] {
            let p = identify(&keys(), &h).unwrap();
            assert_eq!((p.subject.as_str(), p.tenant.as_str()), ("erp", "contoso"));
        }
    }

    #[test]
    fn anything_else_is_refused_with_a_reason() {
        for (h, says) in [
            (headers(&[]), "needs an API key"),
            (headers(&[("authorization", "Bearer wrong")]), "not valid"),
            (
                headers(&[("authorization", "Basic czNjcmV0")]),
                "Bearer <key>",
            ),
            (headers(&[("authorization", "Bearer ")]), "Bearer <key>"),
            (headers(&[("x-api-key", "nope")]), "not valid"),
        ] {
            let reason = identify(&keys(), &h).unwrap_err();
            assert!(reason.contains(says), "{h:?}: {reason}");
        }
    }
}
