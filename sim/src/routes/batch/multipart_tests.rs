//! Unit and property tests of the multipart parser.

use super::*;

const BATCH: &str = "--batch_1\r\n\
Content-Type: multipart/mixed; boundary=changeset_2\r\n\
\r\n\
--changeset_2\r\n\
Content-Type: application/http\r\n\
Content-Transfer-Encoding: binary\r\n\
Content-ID: 1\r\n\
\r\n\
POST /data/CustomerGroups HTTP/1.1\r\n\
Content-Type: application/json\r\n\
\r\n\
{\"CustomerGroupId\":\"77\"}\r\n\
--changeset_2--\r\n\
--batch_1\n\
Content-Type: application/http\n\
\n\
GET Currencies('EUR') HTTP/1.1\n\
Accept: application/json\n\
\n\
\n\
--batch_1--\r\n";

#[test]
fn splits_nested_parts_and_requests() {
    assert_eq!(
        boundary("multipart/mixed; boundary=batch_1"),
        Some("batch_1".into())
    );
    assert_eq!(
        boundary("multipart/mixed;boundary=\"b c\""),
        Some("b c".into())
    );
    assert_eq!(boundary("application/json; boundary=x"), None);
    assert_eq!(boundary("multipart/mixed"), None);
    assert_eq!(boundary("multipart/mixed; boundary=a; boundary=b"), None);

    let parts = split(BATCH.as_bytes(), "batch_1").unwrap();
    assert_eq!(parts.len(), 2);
    let cs = boundary(parts[0].header("content-type").unwrap()).unwrap();
    let inner = split(parts[0].body, &cs).unwrap();
    assert_eq!(inner.len(), 1);
    assert_eq!(inner[0].header("Content-ID"), Some("1"));
    let req = request(inner[0].body).unwrap();
    assert_eq!(req.method, "POST");
    assert_eq!(req.target, "/data/CustomerGroups");
    assert_eq!(
        header(&req.headers, "content-type"),
        Some("application/json")
    );
    assert_eq!(req.body, b"{\"CustomerGroupId\":\"77\"}");

    let get = request(parts[1].body).unwrap();
    assert_eq!(
        (get.method.as_str(), get.target.as_str()),
        ("GET", "Currencies('EUR')")
    );
    assert!(get.body.is_empty());
}

#[test]
fn malformed_payloads_are_errors() {
    assert_eq!(split(b"no delimiter", "b").unwrap_err(), UNEXPECTED_END);
    assert_eq!(
        split(b"--b\r\nA: 1\r\n\r\nbody", "b").unwrap_err(),
        UNEXPECTED_END
    );
    assert!(
        split(b"--b\r\nnot a header\r\n\r\nx\r\n--b--", "b")
            .unwrap_err()
            .contains("The message header 'not a header' is invalid")
    );
    assert!(
        request(b"GARBAGE\r\n\r\n")
            .unwrap_err()
            .contains("The request line 'GARBAGE' is invalid")
    );
    assert!(request(b"get /x HTTP/1.1\r\n").is_err());
    assert!(request(b"").is_err());
    // A boundary that merely prefixes a longer token is not a delimiter.
    let p = split(b"--b\r\nX: 1\r\n\r\n--bb\r\n--b--", "b").unwrap();
    assert_eq!(p[0].body, b"--bb");
}

proptest::proptest! {
    #[test]
    fn never_panics_on_any_bytes(body in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
        if let Ok(parts) = split(&body, "b") {
            for p in parts {
                let _ = request(p.body);
            }
        }
        let _ = request(&body);
    }

    #[test]
    fn never_panics_on_batch_like_text(
        body in "(--b|\r\n|\n|Content-Type: |multipart/mixed; boundary=c|--c|GET /data/X HTTP/1.1|:| |--|x){0,30}"
    ) {
        if let Ok(parts) = split(body.as_bytes(), "b") {
            for p in parts {
                if let Some(c) = p.header("content-type").and_then(boundary) {
                    let _ = split(p.body, &c);
                }
                let _ = request(p.body);
            }
        }
    }
}
