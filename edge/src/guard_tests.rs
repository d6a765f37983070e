//! The body guard's tests: refusals by example, and properties over
//! arbitrary bodies.

use axum::http::StatusCode;
use proptest::prelude::*;

use super::*;

async fn rejection(body: &str) -> Option<(StatusCode, Value)> {
    let response = check(&Bytes::from(body.to_owned())).err()?;
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .unwrap();
    Some((status, serde_json::from_slice(&bytes).unwrap()))
}

#[tokio::test]
async fn accepts_requests_notifications_and_responses() {
    for ok in [
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"some/custom","params":{}}"#,
        r#"{"jsonrpc":"2.0","id":1,"result":{}}"#,
    ] {
        assert!(rejection(ok).await.is_none(), "{ok}");
    }
}

#[tokio::test]
async fn caller_text_is_quoted_short() {
    let method = "m".repeat(100_000);
    let body = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"{method}","params":5}}"#);
    let (_, answer) = rejection(&body).await.unwrap();
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.len() < 1_000, "{} bytes", message.len());
}

#[tokio::test]
async fn a_large_initialize_is_refused_and_a_normal_one_is_not() {
    let init = |title: &str| {
        format!(
            r#"{{"jsonrpc":"2.0","id":3,"method":"initialize","params":{{"protocolVersion":"2025-06-18","capabilities":{{}},"clientInfo":{{"name":"c","version":"1","title":"{title}"}}}}}}"#
        )
    };
    assert!(rejection(&init("Claude")).await.is_none());
    let (status, answer) = rejection(&init(&"t".repeat(3 * 1024 * 1024)))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(answer["id"], 3);
    assert_eq!(answer["error"]["data"]["code"], "invalid_request");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.contains("16384"), "{message}");
    assert!(!message.contains("ttt"), "{message}");
}

#[test]
fn answers_count_against_the_limits_and_notifications_do_not() {
    let summary = |body: &str| check(&Bytes::from(body.to_owned())).ok().flatten();
    let answer = summary(r#"{"jsonrpc":"2.0","id":"s-1","result":{"action":"accept"}}"#);
    assert_eq!(answer.map(|a| a.id), Some(Value::from("s-1")));
    let refused = summary(r#"{"jsonrpc":"2.0","id":2,"error":{"code":-1,"message":"no"}}"#);
    assert_eq!(refused.map(|a| a.id), Some(Value::from(2)));
    assert!(summary(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).is_none());
}

#[tokio::test]
async fn refuses_garbage_with_the_right_codes() {
    for (bad, code) in [
        ("", ErrorCode::ParseError),
        ("{", ErrorCode::ParseError),
        ("[]", ErrorCode::InvalidRequest),
        ("42", ErrorCode::InvalidRequest),
        (
            r#"{"id":1,"method":"tools/list"}"#,
            ErrorCode::InvalidRequest,
        ),
        (
            r#"{"jsonrpc":"1.0","id":1,"method":"x"}"#,
            ErrorCode::InvalidRequest,
        ),
        (
            r#"{"jsonrpc":"2.0","id":9,"result":{},"error":{"code":1,"message":"m"}}"#,
            ErrorCode::InvalidRequest,
        ),
        (
            r#"{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":5}}"#,
            ErrorCode::InvalidArguments,
        ),
        (
            r#"{"jsonrpc":"2.0","id":9,"method":"tools/call"}"#,
            ErrorCode::InvalidArguments,
        ),
        (
            r#"{"jsonrpc":"2.0","id":9,"method":"logging/setLevel","params":{}}"#,
            ErrorCode::InvalidArguments,
        ),
    ] {
        let (status, body) = rejection(bad)
            .await
            .unwrap_or_else(|| panic!("{bad} accepted"));
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(body["error"]["code"], code.jsonrpc_code(), "{bad}: {body}");
        // Answered before rmcp, and still naming the code in `data`.
        assert_eq!(body["error"]["data"]["code"], code.as_str(), "{bad}");
        assert_eq!(body["jsonrpc"], "2.0");
    }
    for (bad, field) in [
        (
            r#"{"jsonrpc":"2.0","id":9,"method":"resources/read","params":{"uri":5}}"#,
            "params.uri",
        ),
        (
            r#"{"jsonrpc":"2.0","id":9,"method":"prompts/get","params":{}}"#,
            "params.name",
        ),
        (
            r#"{"jsonrpc":"2.0","id":9,"method":"prompts/get","params":{"name":"p","arguments":[]}}"#,
            "params.arguments",
        ),
    ] {
        let (status, body) = rejection(bad).await.unwrap();
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(
            body["error"]["code"],
            ErrorCode::InvalidArguments.jsonrpc_code(),
            "{bad}"
        );
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(field), "{bad}: {message}");
    }
    for method in REMOVED_IN_STATELESS {
        let bad = format!(
            r#"{{"jsonrpc":"2.0","id":"r","method":"{method}","params":{{"_meta":{{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}}}}"#
        );
        let (status, body) = rejection(&bad).await.unwrap();
        assert_eq!(status, StatusCode::NOT_FOUND, "{method}");
        assert_eq!(
            body["error"]["code"],
            ErrorCode::MethodNotFound.jsonrpc_code(),
            "{method}"
        );
        assert_eq!(body["id"], "r", "{method}");
    }
    // Well-formed too: a full `initialize` naming 2026-07-28 in `_meta`.
    let initialize = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2026-07-28","capabilities":{},"clientInfo":{"name":"c","version":"1"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}"#;
    assert_eq!(
        rejection(initialize).await.unwrap().0,
        StatusCode::NOT_FOUND
    );
    // And a 2025 initialize is served.
    let initialize = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}"#;
    assert!(rejection(initialize).await.is_none());
    let (_, body) = rejection(r#"{"jsonrpc":"1.0","id":9,"method":"tools/list"}"#)
        .await
        .unwrap();
    assert_eq!(body["id"], 9, "the error carries the request id");
}

/// The answer to `bytes` when the guard refuses them: status and body.
fn refused(bytes: &[u8]) -> Option<(StatusCode, Value)> {
    let response = check(&Bytes::copy_from_slice(bytes)).err()?;
    let status = response.status();
    let body = futures::executor::block_on(axum::body::to_bytes(response.into_body(), 1 << 20))
        .expect("a refusal's body is in memory");
    let body = serde_json::from_slice(&body).expect("a refusal's body is JSON");
    Some((status, body))
}

/// What every refusal must be: a JSON-RPC 2.0 error whose code and status
/// are those of the error `data.code` names, with a short message.
fn assert_well_formed(status: StatusCode, body: &Value) {
    assert_eq!(body["jsonrpc"], "2.0", "{body}");
    let code: ErrorCode = body["error"]["data"]["code"]
        .as_str()
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no known data.code: {body}"));
    assert_eq!(body["error"]["code"], code.jsonrpc_code(), "{body}");
    assert_eq!(status.as_u16(), code.http_status(), "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(!message.is_empty(), "{body}");
    // Caller text is quoted short, whatever the body held.
    assert!(message.len() <= 1_000, "{} bytes: {message}", message.len());
}

/// Any JSON value, strings long enough to test how much is quoted.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        // Floats with few digits: serde_json (without `float_roundtrip`)
        // may change the last digit of a long one between write and read.
        (-1_000_000i32..1_000_000).prop_map(|n| Value::from(f64::from(n) / 8.0)),
        ".{0,40}".prop_map(Value::from),
        "[a-z]{1500,3000}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(".{0,12}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// An object shaped more or less like a JSON-RPC message: each member
/// present or not, right or wrong.
fn message_like() -> impl Strategy<Value = Value> {
    let method = prop_oneof![
        prop::sample::select(MCP_METHODS).prop_map(Value::from),
        "[a-z/_]{0,30}".prop_map(Value::from),
        json_value(),
    ];
    let jsonrpc = prop_oneof![Just(Value::from("2.0")), json_value()];
    (
        prop::option::of(jsonrpc),
        prop::option::of(json_value()),
        prop::option::of(method),
        prop::option::of(json_value()),
        prop::option::of(json_value()),
    )
        .prop_map(|(jsonrpc, id, method, params, result)| {
            let mut object = serde_json::Map::new();
            for (key, value) in [
                ("jsonrpc", jsonrpc),
                ("id", id),
                ("method", method),
                ("params", params),
                ("result", result),
            ] {
                if let Some(value) = value {
                    object.insert(key.into(), value);
                }
            }
            Value::Object(object)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Arbitrary bytes are let through or refused well-formed; never a
    /// panic, never an answer of another shape.
    #[test]
    fn any_bytes_are_refused_well_formed_or_let_through(
        bytes in prop::collection::vec(any::<u8>(), 0..256)
    ) {
        if let Some((status, body)) = refused(&bytes) {
            assert_well_formed(status, &body);
            prop_assert_eq!(&body["id"], &Value::Null);
        }
    }

    /// Objects that look like JSON-RPC: a refusal is well-formed and
    /// answers the request's own `id` when it has one.
    #[test]
    fn message_like_objects_are_answered_with_their_id(message in message_like()) {
        let bytes = serde_json::to_vec(&message).expect("a Value serializes");
        if let Some((status, body)) = refused(&bytes) {
            assert_well_formed(status, &body);
            // As the guard reads it (a float need not survive a round trip).
            let read: Value = serde_json::from_slice(&bytes).expect("just written");
            let id = read.get("id").cloned().unwrap_or(Value::Null);
            prop_assert_eq!(&body["id"], &id);
        }
    }
}

/// The general parse's summary of a body that rmcp reads as a `tools/call`.
fn general_tool_call(body: &str) -> Option<(Value, Option<String>)> {
    let message = serde_json::from_slice::<ClientJsonRpcMessage>(body.as_bytes()).ok()?;
    let ClientJsonRpcMessage::Request(request) = &message else {
        return None;
    };
    if !matches!(request.request, ClientRequest::CallToolRequest(_)) {
        return None;
    }
    let summary = summarize(body.as_bytes(), Ok(&message)).ok()??;
    Some((summary.id, summary.tool))
}

#[test]
fn the_tool_call_reading_takes_what_rmcp_takes_as_a_tool_call() {
    let taken = [
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":{"a":1}}}"#,
        r#"{"jsonrpc":"2.0","id":"x-1","method":"tools/call","params":{"name":"t"}}"#,
        r#"{"id":2.0,"params":{"arguments":{},"name":"t","_meta":{"progressToken":3}},"method":"tools/call","jsonrpc":"2.0"}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":null}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","requestState":"s"},"extra":1}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools\/call","params":{"name":"t\u0041"}}"#,
    ];
    for body in taken {
        let fast = tool_call(body.as_bytes()).map(|s| (s.id, s.tool));
        assert!(fast.is_some(), "{body}");
        assert_eq!(fast, general_tool_call(body), "{body}");
    }
    // Left to the general parse, which says what is wrong or reads another
    // kind of message.
    let left = [
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
        r#"{"jsonrpc":"1.0","id":1,"method":"tools/call","params":{"name":"t"}}"#,
        r#"{"jsonrpc":"2.0","id":true,"method":"tools/call","params":{"name":"t"}}"#,
        r#"{"jsonrpc":"2.0","id":1.5,"method":"tools/call","params":{"name":"t"}}"#,
        r#"{"jsonrpc":"2.0","method":"tools/call","params":{"name":"t"}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call"}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":null}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":7}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":[1]}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","_meta":5}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t"}"#,
    ];
    for body in left {
        assert!(tool_call(body.as_bytes()).is_none(), "{body}");
        assert!(general_tool_call(body).is_none(), "{body}");
    }
}

proptest! {
    /// Whatever the body, the tool call reading agrees with the general parse
    /// whenever it takes one.
    #[test]
    fn the_tool_call_reading_never_takes_what_rmcp_would_not(
        id in prop_oneof![Just("1".to_owned()), Just("\"a\"".to_owned()), Just("1.0".to_owned()),
                          Just("1.5".to_owned()), Just("null".to_owned()), Just("[]".to_owned())],
        name in prop_oneof![Just("\"t\"".to_owned()), Just("1".to_owned()), Just("null".to_owned())],
        arguments in prop_oneof![Just("{}".to_owned()), Just("{\"k\":[1]}".to_owned()),
                                 Just("null".to_owned()), Just("\"s\"".to_owned())],
        meta in prop_oneof![Just("{}".to_owned()), Just("{\"progressToken\":\"p\"}".to_owned()),
                            Just("[]".to_owned()), Just("1".to_owned())],
        version in prop_oneof![Just("\"2.0\"".to_owned()), Just("\"2\"".to_owned())],
    ) {
        let body = format!(
            r#"{{"jsonrpc":{version},"id":{id},"method":"tools/call","params":{{"name":{name},"arguments":{arguments},"_meta":{meta}}}}}"#
        );
        if let Some(fast) = tool_call(body.as_bytes()) {
            prop_assert_eq!(Some((fast.id, fast.tool)), general_tool_call(&body), "{}", body);
        }
    }
}
