use proptest::prelude::*;

use super::*;
use crate::proto::Principal;

fn secret() -> InternalSecret {
    InternalSecret::new("0123456789abcdef0123456789abcdef").unwrap()
}

fn request() -> CallToolRequest {
    CallToolRequest {
        request_id: "r-1".into(),
        tenant: "contoso".into(),
        environment: "prod".into(),
        principal: Some(Principal {
            subject: "erp".into(),
            issuer: "d365mcp-api-key".into(),
            scopes: Vec::new(),
        }),
        tool: "d365fo_query_entities".into(),
        arguments_json: r#"{"entity_set":"CustomersV3"}"#.into(),
        deadline_unix_ms: 1_000_000,
        ..Default::default()
    }
}

const NOW: u64 = 1_700_000_000_000;

#[test]
fn a_signed_call_verifies_within_its_lifetime() {
    let token = secret().sign_at(&request(), NOW);
    assert!(token.starts_with("v1.1700000000000."), "{token}");
    for now in [NOW, NOW + 29_000, NOW - 9_000] {
        assert_eq!(
            secret().verify_at(&request(), Some(&token), now),
            Ok(()),
            "{now}"
        );
    }
    assert_eq!(
        secret().verify(&request(), Some(&secret().sign(&request()))),
        Ok(())
    );
}

#[test]
fn an_old_or_future_assertion_is_expired() {
    let token = secret().sign_at(&request(), NOW);
    let late = NOW + millis(LIFETIME + SKEW) + 1;
    let early = NOW - millis(SKEW) - 1;
    for now in [late, early] {
        assert_eq!(
            secret().verify_at(&request(), Some(&token), now),
            Err(Refused::Expired)
        );
    }
}

#[test]
fn every_field_of_the_call_is_signed() {
    let token = secret().sign_at(&request(), NOW);
    let changes: [fn(&mut CallToolRequest); 9] = [
        |r| r.request_id.push('x'),
        |r| r.tenant = "fabrikam".into(),
        |r| r.principal.as_mut().unwrap().subject = "admin".into(),
        |r| r.principal = None,
        |r| r.tool = "d365fo_delete_entity_record".into(),
        |r| r.environment = "other".into(),
        |r| r.arguments_json = r#"{"entity_set":"VendorsV2"}"#.into(),
        |r| r.deadline_unix_ms += 1,
        |r| r.replay_ttl_ms = 5,
    ];
    for change in changes {
        let mut altered = request();
        change(&mut altered);
        assert_eq!(
            secret().verify_at(&altered, Some(&token), NOW),
            Err(Refused::BadSignature),
            "{altered:?}"
        );
    }
    // Moving a field's bytes into the next one changes the signature too.
    let mut shifted = request();
    shifted.request_id = "r-1c".into();
    shifted.tenant = "ontoso".into();
    assert_eq!(
        secret().verify_at(&shifted, Some(&token), NOW),
        Err(Refused::BadSignature)
    );
}

#[test]
fn another_secret_missing_or_malformed_assertions_are_refused() {
    let other = InternalSecret::new("another secret of at least thirty-two bytes").unwrap();
    let token = other.sign_at(&request(), NOW);
    assert_eq!(
        secret().verify_at(&request(), Some(&token), NOW),
        Err(Refused::BadSignature)
    );
    assert_eq!(
        secret().verify_at(&request(), None, NOW),
        Err(Refused::Missing)
    );
    let good = secret().sign_at(&request(), NOW);
    let resigned_time = good.replacen(&NOW.to_string(), &(NOW + 1).to_string(), 1);
    assert_eq!(
        secret().verify_at(&request(), Some(&resigned_time), NOW),
        Err(Refused::BadSignature)
    );
    for bad in [
        "",
        "v1",
        "v1.x.y",
        "v2.1.00",
        "v1.1.zz",
        &good[..good.len() - 2],
    ] {
        assert_eq!(
            secret().verify_at(&request(), Some(bad), NOW),
            Err(Refused::Malformed),
            "{bad}"
        );
    }
}

#[test]
fn secrets_are_long_and_never_printed() {
    assert!(
        InternalSecret::new("short")
            .unwrap_err()
            .contains("at least 32")
    );
    assert!(InternalSecret::new(&" ".repeat(40)).is_err());
    let generated = InternalSecret::generate().unwrap();
    assert_eq!(format!("{generated:?}"), "InternalSecret(***)");
    let a = generated.sign_at(&request(), NOW);
    let b = InternalSecret::generate().unwrap().sign_at(&request(), NOW);
    assert_ne!(a, b, "each generated secret is new");
    // A file's final newline is not part of the secret.
    let with_newline = InternalSecret::new("0123456789abcdef0123456789abcdef\n").unwrap();
    assert_eq!(
        with_newline.sign_at(&request(), NOW),
        secret().sign_at(&request(), NOW)
    );
}

proptest! {
    #[test]
    fn verifying_never_panics(token in "\\PC{0,80}", now in any::<u64>()) {
        let _ = secret().verify_at(&request(), Some(&token), now);
    }
}
