//! `$batch` over HTTP: atomic changesets, malformed payloads, and a batch
//! nested in a batch.

use reqwest::StatusCode;
use serde_json::{Value as Json, json};

use crate::data::{assert_error, get};
use crate::support::Sim;

/// The statuses of every `HTTP/1.1 NNN` response line, in order.
fn statuses(body: &str) -> Vec<u16> {
    body.match_indices("HTTP/1.1 ")
        .filter_map(|(i, _)| body.get(i + 9..i + 12)?.parse().ok())
        .collect()
}

fn batch(parts: &[String]) -> String {
    let mut out = String::new();
    for p in parts {
        out.push_str("--batch_b\r\n");
        out.push_str(p);
    }
    out.push_str("--batch_b--\r\n");
    out
}

fn op(method: &str, url: &str, id: usize, body: Option<Json>) -> String {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    format!(
        "--changeset_c\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: {id}\r\n\r\n{method} {url} HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{body}\r\n"
    )
}

fn changeset(ops: &[String]) -> String {
    format!(
        "Content-Type: multipart/mixed; boundary=changeset_c\r\n\r\n{}--changeset_c--\r\n",
        ops.concat()
    )
}

async fn post_batch(sim: &Sim, body: String) -> (StatusCode, String) {
    let res = sim
        .http
        .post(sim.url("/data/$batch"))
        .header("content-type", "multipart/mixed; boundary=batch_b")
        .body(body)
        .send()
        .await
        .unwrap();
    (res.status(), res.text().await.unwrap())
}

#[tokio::test]
async fn batch_runs_changesets_atomically() {
    let sim = Sim::default().await;
    let ok = changeset(&[
        op(
            "POST",
            "/data/CustomerGroups",
            1,
            Some(json!({"CustomerGroupId": "77", "Description": "Batch"})),
        ),
        op(
            "POST",
            "CustomersV3",
            2,
            Some(json!({"CustomerAccount": "US-B1", "CustomerGroupId": "77"})),
        ),
        op("PATCH", "$2", 3, Some(json!({"CreditLimit": 42}))),
    ]);
    let read = "Content-Type: application/http\r\n\r\nGET /data/CustomersV3(dataAreaId='usmf',CustomerAccount='US-B1') HTTP/1.1\r\nAccept: application/json\r\n\r\n".to_owned();
    let (status, text) = post_batch(&sim, batch(&[ok, read])).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(statuses(&text), [201, 201, 204, 200], "{text}");
    assert!(text.contains("\"CreditLimit\":42"), "{text}");

    // The second request fails its foreign key: the first is rolled back.
    let failing = changeset(&[
        op(
            "POST",
            "/data/CustomerGroups",
            1,
            Some(json!({"CustomerGroupId": "88"})),
        ),
        op(
            "POST",
            "/data/CustomersV3",
            2,
            Some(json!({"CustomerAccount": "US-B2", "CustomerGroupId": "99"})),
        ),
    ]);
    let (status, text) = post_batch(&sim, batch(&[failing])).await;
    assert_eq!(status, StatusCode::OK);
    // As D365FO answers it: a changeset response holding one part, the
    // failing request's (its Content-ID), a 500 with the refusal's body.
    assert_eq!(statuses(&text), [500], "{text}");
    assert!(text.contains("not found in the relating table"), "{text}");
    assert!(text.contains("AxODataWriteException"), "{text}");
    let inner = text
        .lines()
        .find(|l| {
            l.to_ascii_lowercase()
                .starts_with("content-type: multipart/mixed")
        })
        .unwrap_or_else(|| panic!("no changeset response: {text}"));
    assert!(inner.contains("boundary=changesetresponse_"), "{text}");
    assert!(text.contains("Content-ID: 2"), "{text}");
    assert!(!text.contains("Content-ID: 1\r"), "{text}");
    let (status, _) = get(
        &sim,
        "/data/CustomerGroups(dataAreaId='usmf',CustomerGroupId='88')",
    )
    .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "the changeset was rolled back"
    );
    let (status, _) = get(
        &sim,
        "/data/CustomerGroups(dataAreaId='usmf',CustomerGroupId='77')",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "the earlier changeset stays");

    // A missing record in a changeset: D365FO's words for it, a 500 part too.
    let missing = changeset(&[op(
        "DELETE",
        "/data/CustomerGroups(dataAreaId='usmf',CustomerGroupId='nope')",
        1,
        None,
    )]);
    let (_, text) = post_batch(&sim, batch(&[missing])).await;
    assert_eq!(statuses(&text), [500], "{text}");
    assert!(
        text.contains("No resources were found when selecting for update."),
        "{text}"
    );
}

#[tokio::test]
async fn malformed_batches_are_400() {
    let sim = Sim::default().await;
    let res = sim
        .http
        .post(sim.url("/data/$batch"))
        .header("content-type", "multipart/mixed")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_error(&res.json().await.unwrap(), "batch boundary");
    for body in [
        "--batch_b\r\nContent-Type: application/http\r\n\r\nGET /data/Currencies HTTP/1.1\r\n", // no close
        "--batch_b\r\nContent-Type: application/http\r\n\r\nNOT A REQUEST LINE AT ALL\r\n--batch_b--",
        "--batch_b\r\nContent-Type: application/json\r\n\r\n{}\r\n--batch_b--",
    ] {
        let (status, text) = post_batch(&sim, body.to_owned()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_error(&serde_json::from_str(&text).unwrap(), "");
    }
    let get_in_changeset = batch(&[changeset(&[op("GET", "/data/Currencies", 1, None)])]);
    let (status, text) = post_batch(&sim, get_in_changeset).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
}

/// A batch whose one request is a batch, `levels` deep.
fn nested(levels: usize) -> String {
    let mut payload = "--b0\r\nContent-Type: application/http\r\n\r\nGET /data/Currencies HTTP/1.1\r\n\r\n\r\n--b0--\r\n".to_owned();
    for level in 1..=levels {
        payload = format!(
            "--b{level}\r\nContent-Type: application/http\r\n\r\nPOST /data/$batch HTTP/1.1\r\nContent-Type: multipart/mixed; boundary=b{}\r\n\r\n{payload}\r\n--b{level}--\r\n",
            level - 1
        );
    }
    payload
}

#[tokio::test]
async fn a_thousand_nested_batches_are_a_400_and_the_server_lives() {
    let sim = Sim::default().await;
    let res = sim
        .http
        .post(sim.url("/data/$batch"))
        .header("content-type", "multipart/mixed; boundary=b1000")
        .body(nested(1_000))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_error(&res.json().await.unwrap(), "may not contain another batch");
    let (status, _) = get(&sim, "/data/Currencies?$top=1").await;
    assert_eq!(status, StatusCode::OK, "the simulator still answers");
}
