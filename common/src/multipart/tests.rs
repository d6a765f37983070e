//! Unit tests of the codec, and property tests: what is written reads back
//! the same, and no input makes the reader panic.

use proptest::prelude::*;

use super::*;

/// A batch as the simulator receives one: a changeset, then a lone read
/// written with bare LF line breaks.
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
fn boundaries_are_read_from_content_types() {
    assert_eq!(
        boundary("multipart/mixed; boundary=batch_1"),
        Some("batch_1".into())
    );
    assert_eq!(
        boundary("Multipart/Mixed;boundary=\"b c\""),
        Some("b c".into())
    );
    assert_eq!(boundary("application/json; boundary=x"), None);
    assert_eq!(boundary("multipart/mixed"), None);
    assert_eq!(boundary("multipart/mixed; boundary="), None);
    assert_eq!(boundary("multipart/mixed; boundary=a; boundary=b"), None);
    let longest = "b".repeat(MAX_BOUNDARY);
    assert_eq!(
        boundary(&format!("multipart/mixed; boundary={longest}")),
        Some(longest.clone())
    );
    assert_eq!(
        boundary(&format!("multipart/mixed; boundary={longest}b")),
        None
    );
    assert_eq!(content_type("batch_1"), "multipart/mixed; boundary=batch_1");
    assert_eq!(content_type("a b:c"), "multipart/mixed; boundary=\"a b:c\"");
}

#[test]
fn splits_nested_parts_and_reads_requests() {
    let parts = split(BATCH.as_bytes(), "batch_1", 10).unwrap();
    assert_eq!(parts.len(), 2);
    let cs = boundary(parts[0].header("content-type").unwrap()).unwrap();
    let inner = split(parts[0].body, &cs, 10).unwrap();
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
fn reads_responses() {
    let r =
        response(b"\r\nHTTP/1.1 201 Created\r\nLocation: x\r\nETag: W/\"1\"\r\n\r\n{}").unwrap();
    assert_eq!(r.status, 201);
    assert_eq!(header(&r.headers, "etag"), Some("W/\"1\""));
    assert_eq!(r.body, b"{}");
    // No blank line: headers only, an empty body.
    let r = response(b"HTTP/1.1 204 No Content\nA: 1\n").unwrap();
    assert_eq!((r.status, r.headers.len(), r.body), (204, 1, &b""[..]));
    for bad in [
        &b""[..],
        b"\r\n\r\n",
        b"HTTP/1.1 abc OK\r\n",
        b"HTTP/1.1 99 Low\r\n",
        b"HTTP/1.1 600 High\r\n",
        b"HTTX/1.1 200 OK\r\n",
        b"HTTP/1.1\r\n",
    ] {
        assert!(
            matches!(response(bad), Err(Malformed::StatusLine(_))),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
    assert_eq!(
        response(b"HTTP/1.1 abc OK\r\n").unwrap_err(),
        Malformed::StatusLine("HTTP/1.1 abc OK".into())
    );
}

#[test]
fn malformed_payloads_are_errors() {
    assert_eq!(
        split(b"no delimiter", "b", 10).unwrap_err(),
        Malformed::UnexpectedEnd
    );
    assert_eq!(
        split(b"--b\r\nA: 1\r\n\r\nbody", "b", 10).unwrap_err(),
        Malformed::UnexpectedEnd
    );
    assert_eq!(
        split(b"--bjunk\r\n--b x\r\n--b--", "b", 10).unwrap_err(),
        Malformed::UnexpectedEnd
    );
    assert_eq!(
        split(b"--b\r\nnot a header\r\n\r\nx\r\n--b--", "b", 10).unwrap_err(),
        Malformed::Header("not a header".into())
    );
    assert_eq!(
        split(b"--b\r\nName : v\r\n\r\nx\r\n--b--", "b", 10).unwrap_err(),
        Malformed::Header("Name : v".into())
    );
    assert_eq!(
        request(b"GARBAGE\r\n\r\n").unwrap_err(),
        Malformed::RequestLine("GARBAGE".into())
    );
    assert!(matches!(
        request(b"get /x HTTP/1.1\r\n"),
        Err(Malformed::RequestLine(_))
    ));
    assert!(matches!(
        request(b"GET /x HTTP/2\r\n"),
        Err(Malformed::RequestLine(_))
    ));
    assert_eq!(request(b"").unwrap_err(), Malformed::UnexpectedEnd);
    // A boundary that merely starts a longer token is not a delimiter.
    let p = split(b"--b\r\nX: 1\r\n\r\n--bb\r\n--b--", "b", 10).unwrap();
    assert_eq!(p[0].body, b"--bb");
}

#[test]
fn the_number_of_parts_is_bounded() {
    let part = "--b\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n\r\n";
    let three = part.repeat(3) + "--b--\r\n";
    assert_eq!(split(three.as_bytes(), "b", 3).unwrap().len(), 3);
    assert_eq!(
        split(three.as_bytes(), "b", 2).unwrap_err(),
        Malformed::TooManyParts(2)
    );
}

#[test]
fn writes_requests_and_responses_with_crlf() {
    let mut out = Vec::new();
    write::open_part(&mut out, "batch_t");
    write::http_part_headers(&mut out, Some("1"));
    write::message(
        &mut out,
        &write::request_line("GET", "https://h/data/X"),
        [("Accept", "application/json")],
        None,
    );
    write::open_part(&mut out, "batch_t");
    write::changeset_headers(&mut out, "cs_t");
    write::open_part(&mut out, "cs_t");
    write::http_part_headers(&mut out, None);
    write::message(
        &mut out,
        &write::status_line(201, "Created"),
        [("ETag", "W/\"1\"")],
        Some(&b"{}"[..]),
    );
    write::close(&mut out, "cs_t");
    write::close(&mut out, "batch_t");
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "--batch_t\r\n\
         Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: 1\r\n\r\n\
         GET https://h/data/X HTTP/1.1\r\nAccept: application/json\r\n\r\n\
         --batch_t\r\n\
         Content-Type: multipart/mixed; boundary=cs_t\r\n\r\n\
         --cs_t\r\n\
         Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n\
         HTTP/1.1 201 Created\r\nETag: W/\"1\"\r\n\r\n{}\r\n\
         --cs_t--\r\n\
         --batch_t--\r\n"
    );
}

#[test]
fn delimiters_in_content_are_found_only_where_a_reader_sees_them() {
    for held in ["--b", "x\r\n--b\r\ny", "x\n--b--", "x\n--b \r\n", "--b\ty"] {
        assert!(holds_delimiter(held.as_bytes(), "b"), "{held:?}");
    }
    for free in ["x--b", "--bb", "-b", "--", "x\r\n--b-\r\n", "\r\n--c"] {
        assert!(!holds_delimiter(free.as_bytes(), "b"), "{free:?}");
    }
}

// Round trips over a small model of a batch.

/// How an HTTP message starts.
#[derive(Debug, Clone, PartialEq)]
enum Start {
    Request {
        method: String,
        target: String,
    },
    /// The reason phrase is written but not read back.
    Response {
        status: u16,
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
struct Message {
    start: Start,
    headers: Vec<(String, String)>,
    /// `None` writes no blank line and reads back empty.
    body: Option<Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq)]
struct HttpPart {
    content_id: Option<String>,
    message: Message,
}

#[derive(Debug, Clone, PartialEq)]
enum Entry {
    Single(HttpPart),
    Changeset {
        boundary: String,
        parts: Vec<HttpPart>,
    },
}

impl HttpPart {
    /// The part as read back: no reason phrase, a body always present.
    fn as_read(&self) -> Self {
        let mut part = self.clone();
        if let Start::Response { reason, .. } = &mut part.message.start {
            reason.clear();
        }
        part.message.body.get_or_insert_with(Vec::new);
        part
    }

    fn write(&self) -> Vec<u8> {
        let mut out = Vec::new();
        write::http_part_headers(&mut out, self.content_id.as_deref());
        let line = match &self.message.start {
            Start::Request { method, target } => write::request_line(method, target),
            Start::Response { status, reason } => write::status_line(*status, reason),
        };
        let headers = self.message.headers.iter().map(|(n, v)| (n, v));
        write::message(&mut out, &line, headers, self.message.body.as_deref());
        out
    }

    fn read(part: &Part<'_>) -> Self {
        let content_id = part.header("content-id").map(str::to_owned);
        // A method is capitals only, so no request line reads as a status line.
        let message = match response(part.body) {
            Ok(r) => Message {
                start: Start::Response {
                    status: r.status,
                    reason: String::new(),
                },
                headers: r.headers,
                body: Some(r.body.to_vec()),
            },
            Err(_) => {
                let r = request(part.body).unwrap();
                Message {
                    start: Start::Request {
                        method: r.method,
                        target: r.target,
                    },
                    headers: r.headers,
                    body: Some(r.body.to_vec()),
                }
            }
        };
        Self {
            content_id,
            message,
        }
    }
}

/// The batch as bytes, or `None` when a part holds its own delimiter (a
/// writer would refuse it).
fn write_batch(boundary: &str, entries: &[Entry]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    for entry in entries {
        let bytes = match entry {
            Entry::Single(part) => part.write(),
            Entry::Changeset {
                boundary: inner,
                parts,
            } => {
                let mut changeset = Vec::new();
                write::changeset_headers(&mut changeset, inner);
                for part in parts {
                    let bytes = part.write();
                    if holds_delimiter(&bytes, inner) {
                        return None;
                    }
                    write::open_part(&mut changeset, inner);
                    changeset.extend_from_slice(&bytes);
                }
                write::close(&mut changeset, inner);
                changeset
            }
        };
        if holds_delimiter(&bytes, boundary) {
            return None;
        }
        write::open_part(&mut out, boundary);
        out.extend_from_slice(&bytes);
    }
    write::close(&mut out, boundary);
    Some(out)
}

fn read_batch(content_type: &str, body: &[u8]) -> Vec<Entry> {
    let outer = boundary(content_type).unwrap();
    split(body, &outer, 1_000)
        .unwrap()
        .iter()
        .map(
            |part| match part.header("content-type").and_then(boundary) {
                Some(inner) => Entry::Changeset {
                    parts: split(part.body, &inner, 1_000)
                        .unwrap()
                        .iter()
                        .map(HttpPart::read)
                        .collect(),
                    boundary: inner,
                },
                None => Entry::Single(HttpPart::read(part)),
            },
        )
        .collect()
}

/// A valid boundary (RFC 2046): 1 to 70 of its characters, not ending in a
/// space.
fn a_boundary() -> impl Strategy<Value = String> {
    "[0-9A-Za-z'()+_,./:=? -]{0,69}[0-9A-Za-z'()+_,./:=?-]"
}

/// Visible ASCII with inner spaces, as a header value reads back (trimmed).
fn a_value() -> impl Strategy<Value = String> {
    "([!-~]([ -~]{0,30}[!-~])?)?"
}

/// Bytes that look like delimiters of `boundaries` without being one where
/// they stand (most of the time), among line breaks, dashes and any bytes.
fn a_body(boundaries: Vec<String>) -> impl Strategy<Value = Vec<u8>> {
    let near = proptest::sample::select(boundaries).prop_flat_map(|b| {
        let prefix_len = 0..b.len();
        prop_oneof![
            Just(format!("--{b}x")),
            Just(format!("x--{b}")),
            Just(format!("-{b}")),
            Just(format!("--{b}-")),
            prefix_len.prop_map(move |n| format!("--{}", &b[..n])),
        ]
    });
    let fragment = prop_oneof![
        Just(b"\r\n".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r".to_vec()),
        Just(b"--".to_vec()),
        "[ -~]{0,8}".prop_map(String::into_bytes),
        proptest::collection::vec(any::<u8>(), 0..6),
        near.prop_map(String::into_bytes),
    ];
    proptest::collection::vec(fragment, 0..14).prop_map(|f| f.concat())
}

fn a_part(boundaries: Vec<String>) -> impl Strategy<Value = HttpPart> {
    let start = prop_oneof![
        ("[A-Z]{1,7}", "[!-~]{1,40}")
            .prop_map(|(method, target)| Start::Request { method, target }),
        (100u16..600, a_value()).prop_map(|(status, reason)| Start::Response { status, reason }),
    ];
    let headers = proptest::collection::vec(("[A-Za-z][A-Za-z0-9-]{0,15}", a_value()), 0..4);
    let body = proptest::option::of(a_body(boundaries));
    (
        proptest::option::of("[!-~]([ -~]{0,10}[!-~])?"),
        start,
        headers,
        body,
    )
        .prop_map(|(content_id, start, headers, body)| HttpPart {
            content_id,
            message: Message {
                start,
                headers,
                body,
            },
        })
}

/// An outer boundary and entries, some of them changesets with boundaries
/// of their own; bodies mimic all of those boundaries.
fn a_batch() -> impl Strategy<Value = (String, Vec<Entry>)> {
    (a_boundary(), proptest::collection::vec(a_boundary(), 1..3)).prop_flat_map(|(outer, inner)| {
        let all: Vec<String> = std::iter::once(outer.clone())
            .chain(inner.iter().cloned())
            .collect();
        let entry = prop_oneof![
            a_part(all.clone()).prop_map(Entry::Single),
            (
                proptest::sample::select(inner),
                proptest::collection::vec(a_part(all), 0..4)
            )
                .prop_map(|(boundary, parts)| Entry::Changeset { boundary, parts }),
        ];
        (Just(outer), proptest::collection::vec(entry, 0..5))
    })
}

proptest! {
    #[test]
    fn batches_read_back_as_written((outer, entries) in a_batch()) {
        let body = write_batch(&outer, &entries);
        prop_assume!(body.is_some(), "a part holds its own delimiter");
        let body = body.unwrap_or_default();
        let expected: Vec<Entry> = entries
            .iter()
            .map(|entry| match entry {
                Entry::Single(part) => Entry::Single(part.as_read()),
                Entry::Changeset { boundary, parts } => Entry::Changeset {
                    boundary: boundary.clone(),
                    parts: parts.iter().map(HttpPart::as_read).collect(),
                },
            })
            .collect();
        prop_assert_eq!(read_batch(&content_type(&outer), &body), expected);
    }

    #[test]
    fn boundaries_survive_their_content_type(b in a_boundary()) {
        prop_assert_eq!(boundary(&content_type(&b)), Some(b));
    }

    #[test]
    fn reading_never_panics_on_any_bytes(body in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(parts) = split(&body, "b", 100) {
            for p in parts {
                let _ = request(p.body);
                let _ = response(p.body);
            }
        }
        let _ = request(&body);
        let _ = response(&body);
    }

    #[test]
    fn reading_never_panics_on_batch_like_text(
        body in "(--b|\r\n|\n|Content-Type: |multipart/mixed; boundary=c|--c|GET /data/X HTTP/1.1|HTTP/1.1 200 OK|:| |--|x){0,30}"
    ) {
        if let Ok(parts) = split(body.as_bytes(), "b", 100) {
            for p in parts {
                if let Some(c) = p.header("content-type").and_then(boundary) {
                    let _ = split(p.body, &c, 100);
                }
                let _ = request(p.body);
                let _ = response(p.body);
            }
        }
    }
}
