//! The simulator as an Entra stand-in: discovery and JWKS, user tokens by
//! the password grant and the admin route, the on-behalf-of exchange, and
//! D365FO users' roles on writes.

use jsonwebtoken::{DecodingKey, Validation, jwk::Jwk};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sim::auth::{
    AuthMode, Claims, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_TENANT_ID,
    DEFAULT_USER_PASSWORD, V2Claims,
};

use crate::support::Sim;

const OBO: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

async fn required() -> Sim {
    crate::auth::sim(AuthMode::Required).await
}

async fn post_token(sim: &Sim, pairs: &[(&str, &str)]) -> (StatusCode, Value) {
    crate::auth::request_token(sim, DEFAULT_TENANT_ID, pairs).await
}

/// An app-only token for the edge's API.
async fn app_only_token(sim: &Sim) -> String {
    let (status, body) = post_token(
        sim,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", DEFAULT_CLIENT_ID),
            ("client_secret", DEFAULT_CLIENT_SECRET),
            ("scope", "api://d365mcp/.default"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

/// A user's token for the edge's API, by the password grant.
async fn user_token(sim: &Sim, upn: &str) -> String {
    let (status, body) = post_token(
        sim,
        &[
            ("grant_type", "password"),
            ("client_id", DEFAULT_CLIENT_ID),
            ("username", upn),
            ("password", DEFAULT_USER_PASSWORD),
            ("scope", "openid profile api://d365mcp/mcp.tools"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "api://d365mcp/mcp.tools");
    body["access_token"].as_str().unwrap().to_owned()
}

/// Exchanges `assertion` for a D365FO token for this simulator.
async fn exchange(sim: &Sim, assertion: &str, secret: &str) -> (StatusCode, Value) {
    let scope = format!("{}/.default", sim.base);
    post_token(
        sim,
        &[
            ("grant_type", OBO),
            ("requested_token_use", "on_behalf_of"),
            ("client_id", DEFAULT_CLIENT_ID),
            ("client_secret", secret),
            ("assertion", assertion),
            ("scope", &scope),
        ],
    )
    .await
}

async fn d365_token(sim: &Sim, upn: &str) -> String {
    let assertion = user_token(sim, upn).await;
    let (status, body) = exchange(sim, &assertion, DEFAULT_CLIENT_SECRET).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn discovery_and_jwks_validate_the_tokens_issued() {
    let sim = required().await;
    let config: Value = sim
        .http
        .get(sim.url(&format!(
            "/{DEFAULT_TENANT_ID}/v2.0/.well-known/openid-configuration"
        )))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let issuer = format!("{}/{DEFAULT_TENANT_ID}/v2.0", sim.base);
    assert_eq!(config["issuer"], issuer);
    assert_eq!(
        config["token_endpoint"],
        sim.url(&format!("/{DEFAULT_TENANT_ID}/oauth2/v2.0/token"))
    );
    let jwks: Value = sim
        .http
        .get(config["jwks_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwk = &jwks["keys"][0];
    for field in ["kty", "use", "kid", "n", "e", "alg"] {
        assert!(jwk[field].is_string(), "{field} in {jwk}");
    }
    let jwk: Jwk = serde_json::from_value(jwk.clone()).unwrap();

    let token = user_token(&sim, "alice@contoso.com").await;
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
    assert_eq!(header.kid, jwk.common.key_id);
    // What the edge does: the discovered issuer, the API's client id.
    let mut validation = Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_issuer(&[&issuer]);
    validation.set_audience(&[DEFAULT_CLIENT_ID]);
    let claims = jsonwebtoken::decode::<V2Claims>(
        &token,
        &DecodingKey::from_jwk(&jwk).unwrap(),
        &validation,
    )
    .unwrap()
    .claims;
    assert_eq!(claims.ver, "2.0");
    assert_eq!(claims.tid, DEFAULT_TENANT_ID);
    assert_eq!(claims.scp.as_deref(), Some("mcp.tools"));
    assert_eq!(claims.upn.as_deref(), Some("alice@contoso.com"));
    assert_eq!(claims.oid, sim::auth::object_id("alice@contoso.com"));
    assert_eq!(claims.azp, DEFAULT_CLIENT_ID);

    // An app-only token for the same API: roles, no scp.
    let app: V2Claims =
        jsonwebtoken::dangerous::insecure_decode_claims(&app_only_token(&sim).await).unwrap();
    assert!(app.scp.is_none());
    assert_eq!(app.roles, Some(vec!["mcp.tools".to_owned()]));

    let other = sim
        .http
        .get(sim.url("/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn on_behalf_of_gives_a_d365_token_for_the_same_user() {
    let sim = required().await;
    let assertion = user_token(&sim, "alice@contoso.com").await;
    let (status, body) = exchange(&sim, &assertion, DEFAULT_CLIENT_SECRET).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3599);
    assert_eq!(body["scope"], format!("{}/user_impersonation", sim.base));
    let token = body["access_token"].as_str().unwrap();
    let claims: Claims = jsonwebtoken::dangerous::insecure_decode_claims(token).unwrap();
    assert_eq!(claims.aud, sim.base);
    assert_eq!(claims.upn.as_deref(), Some("alice@contoso.com"));
    assert_eq!(claims.oid, sim::auth::object_id("alice@contoso.com"));
    assert_eq!(claims.scp.as_deref(), Some("user_impersonation"));
    assert_eq!(claims.appid, DEFAULT_CLIENT_ID);
    let res = sim
        .http
        .get(sim.url("/data/Currencies?$top=1"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);

    let counts: Value = sim
        .http
        .get(sim.url("/_sim/tokens"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        counts,
        json!({"client_credentials": 0, "password": 1, "on_behalf_of": 1, "admin": 0, "refused": 0})
    );
}

#[tokio::test]
async fn on_behalf_of_refuses_as_entra_does() {
    let sim = required().await;
    let good = user_token(&sim, "bob@contoso.com").await;
    let expired: Value = sim
        .http
        .post(sim.url("/_sim/users/bob@contoso.com/token"))
        .json(&json!({"scope": "api://d365mcp/mcp.tools", "lifetime_secs": -3600}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let expired = expired["access_token"].as_str().unwrap();
    let app_only = app_only_token(&sim).await;
    // A D365FO token is not for this client: its audience is D365FO.
    let for_d365 = d365_token(&sim, "bob@contoso.com").await;
    let cases = [
        (good.as_str(), "wrong", 401, "invalid_client", 7000215),
        (
            "not.a.jwt",
            DEFAULT_CLIENT_SECRET,
            400,
            "invalid_request",
            50027,
        ),
        (expired, DEFAULT_CLIENT_SECRET, 400, "invalid_grant", 500133),
        (
            &app_only,
            DEFAULT_CLIENT_SECRET,
            400,
            "invalid_grant",
            50013,
        ),
        (
            &for_d365,
            DEFAULT_CLIENT_SECRET,
            400,
            "invalid_grant",
            500131,
        ),
    ];
    for (assertion, secret, status, error, code) in cases {
        let (got, body) = exchange(&sim, assertion, secret).await;
        assert_eq!(got.as_u16(), status, "{body}");
        assert_eq!(body["error"], error, "{body}");
        assert_eq!(body["error_codes"], json!([code]), "{body}");
    }
    let (status, body) = post_token(
        &sim,
        &[
            ("grant_type", OBO),
            ("requested_token_use", "on_behalf_of"),
            ("client_id", DEFAULT_CLIENT_ID),
            ("client_secret", DEFAULT_CLIENT_SECRET),
            ("assertion", &good),
            ("scope", "https://h/Data.Write"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error_codes"], json!([70011]), "{body}");
    let (status, body) = post_token(
        &sim,
        &[
            ("grant_type", "password"),
            ("client_id", DEFAULT_CLIENT_ID),
            ("username", "bob@contoso.com"),
            ("password", "guess"),
            ("scope", "api://d365mcp/mcp.tools"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error_codes"], json!([50126]), "{body}");
}

async fn create(sim: &Sim, token: &str, account: &str) -> reqwest::Response {
    sim.http
        .post(sim.url("/data/CustomersV3"))
        .bearer_auth(token)
        .json(&json!({"CustomerAccount": account, "CustomerGroupId": "10"}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_reader_may_read_but_not_write() {
    let sim = required().await;
    let alice = d365_token(&sim, "alice@contoso.com").await;
    let bob = d365_token(&sim, "bob@contoso.com").await;
    assert_eq!(
        create(&sim, &alice, "US-ALICE").await.status(),
        StatusCode::CREATED
    );
    let refused = create(&sim, &bob, "US-BOB").await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let body: Value = refused.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not authorized to access table 'CustomersV3'"),
        "{body}"
    );
    let key = "/data/CustomersV3(dataAreaId='usmf',CustomerAccount='US-ALICE')";
    let read = sim
        .http
        .get(sim.url(key))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), StatusCode::OK);
    for method in [reqwest::Method::PATCH, reqwest::Method::DELETE] {
        let res = sim
            .http
            .request(method, sim.url(key))
            .bearer_auth(&bob)
            .json(&json!({"CreditLimit": 1}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
    }
    // Inside a `$batch` too: a reader's write fails its changeset with the
    // same 403, and a lone write part is refused the same way.
    let part = |id: u32| {
        format!(
            "Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\
             Content-ID: {id}\r\n\r\nPATCH {key} HTTP/1.1\r\nContent-Type: application/json\r\n\r\n\
             {{\"CreditLimit\": 2}}\r\n"
        )
    };
    let payload = format!(
        "--batch_r\r\nContent-Type: multipart/mixed; boundary=changeset_r\r\n\r\n\
         --changeset_r\r\n{}--changeset_r--\r\n--batch_r\r\n{}--batch_r--\r\n",
        part(1),
        part(2)
    );
    let batch = sim
        .http
        .post(sim.url("/data/$batch"))
        .bearer_auth(&bob)
        .header("content-type", "multipart/mixed; boundary=batch_r")
        .body(payload)
        .send()
        .await
        .unwrap();
    assert_eq!(batch.status(), StatusCode::OK);
    let text = batch.text().await.unwrap();
    assert_eq!(text.matches("HTTP/1.1 403").count(), 2, "{text}");
    assert!(text.contains("not authorized to access table"), "{text}");
    // Actions are not writes: a reader may ask for the version.
    let version = sim
        .http
        .post(sim.url(
            "/data/DataManagementEntities/Microsoft.Dynamics.DataEntities.GetApplicationVersion",
        ))
        .bearer_auth(&bob)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_ne!(version.status(), StatusCode::FORBIDDEN);
    // The admin route knows only the directory's users.
    let unknown = sim
        .http
        .post(sim.url("/_sim/users/carol@contoso.com/token"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}
