//! API keys: who they name, what is refused, and the failures counted.

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
        let reason = match identify(&keys(), &h).unwrap_err() {
            Refused::Missing(r) | Refused::Ambiguous(r) | Refused::Wrong { reason: r, .. } => r,
            Refused::Token(..) => "a token",
        };
        assert!(reason.contains(says), "{h:?}: {reason}");
    }
}

#[test]
fn two_credentials_are_ambiguous_whatever_they_are() {
    let mut both = headers(&[("authorization", "Bearer s3cret")]);
    both.append("authorization", HeaderValue::from_static("Bearer other"));
    let mixed = headers(&[("authorization", "Bearer s3cret"), ("x-api-key", "s3cret")]);
    let mut two = headers(&[("x-api-key", "s3cret")]);
    two.append("x-api-key", HeaderValue::from_static("s3cret"));
    for h in [both, mixed, two] {
        assert!(
            matches!(identify(&keys(), &h), Err(Refused::Ambiguous(_))),
            "{h:?}"
        );
    }
}

#[test]
fn a_wrong_key_is_hinted_at_never_shown() {
    let h = headers(&[("authorization", "Bearer sk-live-0123456789abcdef")]);
    let Err(Refused::Wrong { hint, .. }) = identify(&keys(), &h) else {
        panic!("a wrong key");
    };
    assert!(!hint.contains("0123456789"), "{hint}");
}

#[tokio::test]
async fn an_address_that_fails_too_often_is_refused_even_with_a_good_key() {
    let mut config = EdgeConfig::local("127.0.0.1:0".parse().unwrap());
    config.api_keys = keys();
    config.auth_failures = common::config::FailureLimit {
        max: 3,
        window: Duration::from_secs(60),
    };
    let auth = Auth::new(&config);
    let me = Some("192.0.2.7".parse().unwrap());
    let wrong = headers(&[("authorization", "Bearer guess")]);
    for _ in 0..3 {
        let refused = auth.check(me, &wrong).await.unwrap_err();
        assert_eq!(refused.status(), 401);
    }
    let good = headers(&[("authorization", "Bearer s3cret")]);
    let refused = auth.check(me, &good).await.unwrap_err();
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key(header::RETRY_AFTER));
    let elsewhere = Some("192.0.2.8".parse().unwrap());
    assert_eq!(auth.check(elsewhere, &good).await.unwrap().subject, "erp");
    assert_eq!(
        auth.counts(),
        failures::Counts {
            failed: 3,
            refused: 1
        }
    );
    let mut two = good.clone();
    two.append("authorization", HeaderValue::from_static("Bearer s3cret"));
    assert_eq!(auth.check(elsewhere, &two).await.unwrap_err().status(), 400);
}
