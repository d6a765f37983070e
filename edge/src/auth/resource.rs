//! The edge as an OAuth protected resource: its metadata (RFC 9728), the
//! `WWW-Authenticate` challenges of its refusals (RFC 6750 §3), and the
//! scope a tool call needs.
//!
//! The metadata is public and the same for everyone: served outside the
//! Host/Origin check and authentication, cacheable, readable cross-origin
//! (a browser-based client discovers it before it has a token). Its URL, in
//! every 401, is derived from the configured resource, never from the
//! request's `Host`.

use std::sync::Arc;

use axum::{
    Json,
    extract::{Request, State},
    http::{HeaderValue, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use common::{ErrorCode, Failure, catalogue, config::OAuthConfig};
use serde_json::{Value, json};

use super::{Auth, Principal};

/// The well-known path of the metadata (RFC 9728 §3.1). It is served
/// there alone, and followed by the MCP endpoint's path (`/mcp`) or the
/// configured resource's path, where a client derives it from.
pub const METADATA_PATH: &str = "/.well-known/oauth-protected-resource";

/// How long a client may cache the metadata.
const CACHE_CONTROL: &str = "public, max-age=3600";

/// The protected resource metadata of `config`.
pub fn metadata(config: &OAuthConfig) -> Value {
    json!({
        "resource": config.resource,
        "authorization_servers": [config.issuer],
        "scopes_supported": [
            config.full_scope(&config.read_scope),
            config.full_scope(&config.write_scope),
        ],
        "bearer_methods_supported": ["header"],
        "resource_name": "d365mcp",
    })
}

/// Answers a metadata request at [`METADATA_PATH`] and below it (404 when
/// OAuth is off, or for a path that is neither `/mcp` nor the resource's).
pub async fn serve_metadata(State(auth): State<Arc<Auth>>, uri: axum::http::Uri) -> Response {
    let Some(config) = auth.oauth() else {
        return axum::http::StatusCode::NOT_FOUND.into_response();
    };
    let suffix = uri.path().strip_prefix(METADATA_PATH).unwrap_or_default();
    let resource_path = config
        .metadata_url()
        .split_once(METADATA_PATH)
        .map(|(_, path)| path.to_owned())
        .unwrap_or_default();
    if !matches!(suffix, "" | "/mcp") && suffix != resource_path {
        return axum::http::StatusCode::NOT_FOUND.into_response();
    }
    let mut response = Json(metadata(config)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(CACHE_CONTROL),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}

/// The challenge of a 401: where the metadata is, and, when a token was
/// presented and refused, why (`error_description` cut to plain text that
/// fits a quoted string).
pub fn unauthorized(config: &OAuthConfig, refused_token: Option<&str>) -> HeaderValue {
    let mut value = format!("Bearer resource_metadata=\"{}\"", config.metadata_url());
    if let Some(why) = refused_token {
        value.push_str(&format!(
            ", error=\"invalid_token\", error_description=\"{}\"",
            quotable(why)
        ));
    }
    header_value(value)
}

/// The challenge of a 403 for a token without `scope`.
pub fn insufficient_scope(config: &OAuthConfig, scope: &str) -> HeaderValue {
    header_value(format!(
        "Bearer error=\"insufficient_scope\", scope=\"{}\", resource_metadata=\"{}\"",
        quotable(scope),
        config.metadata_url()
    ))
}

/// 403 `insufficient_scope` answering request `id`: `scope` would do.
pub fn refuse_scope(config: &OAuthConfig, scope: &str, id: Value) -> Response {
    let failure = Failure::new(
        ErrorCode::PermissionDenied,
        format!("the access token does not grant the scope this needs: {scope}"),
    )
    .with_hint("ask the authorization server for a token with that scope, then retry");
    let mut response = crate::error::refusal(&failure, id);
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, insufficient_scope(config, scope));
    response
}

/// Lets a `tools/call` of a tool that changes data through only for a
/// caller that may write: an API key (its policy decides), or a token with
/// the write scope. Runs after authentication and the body guard.
pub async fn require_scope(
    State(auth): State<Arc<Auth>>,
    request: Request,
    next: Next,
) -> Response {
    let (Some(verifier), Some(principal)) = (&auth.oauth, request.extensions().get::<Principal>())
    else {
        return next.run(request).await;
    };
    let needs_write = request
        .extensions()
        .get::<crate::limits::RpcRequest>()
        .and_then(|rpc| rpc.tool.as_deref())
        .and_then(catalogue::find)
        .is_some_and(|spec| !spec.effects.read_only);
    match &principal.grant {
        Some(grant) if needs_write && !grant.may_write => {
            crate::metrics::refused(crate::metrics::Refusal::Auth);
            let id = request
                .extensions()
                .get::<crate::limits::RpcRequest>()
                .map_or(Value::Null, |rpc| rpc.id.clone());
            refuse_scope(verifier.config(), &grant.write_scope, id)
        }
        _ => next.run(request).await,
    }
}

/// `text` as the inside of a quoted string: printable ASCII without `"`
/// or `\`, at most 200 characters.
fn quotable(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '"' | '\\' => '\'',
            c if c.is_ascii_graphic() || c == ' ' => c,
            _ => '?',
        })
        .take(200)
        .collect()
}

fn header_value(value: String) -> HeaderValue {
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("Bearer"))
}

#[cfg(test)]
mod tests {
    use common::config::OAuthSettings;

    use super::*;

    fn config() -> OAuthConfig {
        OAuthConfig::from_settings(&OAuthSettings {
            issuer: Some("https://login.microsoftonline.com/t/v2.0".into()),
            resource: Some("https://mcp.contoso.com/mcp".into()),
            ..OAuthSettings::default()
        })
        .unwrap()
        .unwrap()
    }

    #[test]
    fn the_metadata_names_the_resource_its_issuer_and_scopes() {
        let m = metadata(&config());
        assert_eq!(m["resource"], "https://mcp.contoso.com/mcp");
        assert_eq!(
            m["authorization_servers"],
            json!(["https://login.microsoftonline.com/t/v2.0"])
        );
        assert_eq!(
            m["scopes_supported"],
            json!([
                "https://mcp.contoso.com/mcp/mcp.read",
                "https://mcp.contoso.com/mcp/mcp.write"
            ])
        );
        assert_eq!(m["bearer_methods_supported"], json!(["header"]));
    }

    #[test]
    fn challenges_point_at_the_metadata_and_say_why() {
        let url = "https://mcp.contoso.com/.well-known/oauth-protected-resource/mcp";
        assert_eq!(
            unauthorized(&config(), None),
            format!("Bearer resource_metadata=\"{url}\"").as_str()
        );
        let bad = unauthorized(&config(), Some("the \"token\"\nhas expired"));
        assert_eq!(
            bad,
            format!(
                "Bearer resource_metadata=\"{url}\", error=\"invalid_token\", \
                 error_description=\"the 'token'?has expired\""
            )
            .as_str()
        );
        let scope = insufficient_scope(&config(), "https://mcp.contoso.com/mcp/mcp.write");
        assert!(scope.to_str().unwrap().starts_with(
            "Bearer error=\"insufficient_scope\", scope=\"https://mcp.contoso.com/mcp/mcp.write\""
        ));
    }
}
