use std::sync::atomic::{AtomicUsize, Ordering};

use axum::{Router, extract::State, routing::post};
use common::config::CredentialKind;
use url::Url;

use super::*;

/// A token endpoint counting its grants; each answers `expires_in` and,
/// after `delay`, a token named after the grant's number.
struct Entra {
    grants: AtomicUsize,
    expires_in: u64,
    delay: Duration,
}

async fn grant(State(entra): State<Arc<Entra>>, body: String) -> String {
    let n = entra.grants.fetch_add(1, Ordering::SeqCst) + 1;
    tokio::time::sleep(entra.delay).await;
    assert!(body.contains("requested_token_use=on_behalf_of"), "{body}");
    format!(
        r#"{{"access_token":"obo-{n}","expires_in":{},"token_type":"Bearer"}}"#,
        entra.expires_in
    )
}

async fn start(
    expires_in: u64,
    delay: Duration,
    policy: Policy,
    max: u64,
) -> (OnBehalfOf, Arc<Entra>) {
    let entra = Arc::new(Entra {
        grants: AtomicUsize::new(0),
        expires_in,
        delay,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let authority = format!("http://{}", listener.local_addr().unwrap());
    let app = Router::new()
        .route("/t/oauth2/v2.0/token", post(grant))
        .with_state(Arc::clone(&entra));
    tokio::spawn(async move { axum::serve(listener, app).await });
    let credentials = ClientCredentials {
        tenant_id: "t".into(),
        client_id: "c".into(),
        kind: CredentialKind::ClientSecret(Secret::new("s")),
        authority_host: Url::parse(&authority).unwrap(),
        on_behalf_of: policy,
    };
    let endpoint = Endpoint::new(&credentials, &reqwest::Client::new()).unwrap();
    let obo = OnBehalfOf::with_endpoint(policy, Arc::new(endpoint), "scope/.default".into(), max);
    (obo, entra)
}

async fn token(obo: &OnBehalfOf, assertion: &str) -> String {
    let user = obo.user(&Caller::new(assertion)).unwrap().unwrap();
    user.tokens.token().await.unwrap().unwrap().header_value()
}

#[tokio::test]
async fn a_users_token_is_reused_and_a_burst_makes_one_exchange() {
    let (obo, entra) = start(3600, Duration::from_millis(100), Policy::Preferred, 100).await;
    let burst = futures::future::join_all((0..20).map(|_| token(&obo, "user-a"))).await;
    assert!(burst.iter().all(|t| t == "Bearer obo-1"), "{burst:?}");
    assert_eq!(token(&obo, "user-a").await, "Bearer obo-1");
    assert_eq!(entra.grants.load(Ordering::SeqCst), 1);
    // Another user's token is another exchange.
    assert_eq!(token(&obo, "user-b").await, "Bearer obo-2");
}

#[tokio::test]
async fn a_token_due_for_refresh_is_exchanged_again() {
    // 0 s: due at once, as a token would be shortly before it expires.
    let (obo, entra) = start(0, Duration::ZERO, Policy::Preferred, 100).await;
    assert_eq!(token(&obo, "user-a").await, "Bearer obo-1");
    assert_eq!(token(&obo, "user-a").await, "Bearer obo-2");
    assert_eq!(entra.grants.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn users_are_bounded() {
    let (obo, _) = start(3600, Duration::ZERO, Policy::Preferred, 5).await;
    for i in 0..50 {
        obo.user(&Caller::new(&format!("user-{i}"))).unwrap();
    }
    assert!(obo.users() <= 5, "{} users kept", obo.users());
}

#[tokio::test]
async fn the_policy_decides_for_callers_without_a_user() {
    let (preferred, _) = start(3600, Duration::ZERO, Policy::Preferred, 5).await;
    assert!(preferred.user(&Caller::new("")).unwrap().is_none());
    let (required, entra) = start(3600, Duration::ZERO, Policy::Required, 5).await;
    let Err(refused) = required.user(&Caller::new("  ")) else {
        panic!("an API key caller under `required`");
    };
    assert_eq!(refused.code(), common::ErrorCode::PermissionDenied);
    assert!(refused.to_string().contains("on_behalf_of"), "{refused}");
    assert_eq!(entra.grants.load(Ordering::SeqCst), 0);
    let huge = "x".repeat(MAX_ASSERTION_BYTES + 1);
    assert!(required.user(&Caller::new(&huge)).is_err());
}

#[test]
fn throttle_identity_is_the_users_not_the_tokens() {
    let jwt = |claims: &str| {
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        format!("{}.{}.sig", b64(r#"{"alg":"RS256"}"#), b64(claims))
    };
    let first = jwt(r#"{"tid":"t","oid":"o-1","iat":1}"#);
    let renewed = jwt(r#"{"tid":"t","oid":"o-1","iat":2}"#);
    let other = jwt(r#"{"tid":"t","oid":"o-2","iat":1}"#);
    assert_eq!(throttle_identity(&first), throttle_identity(&renewed));
    assert_ne!(throttle_identity(&first), throttle_identity(&other));
    assert!(throttle_identity(&first).starts_with("user:"));
    assert_eq!(throttle_identity(&first).len(), "user:".len() + 32);
    // Opaque tokens fall back to the token's own hash; nothing of it shows.
    let opaque = throttle_identity("opaque-token");
    assert!(!opaque.contains("opaque"));
    assert_ne!(opaque, throttle_identity("opaque-token-2"));
}
