//! Batch limits and nesting, through [`run`] with small limits.

use super::*;
use crate::SimConfig;
use crate::data::Dataset;

fn state() -> Arc<AppState> {
    Arc::new(AppState::new(
        SimConfig::default(),
        Dataset::seeded(1),
        Default::default(),
    ))
}

fn headers(boundary: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    let ct = format!("multipart/mixed; boundary={boundary}");
    h.insert(header::CONTENT_TYPE, HeaderValue::from_str(&ct).unwrap());
    h.insert(header::HOST, HeaderValue::from_static("sim.test"));
    h
}

/// A batch of `n` GETs of `url`.
fn gets(url: &str, n: usize) -> Bytes {
    let mut out = String::new();
    for _ in 0..n {
        out.push_str(&format!(
            "--b\r\nContent-Type: application/http\r\n\r\nGET {url} HTTP/1.1\r\nAccept: application/json\r\n\r\n\r\n"
        ));
    }
    out.push_str("--b--\r\n");
    Bytes::from(out)
}

async fn text_of(response: Response) -> String {
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// A batch whose one request is a batch, whose one request is a batch…,
/// `levels` deep, with a plain GET at the bottom.
fn nested(levels: usize) -> Bytes {
    let mut payload = "--b0\r\nContent-Type: application/http\r\n\r\nGET /data/Currencies HTTP/1.1\r\n\r\n\r\n--b0--\r\n".to_owned();
    for level in 1..=levels {
        payload = format!(
            "--b{level}\r\nContent-Type: application/http\r\n\r\nPOST /data/$batch HTTP/1.1\r\nContent-Type: multipart/mixed; boundary=b{}\r\n\r\n{payload}\r\n--b{level}--\r\n",
            level - 1
        );
    }
    Bytes::from(payload)
}

#[tokio::test]
async fn a_batch_inside_a_batch_is_refused_without_recursion() {
    let state = state();
    for levels in [1, 2, 1_000] {
        let e = run(
            &state,
            &headers(&format!("b{levels}")),
            &nested(levels),
            &Limits::DEFAULT,
            None,
        )
        .await
        .unwrap_err();
        assert_eq!(e.status(), StatusCode::BAD_REQUEST, "{levels}");
        assert!(
            e.body().contains("may not contain another batch"),
            "{}",
            e.body()
        );
    }
    // Even a spelling the parser does not recognise finds no `$batch` route
    // in the part router.
    let response = nested_part_router_answer(&state).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

async fn nested_part_router_answer(state: &Arc<AppState>) -> Response {
    let request = HttpRequest::builder()
        .method(Method::POST)
        .uri("/data/$batch")
        .header(header::CONTENT_TYPE, "multipart/mixed; boundary=b0")
        .body(Body::from(nested(0)))
        .unwrap();
    super::super::part_router(Arc::clone(state))
        .oneshot(request)
        .await
        .unwrap()
}

#[test]
fn batch_targets_in_any_spelling() {
    for target in [
        "/data/$batch",
        "$batch",
        "http://host/data/$batch?x=1",
        "/data/%24batch",
        "/data/$BATCH/",
    ] {
        assert!(names_batch(target), "{target}");
    }
    for target in [
        "/data/Currencies",
        "$1",
        "/data/$batchy",
        "/data/Currencies?$batch",
    ] {
        assert!(!names_batch(target), "{target}");
    }
}

#[test]
fn parts_share_the_payload() {
    let whole = Bytes::from_static(b"0123456789");
    let inside = share(&whole, &whole[2..5]);
    assert_eq!(&inside[..], b"234");
    assert_eq!(inside.as_ptr(), whole[2..].as_ptr(), "no copy");
    let elsewhere = share(&whole, b"abc");
    assert_eq!(&elsewhere[..], b"abc");
    assert!(share(&whole, &[]).is_empty());
}

#[tokio::test]
async fn an_oversized_part_is_a_500_part_not_an_empty_200() {
    let state = state();
    let limits = Limits {
        part_body: 2_000,
        response: 1 << 20,
    };
    let body = gets("/data/CustomersV3?$top=50", 1);
    let response = run(&state, &headers("b"), &body, &limits, None)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = text_of(response).await;
    assert!(
        text.contains("HTTP/1.1 500 Internal Server Error"),
        "{text}"
    );
    assert!(text.contains("larger than 2000 bytes"), "{text}");
    assert!(!text.contains("HTTP/1.1 200"), "{text}");
    // A small part still fits.
    let body = gets("/data/CustomersV3?$top=1&$select=CustomerAccount", 1);
    let text = text_of(
        run(&state, &headers("b"), &body, &limits, None)
            .await
            .unwrap(),
    )
    .await;
    assert!(text.contains("HTTP/1.1 200 OK"), "{text}");
}

#[tokio::test]
async fn a_batch_past_its_response_budget_fails_as_a_whole() {
    let state = state();
    let limits = Limits {
        part_body: 1 << 20,
        response: 100_000,
    };
    let one = text_of(
        run(
            &state,
            &headers("b"),
            &gets("/data/CustomersV3", 1),
            &limits,
            None,
        )
        .await
        .unwrap(),
    )
    .await;
    assert!(one.len() < 100_000 && one.len() > 10_000, "{}", one.len());
    let e = run(
        &state,
        &headers("b"),
        &gets("/data/CustomersV3", 50),
        &limits,
        None,
    )
    .await
    .unwrap_err();
    assert_eq!(e.status(), StatusCode::BAD_REQUEST);
    assert!(
        e.body().contains("The batch response exceeds 100000 bytes"),
        "{}",
        e.body()
    );
}
