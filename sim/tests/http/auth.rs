//! The Entra-style token endpoint and D365FO's bearer check, over HTTP.

use reqwest::StatusCode;
use serde_json::Value;
use sim::SimConfig;
use sim::auth::{
    AuthConfig, AuthMode, Claims, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_TENANT_ID,
};

use crate::support::Sim;

/// A simulator whose D365FO endpoints need tokens in `mode`.
pub async fn sim(mode: AuthMode) -> Sim {
    Sim::start(SimConfig {
        auth: AuthConfig {
            mode,
            ..AuthConfig::default()
        },
        ..SimConfig::default()
    })
    .await
}

pub fn form(pairs: &[(&str, &str)]) -> String {
    use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", utf8_percent_encode(v, NON_ALPHANUMERIC)))
        .collect::<Vec<_>>()
        .join("&")
}

/// POSTs a token request; the status and the JSON body.
pub async fn request_token(sim: &Sim, tenant: &str, pairs: &[(&str, &str)]) -> (StatusCode, Value) {
    let response = sim
        .http
        .post(sim.url(&format!("/{tenant}/oauth2/v2.0/token")))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(pairs))
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

fn good_request(sim: &Sim) -> Vec<(&'static str, String)> {
    vec![
        ("grant_type", "client_credentials".to_owned()),
        ("client_id", DEFAULT_CLIENT_ID.to_owned()),
        ("client_secret", DEFAULT_CLIENT_SECRET.to_owned()),
        ("scope", format!("{}/.default", sim.base)),
    ]
}

/// A token from the simulator for its own base URL.
pub async fn fetch_token(sim: &Sim) -> String {
    let pairs = good_request(sim);
    let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, body) = request_token(sim, DEFAULT_TENANT_ID, &pairs).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

/// How a forged token is signed.
enum Key<'a> {
    /// With the simulator's own (published) RSA key.
    Simulator,
    /// HS256 with a secret, as the simulator signed tokens before.
    Hmac(&'a str),
}

/// An app-only token of `appid` signed with `key`, for `aud`, expiring at `exp`.
fn forge(key: Key<'_>, appid: &str, aud: &str, exp: u64) -> String {
    let now = sim::auth::bearer::now();
    let iss = sim::auth::issuer(DEFAULT_TENANT_ID);
    let claims = Claims {
        aud: aud.to_owned(),
        idp: iss.clone(),
        iss,
        iat: now.min(exp),
        nbf: now.min(exp).saturating_sub(300),
        exp,
        appid: appid.into(),
        appidacr: "1".into(),
        oid: "forger".into(),
        sub: "forger".into(),
        tid: DEFAULT_TENANT_ID.into(),
        uti: "x".into(),
        ver: "1.0".into(),
        upn: None,
        unique_name: None,
        name: None,
        scp: None,
    };
    match key {
        Key::Simulator => jsonwebtoken::encode(
            &sim::auth::keys::header(),
            &claims,
            &sim::auth::keys::keys().unwrap().encoding,
        ),
        Key::Hmac(secret) => jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
        ),
    }
    .unwrap()
}

async fn get_data(sim: &Sim, token: Option<&str>) -> reqwest::Response {
    let mut request = sim.http.get(sim.url("/data"));
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn issues_tokens_in_entra_shape_that_d365_accepts() {
    let sim = sim(AuthMode::Required).await;
    let pairs = good_request(&sim);
    let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, body) = request_token(&sim, DEFAULT_TENANT_ID, &pairs).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3599);
    assert_eq!(body["ext_expires_in"], 3599);
    let token = body["access_token"].as_str().unwrap();
    let claims: Claims = jsonwebtoken::dangerous::insecure_decode_claims(token).unwrap();
    assert_eq!(claims.aud, sim.base);
    assert_eq!(
        claims.iss,
        format!("https://sts.windows.net/{DEFAULT_TENANT_ID}/")
    );
    assert_eq!(claims.tid, DEFAULT_TENANT_ID);
    assert_eq!(claims.appid, DEFAULT_CLIENT_ID);
    assert_eq!(claims.oid, sim::auth::object_id(DEFAULT_CLIENT_ID));
    assert!(claims.nbf <= claims.iat && claims.iat < claims.exp);
    assert_eq!(get_data(&sim, Some(token)).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn http2_requests_get_their_own_host_in_links_and_audience() {
    let sim = sim(AuthMode::Required).await;
    let token = fetch_token(&sim).await;
    // HTTP/2 carries the host as `:authority`; there is no Host header.
    let h2 = reqwest::Client::builder()
        .no_proxy()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let res = h2
        .get(sim.url("/data"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.version(), reqwest::Version::HTTP_2);
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body["@odata.context"],
        format!("{}/data/$metadata", sim.base)
    );
    let res = h2
        .get(sim.url("/data/Currencies?$top=1"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    let context = body["@odata.context"].as_str().unwrap();
    assert!(
        context.starts_with(&format!("{}/data/$metadata#Currencies", sim.base)),
        "{context}"
    );
}

#[tokio::test]
async fn token_errors_are_entras() {
    let sim = sim(AuthMode::Required).await;
    let base = good_request(&sim);
    let with = |name: &str, value: Option<&str>| -> Vec<(String, String)> {
        base.iter()
            .filter(|(k, _)| *k != name || value.is_some())
            .map(|(k, v)| {
                let v = if *k == name {
                    value.unwrap_or_default().to_owned()
                } else {
                    v.clone()
                };
                ((*k).to_owned(), v)
            })
            .collect()
    };
    let cases = [
        (
            with("client_secret", Some("wrong")),
            DEFAULT_TENANT_ID,
            401,
            "invalid_client",
            7000215,
        ),
        (
            with("client_secret", None),
            DEFAULT_TENANT_ID,
            401,
            "invalid_client",
            7000218,
        ),
        (
            with("client_id", Some("nobody")),
            DEFAULT_TENANT_ID,
            400,
            "unauthorized_client",
            700016,
        ),
        (
            with("grant_type", Some("implicit")),
            DEFAULT_TENANT_ID,
            400,
            "unsupported_grant_type",
            70003,
        ),
        (
            with("grant_type", None),
            DEFAULT_TENANT_ID,
            400,
            "invalid_request",
            900144,
        ),
        (
            with("scope", Some("https://x/user_impersonation")),
            DEFAULT_TENANT_ID,
            400,
            "invalid_scope",
            1002012,
        ),
        (
            with("scope", Some("api://x/.default")),
            DEFAULT_TENANT_ID,
            400,
            "invalid_resource",
            500011,
        ),
        (
            with("scope", None),
            DEFAULT_TENANT_ID,
            400,
            "invalid_request",
            900144,
        ),
        (
            with("scope", Some("x")),
            "contoso.onmicrosoft.com",
            400,
            "invalid_request",
            90002,
        ),
    ];
    for (pairs, tenant, status, error, code) in cases {
        let pairs: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let (got, body) = request_token(&sim, tenant, &pairs).await;
        assert_eq!(got.as_u16(), status, "{body}");
        assert_eq!(body["error"], error, "{body}");
        assert_eq!(body["error_codes"], serde_json::json!([code]), "{body}");
        let description = body["error_description"].as_str().unwrap();
        assert!(
            description.starts_with(&format!("AADSTS{code}: ")),
            "{description}"
        );
        for field in ["timestamp", "trace_id", "correlation_id"] {
            let value = body[field].as_str().unwrap();
            assert!(description.contains(value), "{field} not in {description}");
        }
        assert!(body["timestamp"].as_str().unwrap().ends_with('Z'));
    }
}

async fn assert_401(response: reqwest::Response) {
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["Message"], "Authentication failed.");
}

#[tokio::test]
async fn required_mode_refuses_bad_tokens_with_d365s_401() {
    let sim = sim(AuthMode::Required).await;
    let hour = sim::auth::bearer::now() + 3600;
    let app = DEFAULT_CLIENT_ID;
    let cases = [
        None,
        Some("not-a-jwt".to_owned()),
        Some(forge(Key::Hmac("some key"), app, &sim.base, hour)),
        Some(forge(Key::Simulator, app, &sim.base, 1_000_000)),
        Some(forge(
            Key::Simulator,
            app,
            "https://other.operations.dynamics.com",
            hour,
        )),
        // Guessed: an app with no D365FO user mapped gets the same 401.
        Some(forge(Key::Simulator, "unregistered-app", &sim.base, hour)),
    ];
    for token in &cases {
        assert_401(get_data(&sim, token.as_deref()).await).await;
    }
    // The same check guards the metadata API and JSON services.
    for path in ["/Metadata/DataEntities", "/api/services/SysTestServices"] {
        assert_401(sim.http.get(sim.url(path)).send().await.unwrap()).await;
    }
    // A forged token with the right key, audience and lifetime is accepted:
    // the check is the signature, not who asked for the token.
    let good = forge(Key::Simulator, app, &format!("{}/", sim.base), hour);
    assert_eq!(get_data(&sim, Some(&good)).await.status(), StatusCode::OK);
    let fetched = fetch_token(&sim).await;
    assert_eq!(
        get_data(&sim, Some(&fetched)).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn any_token_and_none_modes() {
    let any = sim(AuthMode::AnyToken).await;
    assert_401(get_data(&any, None).await).await;
    assert_eq!(
        get_data(&any, Some("unsigned")).await.status(),
        StatusCode::OK
    );
    let none = Sim::default().await;
    assert_eq!(get_data(&none, None).await.status(), StatusCode::OK);
    assert_eq!(get_data(&none, Some("junk")).await.status(), StatusCode::OK);
    // The token endpoint works in every mode.
    assert!(!fetch_token(&none).await.is_empty());
}
