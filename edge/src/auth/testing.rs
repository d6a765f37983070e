//! A stand-in OAuth issuer for tests: its discovery document and key set
//! served on 127.0.0.1:0, and tokens minted with the keys of `test_keys`.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use axum::{Json, Router, extract::State, routing::get};
use common::config::{OAuthConfig, OAuthSettings};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use parking_lot::RwLock;
use serde_json::{Value, json};

pub use super::test_keys::{MODULUS_A, MODULUS_B, PRIVATE_A, PRIVATE_B};

/// The resource the test edge is.
pub const RESOURCE: &str = "https://mcp.test/mcp";
/// The application's client id, the other accepted audience.
pub const CLIENT_ID: &str = "00000000-0000-0000-0000-00000000c11e";

#[derive(Clone)]
struct Served {
    issuer: String,
    set: Arc<RwLock<Value>>,
    fetches: Arc<AtomicUsize>,
}

/// An issuer serving its keys until dropped.
pub struct Issuer {
    /// The issuer, as tokens name it.
    pub url: String,
    served: Served,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Issuer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Issuer {
    /// An issuer whose set holds key A as kid `a`.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/tenant/v2.0", listener.local_addr().unwrap());
        let served = Served {
            issuer: url.clone(),
            set: Arc::new(RwLock::new(Value::Null)),
            fetches: Arc::new(AtomicUsize::new(0)),
        };
        let app = Router::new()
            .route(
                "/tenant/v2.0/.well-known/openid-configuration",
                get(discovery),
            )
            .route("/keys", get(keys))
            .with_state(served.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let issuer = Self { url, served, task };
        issuer.publish(&[("a", MODULUS_A)]);
        issuer
    }

    /// Serves `keys` (kid, modulus) from now on, with an `oct` key beside
    /// them that must never be used.
    pub fn publish(&self, keys: &[(&str, &str)]) {
        let mut set: Vec<Value> = keys
            .iter()
            .map(|(kid, n)| {
                json!({"kty": "RSA", "use": "sig", "kid": kid, "n": n, "e": super::test_keys::EXPONENT})
            })
            .collect();
        set.push(json!({"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"}));
        *self.served.set.write() = json!({ "keys": set });
    }

    /// How often the set was fetched.
    pub fn fetches(&self) -> usize {
        self.served.fetches.load(Ordering::SeqCst)
    }

    /// The edge's settings for this issuer: resource [`RESOURCE`],
    /// audiences the resource and [`CLIENT_ID`], keys by discovery.
    pub fn config(&self) -> OAuthConfig {
        OAuthConfig::from_settings(&OAuthSettings {
            issuer: Some(self.url.clone()),
            resource: Some(RESOURCE.into()),
            audiences: Some(format!("{RESOURCE},{CLIENT_ID}")),
            tenant: Some("contoso".into()),
            ..OAuthSettings::default()
        })
        .unwrap()
        .unwrap()
    }

    /// The claims of a good delegated token with `scp`, valid for an hour.
    pub fn claims(&self, scp: &str) -> Value {
        let now = jsonwebtoken::get_current_timestamp();
        json!({
            "iss": self.url, "aud": CLIENT_ID, "exp": now + 3600, "nbf": now - 10,
            "iat": now - 10, "tid": "tenant", "oid": "user-oid-1", "sub": "pairwise-sub",
            "scp": scp, "jti": uuid::Uuid::new_v4().to_string(), "ver": "2.0",
        })
    }

    /// The claims of a good app-only token with `roles`, no `scp`.
    pub fn app_claims(&self, roles: &[&str]) -> Value {
        let mut claims = self.claims("");
        if let Some(map) = claims.as_object_mut() {
            map.remove("scp");
        }
        claims["roles"] = json!(roles);
        claims
    }
}

/// `claims` signed with RS256 by `private` (a key of `test_keys`), naming `kid`.
pub fn mint(private: &str, kid: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.into());
    let key = EncodingKey::from_rsa_der(&super::test_keys::der(private));
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

async fn discovery(State(served): State<Served>) -> Json<Value> {
    let base = served.issuer.trim_end_matches("/tenant/v2.0").to_owned();
    Json(json!({"issuer": served.issuer, "jwks_uri": format!("{base}/keys")}))
}

async fn keys(State(served): State<Served>) -> Json<Value> {
    served.fetches.fetch_add(1, Ordering::SeqCst);
    Json(served.set.read().clone())
}
