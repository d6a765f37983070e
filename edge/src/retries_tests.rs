//! Which calls share a request id, and where keys are derived at all.

use serde_json::json;

use super::*;

fn erp() -> Principal {
    Principal::key("erp", "contoso")
}

fn session(id: &str) -> Scope {
    Scope::Session(id.into())
}

const WINDOW: Duration = Duration::from_secs(600);
const CREATE: &str = "d365fo_create_entity_record";

/// The key of a create with `arguments` and JSON-RPC id `id` in `scope`.
fn key(scope: Option<&Scope>, id: Value, arguments: Value, window: Duration) -> RetryKey {
    let caller = erp();
    let arguments = arguments.as_object().unwrap().clone();
    let call = Call {
        caller: &caller,
        tool: CREATE,
        arguments: &arguments,
        read_only: false,
        explicit: None,
        scope,
        jsonrpc_id: &id,
    };
    retry_key(&call, window).unwrap()
}

fn derived(key: RetryKey) -> String {
    match key {
        RetryKey::Derived { request_id, window } => {
            assert_eq!(window, WINDOW);
            request_id
        }
        other => panic!("not derived: {other:?}"),
    }
}

#[test]
fn the_same_request_in_one_session_has_one_id() {
    let a = session("3b398d5d-734a-4ab3-acad-de16ee947a76");
    let args = json!({"entity_set": "Currencies", "fields": {"CurrencyCode": "ZZ1"}});
    let first = derived(key(Some(&a), json!(7), args.clone(), WINDOW));
    assert!(first.starts_with("idem-d-") && first.len() == 71, "{first}");
    assert_eq!(
        derived(key(Some(&a), json!(7), args.clone(), WINDOW)),
        first
    );
    // The same members in another order are the same arguments.
    let reordered = json!({"fields": {"CurrencyCode": "ZZ1"}, "entity_set": "Currencies"});
    assert_eq!(derived(key(Some(&a), json!(7), reordered, WINDOW)), first);
    // Anything else is another request.
    let others = [
        key(Some(&a), json!(8), args.clone(), WINDOW),
        key(Some(&a), json!("7"), args.clone(), WINDOW),
        key(
            Some(&a),
            json!(7),
            json!({"entity_set": "Currencies"}),
            WINDOW,
        ),
        key(
            Some(&session("4b398d5d-734a-4ab3-acad-de16ee947a76")),
            json!(7),
            args.clone(),
            WINDOW,
        ),
        key(
            Some(&Scope::Legacy(
                "3b398d5d-734a-4ab3-acad-de16ee947a76".into(),
            )),
            json!(7),
            args,
            WINDOW,
        ),
    ];
    for other in others {
        assert_ne!(derived(other), first);
    }
}

#[test]
fn no_key_is_derived_without_a_session_or_a_window() {
    let args = json!({"entity_set": "Currencies"});
    assert_eq!(key(None, json!(1), args.clone(), WINDOW), RetryKey::None);
    let a = session("3b398d5d-734a-4ab3-acad-de16ee947a76");
    assert_eq!(
        key(Some(&a), json!(1), args, Duration::ZERO),
        RetryKey::None
    );
}

#[test]
fn an_explicit_key_wins_and_reads_get_none() {
    let caller = erp();
    let arguments = Map::new();
    let scope = session("3b398d5d-734a-4ab3-acad-de16ee947a76");
    let explicit = json!("create-1");
    let id = json!(1);
    let mut call = Call {
        caller: &caller,
        tool: CREATE,
        arguments: &arguments,
        read_only: false,
        explicit: Some(&explicit),
        scope: Some(&scope),
        jsonrpc_id: &id,
    };
    let expected = keyed_request_id(&caller, &explicit).unwrap();
    assert_eq!(
        retry_key(&call, WINDOW).unwrap(),
        RetryKey::Explicit(expected)
    );
    call.read_only = true;
    assert_eq!(retry_key(&call, WINDOW).unwrap(), RetryKey::None);
}

#[test]
fn keys_set_the_request_id_and_the_records_life() {
    let mut request = CallToolRequest {
        request_id: "fresh".into(),
        ..Default::default()
    };
    RetryKey::None.apply(&mut request);
    assert_eq!(
        (request.request_id.as_str(), request.replay_ttl_ms),
        ("fresh", 0)
    );
    RetryKey::Explicit("idem-1".into()).apply(&mut request);
    assert_eq!(
        (request.request_id.as_str(), request.replay_ttl_ms),
        ("idem-1", 0)
    );
    let derived = RetryKey::Derived {
        request_id: "idem-d-1".into(),
        window: WINDOW,
    };
    derived.apply(&mut request);
    assert_eq!(request.request_id, "idem-d-1");
    assert_eq!(request.replay_ttl_ms, 600_000);
}

#[test]
fn an_idempotency_key_names_the_same_call_for_its_caller_only() {
    let erp = erp();
    let other = Principal::key("erp", "fabrikam");
    let key = json!("0b7d1c3e-1f1a-4c55-9a0e-3b8f1d2c4e5f");
    let id = keyed_request_id(&erp, &key).unwrap();
    assert!(
        id.starts_with("idem-") && !id.starts_with("idem-d-"),
        "{id}"
    );
    assert_eq!(id.len(), 69);
    assert_eq!(keyed_request_id(&erp, &key).unwrap(), id);
    assert_ne!(keyed_request_id(&other, &key).unwrap(), id);
    for bad in [
        json!(""),
        json!(7),
        json!("has space"),
        json!("é"),
        json!("k".repeat(201)),
    ] {
        let failure = keyed_request_id(&erp, &bad).unwrap_err();
        assert_eq!(failure.code, ErrorCode::InvalidArguments, "{bad}");
    }
}

#[test]
fn only_a_request_served_in_a_session_is_in_one() {
    let meta = |value: Value| {
        RequestMetaObject(rmcp::model::MetaObject(value.as_object().unwrap().clone()))
    };
    let none = meta(json!({}));
    assert!(!stateless(&none, None));
    assert!(!stateless(&none, Some("2025-11-25")));
    assert!(stateless(&none, Some("2026-07-28")));
    assert!(stateless(&none, Some("2027-01-01")));
    let named = meta(json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28"}));
    assert!(stateless(&named, Some("2025-11-25")), "the body names it");
    let older = meta(json!({"io.modelcontextprotocol/protocolVersion": "2025-11-25"}));
    assert!(!stateless(&older, Some("2025-11-25")));
}

#[test]
fn canonical_json_sorts_members_at_every_depth() {
    let value = json!({"b": [{"y": 1, "x": "é\""}], "a": null});
    assert_eq!(canonical(&value), r#"{"a":null,"b":[{"x":"é\"","y":1}]}"#);
}
