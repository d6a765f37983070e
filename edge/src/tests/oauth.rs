//! OAuth access tokens at the edge: the protected resource metadata, the
//! 401 and 403 challenges, and what reaches the worker — against a stand-in
//! issuer of the test's own (`auth::testing`).

use std::sync::Arc;

use axum::{
    body::Body,
    http::{HeaderValue, Request, StatusCode},
};
use common::{ErrorCode, catalogue::names};
use serde_json::{Value, json};
use tower::ServiceExt;

use super::support::{keyed_state, messages, meta, post};
use crate::{
    EdgeState, app,
    auth::testing::{Issuer, PRIVATE_A, RESOURCE, mint},
};

const METADATA_URL: &str = "https://mcp.test/.well-known/oauth-protected-resource/mcp";

/// An edge accepting `issuer`'s tokens beside the API key `k-123`, whose
/// worker echoes the principal and the user assertion it was handed.
fn edge(issuer: &Issuer) -> EdgeState {
    let state = keyed_state();
    let mut config = (*state.config).clone();
    config.oauth = Some(issuer.config());
    EdgeState {
        config: Arc::new(config),
        ..state
    }
}

fn call(tool: &str, credential: Option<&str>) -> Request<Body> {
    let body = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {
        "name": tool, "arguments": {}, "_meta": meta()
    }});
    let mut request = post(&body.to_string(), "tools/call", Some(tool));
    if let Some(credential) = credential {
        let value = HeaderValue::from_str(&format!("Bearer {credential}")).unwrap();
        request.headers_mut().insert("authorization", value);
    }
    request
}

fn challenge(response: &axum::response::Response) -> String {
    response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn the_metadata_is_public_cacheable_and_names_the_issuer() {
    let issuer = Issuer::start().await;
    for path in [
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/mcp",
    ] {
        // A Host no allowed-hosts list holds: discovery is not behind it.
        let request = Request::get(path)
            .header("host", "mcp.test")
            .body(Body::empty())
            .unwrap();
        let response = app(edge(&issuer)).oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert!(
            response.headers()["cache-control"]
                .to_str()
                .unwrap()
                .contains("max-age")
        );
        let body = messages(response).await.pop().unwrap();
        assert_eq!(body["resource"], RESOURCE);
        assert_eq!(body["authorization_servers"], json!([issuer.url]));
        assert_eq!(body["bearer_methods_supported"], json!(["header"]));
        assert_eq!(
            body["scopes_supported"],
            json!([
                format!("{RESOURCE}/mcp.read"),
                format!("{RESOURCE}/mcp.write")
            ])
        );
    }
    // Below the well-known path: only the MCP endpoint's path and the
    // resource's own.
    let get = |path: &str| Request::get(path).body(Body::empty()).unwrap();
    let other = get("/.well-known/oauth-protected-resource/elsewhere");
    let response = app(edge(&issuer)).oneshot(other).await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let mut state = edge(&issuer);
    let mut config = (*state.config).clone();
    config.oauth = common::config::OAuthConfig::from_settings(&common::config::OAuthSettings {
        issuer: Some(issuer.url.clone()),
        resource: Some("https://mcp.test/d365mcp".into()),
        ..Default::default()
    })
    .unwrap();
    state.config = Arc::new(config);
    let own = get("/.well-known/oauth-protected-resource/d365mcp");
    let response = app(state).oneshot(own).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // With OAuth off there is nothing to discover.
    let off = Request::get("/.well-known/oauth-protected-resource")
        .body(Body::empty())
        .unwrap();
    let response = app(super::support::state()).oneshot(off).await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn no_token_or_a_bad_one_gets_a_401_pointing_at_the_metadata() {
    let issuer = Issuer::start().await;
    let response = app(edge(&issuer))
        .oneshot(call(names::TEST_CONNECTION, None))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenge(&response),
        format!("Bearer resource_metadata=\"{METADATA_URL}\"")
    );
    let body = messages(response).await.pop().unwrap();
    assert_eq!(
        body["error"]["code"],
        ErrorCode::Unauthenticated.jsonrpc_code()
    );

    let mut expired = issuer.claims("mcp.read");
    expired["exp"] = json!(jsonwebtoken::get_current_timestamp() - 600);
    let response = app(edge(&issuer))
        .oneshot(call(
            names::TEST_CONNECTION,
            Some(&mint(PRIVATE_A, "a", &expired)),
        ))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let said = challenge(&response);
    assert!(
        said.contains(&format!("resource_metadata=\"{METADATA_URL}\"")),
        "{said}"
    );
    assert!(said.contains("error=\"invalid_token\""), "{said}");
    assert!(
        said.contains("error_description=\"the access token has expired\""),
        "{said}"
    );
}

#[tokio::test]
async fn a_delegated_token_calls_as_its_user_and_hands_the_worker_the_token() {
    let issuer = Issuer::start().await;
    let token = mint(PRIVATE_A, "a", &issuer.claims("mcp.read"));
    let response = app(edge(&issuer))
        .oneshot(call(names::TEST_CONNECTION, Some(&token)))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let echo = &messages(response).await.pop().unwrap()["result"]["structuredContent"];
    assert_eq!(echo["subject"], "user-oid-1");
    assert_eq!(echo["tenant"], "contoso");
    assert_eq!(echo["issuer"], format!("jwt:{}", issuer.url));
    assert_eq!(echo["scopes"], json!(["mcp.read"]));
    assert_eq!(echo["assertion"], token.as_str());
}

#[tokio::test]
async fn an_app_only_token_and_an_api_key_hand_the_worker_no_assertion() {
    let issuer = Issuer::start().await;
    let claims = issuer.app_claims(&["mcp.write"]);
    for credential in [mint(PRIVATE_A, "a", &claims), "k-123".to_owned()] {
        let response = app(edge(&issuer))
            .oneshot(call(names::TEST_CONNECTION, Some(&credential)))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let echo = &messages(response).await.pop().unwrap()["result"]["structuredContent"];
        assert_eq!(echo["assertion"], "", "{echo}");
    }
}

#[tokio::test]
async fn a_read_only_token_gets_403_insufficient_scope_for_a_write_tool() {
    let issuer = Issuer::start().await;
    let token = mint(PRIVATE_A, "a", &issuer.claims("mcp.read"));
    let response = app(edge(&issuer))
        .oneshot(call(names::CREATE_ENTITY_RECORD, Some(&token)))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let said = challenge(&response);
    assert!(
        said.starts_with(&format!(
            "Bearer error=\"insufficient_scope\", scope=\"{RESOURCE}/mcp.write\""
        )),
        "{said}"
    );
    let body = messages(response).await.pop().unwrap();
    assert_eq!(body["id"], 7, "answers the request");
    assert_eq!(
        body["error"]["code"],
        ErrorCode::PermissionDenied.jsonrpc_code()
    );
    // A token with neither scope gets nothing at all.
    let none = mint(PRIVATE_A, "a", &issuer.claims("User.Read"));
    let response = app(edge(&issuer))
        .oneshot(call(names::TEST_CONNECTION, Some(&none)))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(challenge(&response).contains(&format!("scope=\"{RESOURCE}/mcp.read\"")));
}

#[tokio::test]
async fn a_session_follows_its_user_across_refreshed_tokens_and_no_one_else() {
    let issuer = Issuer::start().await;
    let app = app(edge(&issuer));
    let first = mint(PRIVATE_A, "a", &issuer.claims("mcp.read"));
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "t", "version": "0"}
    }});
    let request = |token: &str, body: &Value, session: Option<&str>| {
        let mut builder = Request::post("/mcp")
            .header("host", "127.0.0.1")
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("authorization", format!("Bearer {token}"));
        if let Some(session) = session {
            builder = builder
                .header("mcp-session-id", session)
                .header("mcp-protocol-version", "2025-11-25");
        }
        builder.body(Body::from(body.to_string())).unwrap()
    };
    let response = app
        .clone()
        .oneshot(request(&first, &init, None))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let session = response.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let ping = json!({"jsonrpc": "2.0", "id": 2, "method": "ping"});
    // The same user's next token: a new jti (and here more scope).
    let refreshed = mint(PRIVATE_A, "a", &issuer.claims("mcp.read mcp.write"));
    assert_ne!(refreshed, first);
    let response = app
        .clone()
        .oneshot(request(&refreshed, &ping, Some(&session)))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "same user, same session");
    // Its calls hand the worker the token they came with.
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let response = app
        .clone()
        .oneshot(request(&refreshed, &initialized, Some(&session)))
        .await
        .unwrap();
    assert!(response.status().is_success());
    let call = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
        "params": {"name": names::TEST_CONNECTION, "arguments": {}}});
    let response = app
        .clone()
        .oneshot(request(&refreshed, &call, Some(&session)))
        .await
        .unwrap();
    let message = messages(response).await.pop().unwrap();
    let echo = &message["result"]["structuredContent"];
    assert_eq!(echo["assertion"], refreshed.as_str(), "{message}");
    let mut other = issuer.claims("mcp.read mcp.write");
    other["oid"] = json!("user-oid-2");
    let response = app
        .clone()
        .oneshot(request(
            &mint(PRIVATE_A, "a", &other),
            &ping,
            Some(&session),
        ))
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::NOT_FOUND,
        "another user's session"
    );
    let response = app
        .oneshot(request("k-123", &ping, Some(&session)))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND, "nor a key's");
}

#[tokio::test]
async fn metrics_need_a_key_not_a_token() {
    let issuer = Issuer::start().await;
    let token = mint(PRIVATE_A, "a", &issuer.claims("mcp.read mcp.write"));
    for (credential, status) in [
        (token.as_str(), StatusCode::FORBIDDEN),
        ("k-123", StatusCode::OK),
    ] {
        let request = Request::get("/metrics")
            .header("authorization", format!("Bearer {credential}"))
            .body(Body::empty())
            .unwrap();
        let response = app(edge(&issuer)).oneshot(request).await.unwrap();
        assert_eq!(response.status(), status);
    }
}

/// Reads `stream`'s SSE events until the JSON-RPC message answering `id`.
async fn answer(stream: &mut Body, id: i64) -> Value {
    use http_body_util::BodyExt as _;
    let mut seen = String::new();
    loop {
        let found = seen
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
            .find(|m| m["id"] == id);
        if let Some(message) = found {
            return message;
        }
        let frame = stream.frame().await.unwrap().unwrap();
        if let Ok(data) = frame.into_data() {
            seen.push_str(&String::from_utf8_lossy(&data));
        }
    }
}

#[tokio::test]
async fn a_legacy_stream_is_its_users_and_calls_with_their_latest_token() {
    use http_body_util::BodyExt as _;

    let issuer = Issuer::start().await;
    let app = app(edge(&issuer));
    let token = |oid: &str, scp: &str| {
        let mut claims = issuer.claims(scp);
        claims["oid"] = json!(oid);
        mint(PRIVATE_A, "a", &claims)
    };
    let open = Request::get("/sse")
        .header("host", "127.0.0.1")
        .header("accept", "text/event-stream")
        .header(
            "authorization",
            format!("Bearer {}", token("u1", "mcp.read")),
        )
        .body(Body::empty())
        .unwrap();
    let response = app.clone().oneshot(open).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut stream = response.into_body();
    let mut seen = String::new();
    while !seen.contains("sessionId=") || !seen.ends_with("\n\n") {
        let frame = stream.frame().await.unwrap().unwrap();
        if let Ok(data) = frame.into_data() {
            seen.push_str(&String::from_utf8_lossy(&data));
        }
    }
    let endpoint = seen
        .lines()
        .find_map(|l| l.strip_prefix("data:"))
        .unwrap()
        .trim()
        .to_owned();
    let post = |credential: &str, body: Value| {
        let request = Request::post(endpoint.as_str())
            .header("host", "127.0.0.1")
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {credential}"))
            .body(Body::from(body.to_string()))
            .unwrap();
        app.clone().oneshot(request)
    };
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2024-11-05", "capabilities": {},
        "clientInfo": {"name": "t", "version": "0"}
    }});
    let response = post(&token("u1", "mcp.read"), init).await.unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    answer(&mut stream, 1).await;
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let response = post(&token("u1", "mcp.read"), initialized).await.unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    // The same user's refreshed token: its call hands the worker that token.
    let latest = token("u1", "mcp.read");
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": names::TEST_CONNECTION, "arguments": {}}});
    let response = post(&latest, call.clone()).await.unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let message = answer(&mut stream, 2).await;
    let echo = &message["result"]["structuredContent"];
    assert_eq!(echo["subject"], "u1", "{message}");
    assert_eq!(echo["assertion"], latest.as_str(), "{message}");
    // Another user: not their stream.
    let response = post(&token("u2", "mcp.read mcp.write"), call)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    // A write without the write scope: refused before it reaches the stream.
    let write = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
        "params": {"name": names::CREATE_ENTITY_RECORD, "arguments": {}}});
    let response = post(&latest, write).await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(challenge(&response).contains("insufficient_scope"));
}

#[tokio::test]
async fn a_tokens_user_gets_its_tenants_policy_and_never_a_keys() {
    let issuer = Issuer::start().await;
    let mut state = edge(&issuer);
    let mut config = (*state.config).clone();
    config.policy = common::config::auth::parse_file(
        "[tenants.contoso]\nenvironments = [\"contoso-prod\"]\n[keys.erp-team]\n\
         sha256 = \"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\"\n\
         tenant = \"contoso\"\noperator = true\n",
    )
    .unwrap()
    .policy;
    state.config = Arc::new(config);
    let token = mint(PRIVATE_A, "a", &issuer.claims("mcp.read"));
    let response = app(state.clone())
        .oneshot(call(names::TEST_CONNECTION, Some(&token)))
        .await
        .unwrap();
    let message = messages(response).await.pop().unwrap();
    let echo = &message["result"]["structuredContent"];
    assert_eq!(echo["environment"], "contoso-prod", "{message}");
    // The tenant's rules, not an operator key's, whatever the scope.
    let writer = mint(PRIVATE_A, "a", &issuer.claims("mcp.read mcp.write"));
    let response = app(state.clone())
        .oneshot(call(names::RESET_PERFORMANCE_STATS, Some(&writer)))
        .await
        .unwrap();
    let message = messages(response).await.pop().unwrap();
    assert_eq!(
        message["error"]["data"]["code"],
        ErrorCode::PermissionDenied.as_str(),
        "{message}"
    );
    let said = message["error"]["message"].as_str().unwrap_or_default();
    assert!(said.contains("operator tool"), "{message}");
    // A token whose subject is a key's name is no one.
    let mut claims = issuer.claims("mcp.read");
    claims["oid"] = json!("erp-team");
    let response = app(state)
        .oneshot(call(
            names::TEST_CONNECTION,
            Some(&mint(PRIVATE_A, "a", &claims)),
        ))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}
