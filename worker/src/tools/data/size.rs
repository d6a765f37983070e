//! The bound on the record JSON one data tool returns,
//! [`Context::max_result_bytes`](crate::tools::Context::max_result_bytes).
//!
//! A result the tool does not bound reaches the executor's own message
//! limit, which can only fail the call with an internal error. So a read
//! refuses a record past the bound with an error saying how to narrow it
//! (nothing was changed, asking again smaller is safe), while a write,
//! which D365FO has applied by then, leaves the record out and says how to
//! read it.

use std::io;

use serde::Serialize;

use crate::error::WorkerError;

/// The length of `value` as compact JSON, without building the text.
pub fn json_len(value: &impl Serialize) -> usize {
    struct Counter(usize);
    impl io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    // Writing a `Value`, or a result type of `common::catalogue`, to a sink
    // that never fails cannot fail.
    let _ = serde_json::to_writer(&mut counter, value);
    counter.0
}

/// The error of a read when `what` (one row, the record) alone is `size`
/// bytes, past the `budget` of a whole result. `expanded` says whether the
/// read named `expand`, which is then the likely cause.
pub fn too_wide(tool: &str, what: &str, size: usize, budget: usize, expanded: bool) -> WorkerError {
    let narrow = if expanded {
        "name only the fields you need in `select` (and in each `expand` item's `select`), or \
         drop `expand` and read the related records with d365fo_query_entities"
    } else {
        "name only the fields you need in `select`"
    };
    WorkerError::invalid_args(
        tool,
        format!(
            "{what} alone is {size} bytes of JSON, more than the {budget} bytes a result may \
             hold; {narrow}"
        ),
    )
}

#[cfg(test)]
mod tests {
    use common::ErrorCode;
    use serde_json::json;

    use super::*;

    #[test]
    fn json_lengths_match_the_text() {
        for value in [
            json!(null),
            json!({"a": "x\"y\u{1}", "b": [1, 2.5, true], "c": "é"}),
            json!("plain"),
        ] {
            assert_eq!(json_len(&value), value.to_string().len(), "{value}");
        }
    }

    #[test]
    fn too_wide_says_what_to_narrow() {
        let e = too_wide("t", "the record", 9, 5, true);
        assert_eq!(e.code(), ErrorCode::InvalidArguments);
        let text = e.to_string();
        assert!(text.contains("the record alone is 9 bytes"), "{text}");
        assert!(
            text.contains("`select`") && text.contains("`expand`"),
            "{text}"
        );
        let text = too_wide("t", "one row", 9, 5, false).to_string();
        assert!(!text.contains("`expand`"), "{text}");
    }
}
