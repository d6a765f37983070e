//! Each signed-in user's own D365FO identity (on-behalf-of): a stub Entra
//! token endpoint on 127.0.0.1 that checks each grant's form and counts
//! grants, and the D365FO fixture, which records the bearer of every
//! request.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
};

use axum::{Form, Json, Router, extract::State, http::StatusCode, routing::post};
use base64::Engine as _;
use common::config::{ClientCredentials, CredentialKind, OnBehalfOf, Secret};
use serde_json::{Value, json};
use url::Url;
use worker::Worker;

use super::{call, config, fixture::Fixture, request};

const QUERY: &str = "d365fo_query_entities";

/// The Entra stand-in: the application's grant answers `app-token`; an
/// on-behalf-of grant of a known user answers `obo-N` (N counts them), of
/// the user `expired` Entra's `invalid_grant`.
struct Entra {
    scope: String,
    obo_grants: AtomicUsize,
    app_grants: AtomicUsize,
    expires_in: AtomicU64,
}

async fn token(
    State(entra): State<Arc<Entra>>,
    Form(form): Form<HashMap<String, String>>,
) -> (StatusCode, Json<Value>) {
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or_default();
    assert_eq!(field("client_id"), "app");
    assert_eq!(field("client_secret"), "s3cret");
    assert_eq!(field("scope"), entra.scope);
    let expires_in = entra.expires_in.load(Ordering::SeqCst);
    match field("grant_type") {
        "client_credentials" => {
            entra.app_grants.fetch_add(1, Ordering::SeqCst);
            let body = json!({"access_token": "app-token", "expires_in": 3600});
            (StatusCode::OK, Json(body))
        }
        "urn:ietf:params:oauth:grant-type:jwt-bearer" => {
            assert_eq!(field("requested_token_use"), "on_behalf_of");
            let n = entra.obo_grants.fetch_add(1, Ordering::SeqCst) + 1;
            if field("assertion") == user("expired") {
                let body = json!({
                    "error": "invalid_grant",
                    "error_description": "AADSTS500133: Assertion is not within its valid time range.\r\nTrace ID: x",
                    "error_codes": [500133],
                });
                return (StatusCode::BAD_REQUEST, Json(body));
            }
            assert_eq!(field("assertion"), user("alice"), "an unknown assertion");
            let body = json!({"access_token": format!("obo-{n}"), "expires_in": expires_in});
            (StatusCode::OK, Json(body))
        }
        other => panic!("unexpected grant {other}"),
    }
}

/// A user's access token as the edge passes it on: a JWT whose payload
/// names the user (unsigned here: the worker does not verify it).
fn user(oid: &str) -> String {
    let b64 = |s: String| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    format!(
        "{}.{}.sig",
        b64(r#"{"alg":"RS256","typ":"JWT"}"#.to_owned()),
        b64(format!(
            r#"{{"tid":"t","oid":"{oid}","aud":"api://d365mcp"}}"#
        ))
    )
}

struct Setup {
    fx: Fixture,
    entra: Arc<Entra>,
    worker: Worker,
}

impl Setup {
    async fn start(policy: OnBehalfOf, expires_in: u64) -> Self {
        let fx = Fixture::start().await;
        let entra = Arc::new(Entra {
            scope: format!("{}/.default", fx.base.as_str().trim_end_matches('/')),
            obo_grants: AtomicUsize::new(0),
            app_grants: AtomicUsize::new(0),
            expires_in: AtomicU64::new(expires_in),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let authority = format!("http://{}", listener.local_addr().unwrap());
        let app = Router::new()
            .route("/t/oauth2/v2.0/token", post(token))
            .with_state(Arc::clone(&entra));
        tokio::spawn(async move { axum::serve(listener, app).await });
        let mut config = config(&fx.base);
        config.environments[0].credentials = Some(ClientCredentials {
            tenant_id: "t".into(),
            client_id: "app".into(),
            kind: CredentialKind::ClientSecret(Secret::new("s3cret")),
            authority_host: Url::parse(&authority).unwrap(),
            on_behalf_of: policy,
        });
        let worker = Worker::standalone(config).unwrap();
        Self { fx, entra, worker }
    }

    /// A query as `assertion`'s user (empty: an API key caller).
    async fn query(&self, assertion: &str) -> super::Called {
        let mut request = request(QUERY, json!({"entity_set": "CustomersV3", "top": 1}));
        request.user_assertion = assertion.to_owned();
        call(&self.worker, request).await
    }

    /// The bearers D365FO saw, in order.
    fn bearers(&self) -> Vec<String> {
        self.fx
            .seen()
            .into_iter()
            .filter(|s| s.path == "/data/CustomersV3")
            .filter_map(|s| s.authorization)
            .collect()
    }
}

#[tokio::test]
async fn a_user_reaches_d365fo_as_themselves_and_the_token_is_reused() {
    let setup = Setup::start(OnBehalfOf::Preferred, 3600).await;
    setup.query(&user("alice")).await.ok();
    setup.query(&user("alice")).await.ok();
    assert_eq!(setup.bearers(), ["Bearer obo-1", "Bearer obo-1"]);
    assert_eq!(setup.entra.obo_grants.load(Ordering::SeqCst), 1);
    // An API key's call, under `preferred`: the application's token.
    setup.query("").await.ok();
    assert_eq!(setup.bearers()[2], "Bearer app-token");
}

#[tokio::test]
async fn a_token_due_for_refresh_is_exchanged_again() {
    // `expires_in: 0`: due at once, as it is shortly before it expires.
    let setup = Setup::start(OnBehalfOf::Preferred, 0).await;
    setup.query(&user("alice")).await.ok();
    setup.query(&user("alice")).await.ok();
    assert_eq!(setup.bearers(), ["Bearer obo-1", "Bearer obo-2"]);
    assert_eq!(setup.entra.obo_grants.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn required_refuses_callers_without_a_user() {
    let setup = Setup::start(OnBehalfOf::Required, 3600).await;
    let refused = setup.query("").await;
    assert_eq!(refused.failure().code, "permission_denied");
    assert!(
        refused.failure().message.contains("sign in"),
        "{:?}",
        refused.failure()
    );
    assert!(setup.bearers().is_empty(), "nothing reached D365FO");
    setup.query(&user("alice")).await.ok();
    assert_eq!(setup.bearers(), ["Bearer obo-1"]);
}

#[tokio::test]
async fn an_expired_user_token_says_sign_in_again_once() {
    let setup = Setup::start(OnBehalfOf::Preferred, 3600).await;
    let refused = setup.query(&user("expired")).await;
    let failure = refused.failure();
    assert_eq!(failure.code, "upstream_auth");
    assert!(failure.message.contains("AADSTS500133"), "{failure:?}");
    assert!(failure.message.contains("sign in again"), "{failure:?}");
    assert!(
        !failure.message.contains(&user("expired")),
        "the token leaked"
    );
    // One exchange, no retries, and nothing sent to D365FO.
    assert_eq!(setup.entra.obo_grants.load(Ordering::SeqCst), 1);
    assert!(setup.bearers().is_empty());
}

#[tokio::test]
async fn off_ignores_user_tokens() {
    let setup = Setup::start(OnBehalfOf::Off, 3600).await;
    setup.query(&user("alice")).await.ok();
    assert_eq!(setup.bearers(), ["Bearer app-token"]);
    assert_eq!(setup.entra.obo_grants.load(Ordering::SeqCst), 0);
}
