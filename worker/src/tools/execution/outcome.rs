//! What a call that may have changed data reports: its result, bounded
//! without ever turning a success into an error, and errors that say when
//! D365FO may have run the request anyway.
//!
//! A model that sees an error after a write ran would call it again; so a
//! result too large to return is reported as a success with the result
//! left out, never as a failure, and never cut silently.

use serde_json::Value;

use crate::error::WorkerError;

/// An action's or operation's result, ready for the reply.
#[derive(Debug, Clone, PartialEq)]
pub struct Bounded {
    /// The value, or null when it was left out.
    pub result: Value,
    /// Bytes of the value's JSON.
    pub bytes: usize,
    /// Whether it was left out for its size.
    pub omitted: bool,
}

impl Bounded {
    /// `value` if its JSON fits in `limit` bytes; otherwise nothing.
    pub fn new(value: Value, limit: usize) -> Self {
        let bytes = if value.is_null() {
            0
        } else {
            value.to_string().len()
        };
        if bytes > limit {
            Self {
                result: Value::Null,
                bytes,
                omitted: true,
            }
        } else {
            Self {
                result: value,
                bytes,
                omitted: false,
            }
        }
    }

    /// The result's `note` when it was left out, saying why (`what` names
    /// the call: "The action").
    pub fn note(&self, what: &str, limit: usize) -> Option<String> {
        self.omitted.then(|| {
            format!(
                "{what} ran and succeeded, but its result is {} bytes of JSON, more than the \
                 {limit} one call returns, so it is left out. It cannot be paged; do not call \
                 it again just to see the result.",
                self.bytes
            )
        })
    }
}

/// An action's return value: the `value` of D365FO's
/// `{"@odata.context": …, "value": …}` wrapper, or a complex result without
/// its context annotation, or null for a void action (204).
pub fn action_value(body: Value) -> Value {
    match body {
        Value::Object(mut map) => {
            if let Some(value) = map.remove("value") {
                return value;
            }
            map.remove("@odata.context");
            Value::Object(map)
        }
        other => other,
    }
}

/// A 404 with a hint appended: D365FO's message, then what to do.
pub fn not_found_with_hint(error: WorkerError, hint: &str) -> WorkerError {
    match error {
        WorkerError::NotFound { message } => WorkerError::NotFound {
            message: format!("{}. {hint}", message.trim_end().trim_end_matches('.')),
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn results_are_bounded_not_cut() {
        let small = Bounded::new(json!({"a": 1}), 100);
        assert_eq!((small.bytes, small.omitted), (7, false));
        let big = Bounded::new(json!("x".repeat(200)), 100);
        assert_eq!(
            (big.result.clone(), big.bytes, big.omitted),
            (Value::Null, 202, true)
        );
        let note = big.note("the action", 100).unwrap();
        assert!(note.starts_with("the action ran and succeeded") && note.contains("202 bytes"));
        assert_eq!(small.note("the action", 100), None);
        let none = Bounded::new(Value::Null, 0);
        assert_eq!((none.bytes, none.omitted), (0, false));
    }

    #[test]
    fn action_values_are_unwrapped() {
        assert_eq!(
            action_value(json!({"@odata.context": "c", "value": "10.0.41"})),
            json!("10.0.41")
        );
        assert_eq!(
            action_value(json!({"@odata.context": "c", "A": 1})),
            json!({"A": 1})
        );
        assert_eq!(action_value(Value::Null), Value::Null);
    }

    #[test]
    fn hints_follow_the_message() {
        let e = not_found_with_hint(
            WorkerError::NotFound {
                message: "Resource not found for the segment 'X'.".into(),
            },
            "Find it with d365fo_search_actions",
        );
        assert!(
            e.to_string()
                .contains("segment 'X'. Find it with d365fo_search_actions. "),
            "{e}"
        );
    }
}
