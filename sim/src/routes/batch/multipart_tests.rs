//! The simulator's words for malformed batches (the reading itself is
//! tested with the codec, in `common::multipart`).

use super::*;

#[test]
fn malformations_are_worded_as_odata_words_them() {
    assert_eq!(split(b"no delimiter", "b").unwrap_err(), UNEXPECTED_END);
    assert_eq!(
        split(b"--b\r\nA: 1\r\n\r\nbody", "b").unwrap_err(),
        UNEXPECTED_END
    );
    assert!(
        split(b"--b\r\nnot a header\r\n\r\nx\r\n--b--", "b")
            .unwrap_err()
            .starts_with("The message header 'not a header' is invalid.")
    );
    assert!(
        request(b"GARBAGE\r\n\r\n")
            .unwrap_err()
            .starts_with("The request line 'GARBAGE' is invalid.")
    );
    assert!(request(b"get /x HTTP/1.1\r\n").is_err());
    assert_eq!(request(b"").unwrap_err(), UNEXPECTED_END);
    let many = "--b\r\nContent-Type: application/http\r\n\r\nGET /data/X HTTP/1.1\r\n\r\n"
        .repeat(MAX_PARTS + 1)
        + "--b--\r\n";
    assert!(
        split(many.as_bytes(), "b")
            .unwrap_err()
            .contains("maximum number of '5000' query operations")
    );
    // What the simulator accepts is what the codec reads.
    let parts = split(b"--b\r\nX: 1\r\n\r\nGET /data/X HTTP/1.1\r\n\r\n--b--", "b").unwrap();
    assert_eq!(request(parts[0].body).unwrap().target, "/data/X");
}
