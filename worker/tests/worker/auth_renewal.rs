//! A 401 from D365FO gets a genuinely new token from Entra ID, once, through
//! the real `azure_identity` path: a token endpoint served over HTTPS on
//! 127.0.0.1 (a certificate rcgen makes in memory, trusted by the client's
//! reqwest pool, which is also azure's transport) that issues `token-1`,
//! `token-2`, … and counts requests; and a D365FO stand-in that answers 401
//! to the tokens the test revokes.

use std::{
    collections::HashSet,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{Json, Router, extract::State, http::HeaderMap, http::StatusCode, routing};
use common::config::{ClientCredentials, D365Config, Secret};
use parking_lot::Mutex;
use serde_json::{Value, json};
use tokio::{net::TcpListener, sync::Barrier};
use tokio_rustls::{TlsAcceptor, server::TlsStream};
use url::Url;
use worker::{
    WorkerError,
    d365::{D365Client, Deadline, Idempotency, auth::TokenProvider},
};

const TENANT: &str = "00000000-0000-0000-0000-000000000001";

/// The Entra ID stand-in: every request is a new token.
#[derive(Default)]
struct Entra {
    issued: AtomicUsize,
}

async fn issue(State(entra): State<Arc<Entra>>) -> Json<Value> {
    let n = entra.issued.fetch_add(1, Ordering::SeqCst) + 1;
    Json(json!({
        "token_type": "Bearer",
        "expires_in": 3600,
        "ext_expires_in": 3600,
        "access_token": format!("token-{n}"),
    }))
}

/// The D365FO stand-in: refuses revoked tokens (or all, with `refuse_all`)
/// and records the token of every request.
#[derive(Default)]
struct D365 {
    revoked: Mutex<HashSet<String>>,
    refuse_all: Mutex<bool>,
    seen: Mutex<Vec<String>>,
    /// When set, a refusal waits here first, so that a burst's requests
    /// all carry the revoked token before any of them learns it is.
    hold: Mutex<Option<Arc<Barrier>>>,
}

impl D365 {
    fn revoke(&self, token: &str) {
        self.revoked.lock().insert(token.to_owned());
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().clone()
    }
}

async fn answer(State(d365): State<Arc<D365>>, headers: HeaderMap) -> (StatusCode, Json<Value>) {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_owned();
    d365.seen.lock().push(token.clone());
    let refused = *d365.refuse_all.lock() || d365.revoked.lock().contains(&token);
    if !refused {
        return (StatusCode::OK, Json(json!({"value": []})));
    }
    let hold = d365.hold.lock().clone();
    if let Some(barrier) = hold {
        barrier.wait().await;
    }
    let body = json!({"Message": "Authentication failed."});
    (StatusCode::UNAUTHORIZED, Json(body))
}

/// A TLS listener for `axum::serve`; a failed handshake is skipped.
struct Tls {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
}

impl axum::serve::Listener for Tls {
    type Io = TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                continue;
            };
            if let Ok(tls) = self.acceptor.accept(tcp).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

struct Setup {
    entra: Arc<Entra>,
    d365: Arc<D365>,
    client: D365Client,
    url: String,
}

impl Setup {
    async fn start() -> Self {
        let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
        let cert = certified.cert.der().clone();
        let key =
            rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
        let tls = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .unwrap();
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let authority = format!("https://{}", tcp.local_addr().unwrap());
        let entra = Arc::new(Entra::default());
        let app = Router::new()
            .route(
                &format!("/{TENANT}/oauth2/v2.0/token"),
                routing::post(issue),
            )
            .with_state(entra.clone());
        let listener = Tls {
            tcp,
            acceptor: TlsAcceptor::from(Arc::new(tls)),
        };
        tokio::spawn(async move { axum::serve(listener, app).await });

        let d365 = Arc::new(D365::default());
        let app = Router::new()
            .route("/data/Customers", routing::get(answer).post(answer))
            .with_state(d365.clone());
        let plain = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = Url::parse(&format!("http://{}/", plain.local_addr().unwrap())).unwrap();
        tokio::spawn(async move { axum::serve(plain, app).await });

        // The worker's pool, trusting the test's certificate besides the
        // usual roots; azure_identity sends through it.
        let http = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_der(&cert).unwrap())
            .build()
            .unwrap();
        let credentials = ClientCredentials::client_secret(
            TENANT,
            "client",
            Secret::new("s3cret"),
            Url::parse(&authority).unwrap(),
        );
        let scope = format!("{base}.default");
        let auth = TokenProvider::client_credentials(&credentials, scope, &http).unwrap();
        let config = D365Config {
            name: super::ENV.into(),
            base_url: base.clone(),
            credentials: Some(credentials),
        };
        let client = D365Client::new(http, config, auth, Duration::from_secs(10));
        Self {
            entra,
            d365,
            client,
            url: format!("{base}data/Customers"),
        }
    }

    fn issued(&self) -> usize {
        self.entra.issued.load(Ordering::SeqCst)
    }

    async fn get(&self) -> Result<Value, WorkerError> {
        self.client
            .get_json(&self.url, Deadline::after(Duration::from_secs(20)))
            .await
    }
}

#[tokio::test]
async fn a_refused_token_is_renewed_once_over_the_azure_path() {
    let s = Setup::start().await;
    s.get().await.unwrap();
    s.get().await.unwrap();
    assert_eq!(s.issued(), 1, "the token is cached");
    assert_eq!(s.d365.seen(), ["token-1", "token-1"]);

    // Revoked before it expired: the retry carries a token fresh from the
    // endpoint (azure_identity's own cache would have handed back token-1).
    s.d365.revoke("token-1");
    s.get().await.unwrap();
    assert_eq!(s.issued(), 2, "one more token request");
    assert_eq!(s.d365.seen()[2..], ["token-1", "token-2"]);
    s.get().await.unwrap();
    assert_eq!(s.issued(), 2, "the new token is cached");

    // A write is sent again too: a 401 means it was not applied.
    s.d365.revoke("token-2");
    s.client
        .post_json(
            &s.url,
            &json!({"Name": "x"}),
            Idempotency::NonIdempotent,
            Deadline::after(Duration::from_secs(20)),
        )
        .await
        .unwrap();
    assert_eq!(s.issued(), 3);
    assert_eq!(s.d365.seen()[5..], ["token-2", "token-3"]);
}

#[tokio::test]
async fn concurrent_401s_on_one_token_make_one_renewal() {
    let s = Setup::start().await;
    s.get().await.unwrap();
    const BURST: usize = 8;
    *s.d365.hold.lock() = Some(Arc::new(Barrier::new(BURST)));
    s.d365.revoke("token-1");
    let burst = futures::future::join_all((0..BURST).map(|_| s.get())).await;
    for result in burst {
        result.unwrap();
    }
    assert_eq!(s.issued(), 2, "one renewal for the whole burst");
    let seen = s.d365.seen();
    let count = |token: &str| seen.iter().filter(|t| *t == token).count();
    // The barrier let no 401 out before all of them carried token-1.
    assert_eq!(count("token-1"), 1 + BURST);
    assert_eq!(count("token-2"), BURST);
}

#[tokio::test]
async fn a_second_401_is_upstream_auth() {
    let s = Setup::start().await;
    s.get().await.unwrap();
    // The app is no longer mapped to a D365FO user: every token is refused.
    *s.d365.refuse_all.lock() = true;
    let error = s.get().await.unwrap_err();
    assert!(
        matches!(error, WorkerError::UpstreamAuth { status: 401, .. }),
        "{error}"
    );
    assert_eq!(error.code(), common::ErrorCode::UpstreamAuth);
    assert_eq!(s.issued(), 2, "one renewal, not one per retry");
    assert_eq!(s.d365.seen()[1..], ["token-1", "token-2"]);
    // The refused renewal is dropped too: the next call starts afresh.
    s.get().await.unwrap_err();
    assert_eq!(s.issued(), 4);
    assert_eq!(s.d365.seen()[3..], ["token-3", "token-4"]);
}
