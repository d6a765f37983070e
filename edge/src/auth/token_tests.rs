use std::time::Duration;

use jsonwebtoken::{EncodingKey, Header};
use serde_json::json;

use super::*;
use crate::auth::testing::{self, CLIENT_ID, Issuer, MODULUS_B, PRIVATE_A, PRIVATE_B, mint};

fn verifier(issuer: &Issuer) -> Verifier {
    Verifier::new(&issuer.config(), Duration::from_secs(60))
}

fn invalid(result: Result<Principal, Rejected>) -> String {
    match result {
        Err(Rejected::Invalid(why)) => why,
        other => panic!("not refused as invalid: {other:?}"),
    }
}

#[tokio::test]
async fn a_good_delegated_token_is_its_user_with_the_token_kept() {
    let issuer = Issuer::start().await;
    let token = mint(PRIVATE_A, "a", &issuer.claims("mcp.read mcp.write"));
    let principal = verifier(&issuer).verify(&token).await.unwrap();
    assert_eq!(principal.subject, "user-oid-1", "oid before sub");
    assert_eq!(principal.tenant, "contoso");
    assert_eq!(principal.issuer, format!("jwt:{}", issuer.url));
    let grant = principal.grant.as_deref().unwrap();
    assert!(grant.may_write);
    assert_eq!(grant.scopes, ["mcp.read", "mcp.write"]);
    assert_eq!(grant.assertion, Some(UserAssertion(token.clone())));
    assert!(!format!("{principal:?}").contains(&token), "never printed");
}

#[tokio::test]
async fn an_app_only_token_has_its_roles_and_no_assertion() {
    let issuer = Issuer::start().await;
    let mut claims = issuer.app_claims(&["mcp.read"]);
    claims["aud"] = json!(testing::RESOURCE);
    let principal = verifier(&issuer)
        .verify(&mint(PRIVATE_A, "a", &claims))
        .await
        .unwrap();
    let grant = principal.grant.as_deref().unwrap();
    assert_eq!((grant.may_write, grant.assertion.is_none()), (false, true));
    assert_eq!(grant.scopes, ["mcp.read"]);
}

#[tokio::test]
async fn a_token_for_another_audience_or_issuer_is_refused() {
    let issuer = Issuer::start().await;
    let verifier = verifier(&issuer);
    for (claim, value, says) in [
        ("aud", json!("api://someone-else"), "audience"),
        ("aud", json!([CLIENT_ID, "api://someone-else"]), "audience"),
        (
            "iss",
            json!("https://login.microsoftonline.com/other/v2.0"),
            "issuer",
        ),
        (
            "iss",
            json!(format!("{}/", issuer.url)),
            "issuer", // exact: not even a trailing slash more
        ),
    ] {
        let mut claims = issuer.claims("mcp.read");
        claims[claim] = value;
        let why = invalid(verifier.verify(&mint(PRIVATE_A, "a", &claims)).await);
        assert!(why.contains(says), "{claim}: {why}");
    }
}

#[tokio::test]
async fn time_is_checked_with_a_minute_of_skew() {
    let issuer = Issuer::start().await;
    let verifier = verifier(&issuer);
    let now = jsonwebtoken::get_current_timestamp();
    let with = |claim: &str, at: u64| {
        let mut claims = issuer.claims("mcp.read");
        claims[claim] = json!(at);
        mint(PRIVATE_A, "a", &claims)
    };
    let expired = invalid(verifier.verify(&with("exp", now - 120)).await);
    assert!(expired.contains("expired"), "{expired}");
    let early = invalid(verifier.verify(&with("nbf", now + 120)).await);
    assert!(early.contains("not valid yet"), "{early}");
    assert!(
        verifier.verify(&with("exp", now - 30)).await.is_ok(),
        "skew"
    );
    assert!(
        verifier.verify(&with("nbf", now + 30)).await.is_ok(),
        "skew"
    );
}

#[tokio::test]
async fn a_signature_of_another_key_is_refused() {
    let issuer = Issuer::start().await;
    // Key B's signature under key A's kid.
    let forged = mint(PRIVATE_B, "a", &issuer.claims("mcp.read"));
    let why = invalid(verifier(&issuer).verify(&forged).await);
    assert!(why.contains("signature"), "{why}");
}

#[tokio::test]
async fn an_unknown_kid_fetches_the_set_again_once_per_interval() {
    let issuer = Issuer::start().await;
    let verifier = verifier(&issuer);
    let good = mint(PRIVATE_A, "a", &issuer.claims("mcp.read"));
    verifier.verify(&good).await.unwrap();
    verifier.verify(&good).await.unwrap();
    assert_eq!(issuer.fetches(), 1, "cached");
    // The issuer rotates to key B: within the interval of the first fetch
    // its tokens are refused; after it, the first one refreshes the set.
    issuer.publish(&[("a", testing::MODULUS_A), ("b", MODULUS_B)]);
    let rotated = mint(PRIVATE_B, "b", &issuer.claims("mcp.read"));
    invalid(verifier.verify(&rotated).await);
    assert_eq!(issuer.fetches(), 1);
    verifier.jwks().let_interval_pass();
    verifier.verify(&rotated).await.unwrap();
    verifier.verify(&rotated).await.unwrap();
    assert_eq!(issuer.fetches(), 2);
    // A flood of invented kids within the interval fetches nothing more.
    for i in 0..20 {
        let forged = mint(
            PRIVATE_B,
            &format!("made-up-{i}"),
            &issuer.claims("mcp.read"),
        );
        let why = invalid(verifier.verify(&forged).await);
        assert!(why.contains("kid"), "{why}");
    }
    assert_eq!(issuer.fetches(), 2);
}

#[tokio::test]
async fn alg_none_hs256_and_odd_shapes_are_refused_before_any_key_is_read() {
    let issuer = Issuer::start().await;
    let verifier = verifier(&issuer);
    let claims = issuer.claims("mcp.read");
    // `{"alg":"none","kid":"a"}`, before a good token's claims, unsigned.
    let good = mint(PRIVATE_A, "a", &claims);
    let body = good.split('.').nth(1).unwrap();
    let none = format!("eyJhbGciOiJub25lIiwia2lkIjoiYSJ9.{body}.");
    let mut hs = Header::new(Algorithm::HS256);
    hs.kid = Some("hmac".into());
    // Signed with the `oct` key the issuer's set (wrongly) also holds.
    let hs256 = jsonwebtoken::encode(&hs, &claims, &EncodingKey::from_secret(b"secret")).unwrap();
    for token in [none, hs256, "a.b".into(), "x".repeat(MAX_TOKEN_BYTES + 1)] {
        assert!(
            matches!(verifier.verify(&token).await, Err(Rejected::Invalid(_))),
            "{token:.40}"
        );
    }
    assert_eq!(issuer.fetches(), 0, "refused before the keys were needed");
}

#[tokio::test]
async fn a_token_without_either_scope_is_refused_for_scope() {
    let issuer = Issuer::start().await;
    let verifier = verifier(&issuer);
    let token = mint(PRIVATE_A, "a", &issuer.claims("User.Read"));
    assert_eq!(verifier.verify(&token).await, Err(Rejected::NoScope));
    // The full form a client asks for counts too.
    let full = format!("{}/mcp.write", testing::RESOURCE);
    let token = mint(PRIVATE_A, "a", &issuer.claims(&full));
    assert!(
        verifier
            .verify(&token)
            .await
            .unwrap()
            .grant
            .unwrap()
            .may_write
    );
}

#[tokio::test]
async fn an_unreachable_issuer_is_unavailable_not_invalid() {
    let issuer = Issuer::start().await;
    let mut config = issuer.config();
    config.jwks_url = Some(url::Url::parse("http://127.0.0.1:9/keys").unwrap());
    let verifier = Verifier::new(&config, Duration::from_secs(60));
    let token = mint(PRIVATE_A, "a", &issuer.claims("mcp.read"));
    assert!(matches!(
        verifier.verify(&token).await,
        Err(Rejected::Unavailable(_))
    ));
}

#[test]
fn only_a_jwt_shape_is_read_as_a_token() {
    assert!(looks_like_jwt("eyJhbGc.eyJzdWI.c2ln"));
    assert!(
        looks_like_jwt("eyJhbGc.eyJzdWI."),
        "unsigned: checked, and refused"
    );
    for key in ["sk-live-0123", "a.b", "a..c", "a.b.c.d", "a b.c.d"] {
        assert!(!looks_like_jwt(key), "{key}");
    }
}
