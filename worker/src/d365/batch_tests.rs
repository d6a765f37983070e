use proptest::prelude::*;
use serde_json::json;

use super::*;

fn get(id: usize) -> PartRequest {
    PartRequest {
        content_id: id,
        method: "GET",
        url: format!("https://h/data/CustomersV3(dataAreaId='usmf',CustomerAccount='US-00{id}')"),
        headers: vec![],
        body: None,
    }
}

fn create(id: usize) -> PartRequest {
    PartRequest {
        content_id: id,
        method: "POST",
        url: "https://h/data/CustomersV3".into(),
        headers: vec![("Prefer", "return=representation".into())],
        body: Some(json!({"CustomerAccount": format!("N-{id}")})),
    }
}

#[test]
fn encodes_singles_and_changesets() {
    let units = vec![
        Unit::Single(get(1)),
        Unit::Changeset(vec![create(2), create(3)]),
    ];
    let encoded = encode(&units, "t1").unwrap();
    assert_eq!(encoded.content_type, "multipart/mixed; boundary=batch_t1");
    let text = String::from_utf8(encoded.body).unwrap();
    assert!(text.starts_with("--batch_t1\r\nContent-Type: application/http\r\n"));
    assert!(text.contains("Content-ID: 1\r\n\r\nGET https://h/data/CustomersV3(dataAreaId='usmf',CustomerAccount='US-001') HTTP/1.1\r\n"));
    assert!(text.contains(
        "Content-Type: multipart/mixed; boundary=changeset_t1_1\r\n\r\n--changeset_t1_1\r\n"
    ));
    assert!(text.contains("Prefer: return=representation\r\nContent-Type: application/json; type=entry\r\n\r\n{\"CustomerAccount\":\"N-2\"}\r\n"));
    assert!(text.ends_with("--changeset_t1_1--\r\n--batch_t1--\r\n"));

    let sneaky = PartRequest {
        body: Some(json!({"Note": "--batch_t1"})),
        ..create(4)
    };
    assert!(encode(&[Unit::Single(sneaky)], "t1").is_err());
}

#[test]
fn what_is_encoded_reads_back_through_the_shared_codec() {
    // The simulator reads batches with the same codec: it must see the
    // requests as they were meant.
    let units = vec![
        Unit::Single(get(1)),
        Unit::Changeset(vec![create(2), create(3)]),
    ];
    let encoded = encode(&units, "t2").unwrap();
    let outer = multipart::boundary(&encoded.content_type).unwrap();
    let parts = multipart::split(&encoded.body, &outer, MAX_PARTS).unwrap();
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0].header("content-id"), Some("1"));
    let read = multipart::request(parts[0].body).unwrap();
    assert_eq!((read.method.as_str(), read.target), ("GET", get(1).url));
    assert!(read.body.is_empty());
    let inner = multipart::boundary(parts[1].header("content-type").unwrap()).unwrap();
    let changeset = multipart::split(parts[1].body, &inner, MAX_PARTS).unwrap();
    assert_eq!(changeset.len(), 2);
    let created = multipart::request(changeset[1].body).unwrap();
    assert_eq!(changeset[1].header("content-id"), Some("3"));
    assert_eq!(
        multipart::header(&created.headers, "prefer"),
        Some("return=representation")
    );
    assert_eq!(created.body, br#"{"CustomerAccount":"N-3"}"#);
}

const ANSWER: &str = "--batchresponse_x\r\n\
Content-Type: application/http\r\n\
Content-ID: 1\r\n\
\r\n\
HTTP/1.1 200 OK\r\n\
Content-Type: application/json\r\n\
ETag: W/\"1\"\r\n\
\r\n\
{\"CustomerAccount\":\"US-001\"}\r\n\
--batchresponse_x\r\n\
Content-Type: multipart/mixed; boundary=changesetresponse_y\r\n\
\r\n\
--changesetresponse_y\r\n\
Content-Type: application/http\r\n\
Content-ID: 2\r\n\
\r\n\
HTTP/1.1 201 Created\r\n\
Location: https://h/data/CustomersV3(dataAreaId='usmf',CustomerAccount='N-2')\r\n\
\r\n\
{\"CustomerAccount\":\"N-2\"}\r\n\
--changesetresponse_y\r\n\
Content-Type: application/http\r\n\
Content-ID: 3\r\n\
\r\n\
HTTP/1.1 204 No Content\r\n\
\r\n\
\r\n\
--changesetresponse_y--\r\n\
--batchresponse_x\r\n\
Content-Type: application/http\r\n\
Content-ID: 4\r\n\
\r\n\
HTTP/1.1 400 Bad Request\r\n\
Content-Type: application/json\r\n\
\r\n\
{\"error\":{\"code\":\"\",\"message\":\"bad\"}}\r\n\
--batchresponse_x--\r\n";

#[test]
fn decodes_singles_changesets_and_failed_changesets() {
    let units = decode(
        "multipart/mixed; boundary=batchresponse_x",
        ANSWER.as_bytes(),
    )
    .unwrap();
    assert_eq!(units.len(), 3);
    let Unit::Single(first) = &units[0] else {
        panic!("{units:?}")
    };
    assert_eq!(first.status, 200);
    assert_eq!(first.content_id.as_deref(), Some("1"));
    assert_eq!(first.header("etag"), Some("W/\"1\""));
    assert_eq!(first.body, "{\"CustomerAccount\":\"US-001\"}");
    let Unit::Changeset(changeset) = &units[1] else {
        panic!("{units:?}")
    };
    assert_eq!(
        changeset.iter().map(|r| r.status).collect::<Vec<_>>(),
        [201, 204]
    );
    assert!(changeset[0].header("Location").unwrap().ends_with("'N-2')"));
    assert_eq!(changeset[1].body, "");
    let Unit::Single(failed) = &units[2] else {
        panic!("{units:?}")
    };
    assert_eq!(failed.status, 400);

    // Bare LF line breaks read the same.
    let lf = ANSWER.replace("\r\n", "\n");
    let again = decode(
        "multipart/mixed; boundary=\"batchresponse_x\"",
        lf.as_bytes(),
    )
    .unwrap();
    assert_eq!(again.len(), 3);
}

#[test]
fn malformed_answers_are_errors() {
    let ct = "multipart/mixed; boundary=batchresponse_x";
    assert!(decode("application/json", ANSWER.as_bytes()).is_err());
    assert!(decode(ct, b"").is_err());
    assert!(decode(ct, &ANSWER.as_bytes()[..200]).is_err());
    let bad_status = ANSWER.replace("HTTP/1.1 200 OK", "HTTP/1.1 abc OK");
    assert!(decode(ct, bad_status.as_bytes()).is_err());
    let many: String = (0..=MAX_PARTS)
        .map(|_| "--b\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n\r\n")
        .collect::<String>()
        + "--b--\r\n";
    let e = decode("multipart/mixed; boundary=b", many.as_bytes()).unwrap_err();
    assert!(e.contains("more than"), "{e}");
}

proptest! {
    #[test]
    fn decoding_never_panics(body in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = decode("multipart/mixed; boundary=b", &body);
    }

    #[test]
    fn decoding_mangled_answers_never_panics(cut in 0..ANSWER.len(), junk in "\\PC{0,12}") {
        let mut text = ANSWER.as_bytes()[..cut].to_vec();
        text.extend_from_slice(junk.as_bytes());
        text.extend_from_slice(&ANSWER.as_bytes()[cut..]);
        let _ = decode("multipart/mixed; boundary=batchresponse_x", &text);
    }
}
