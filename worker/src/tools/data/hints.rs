//! Turning D365FO's answers to data requests into errors a model can act on.
//!
//! D365FO words some outcomes only in its message. An update or delete of a
//! record that does not exist (or lies in another company, without
//! `cross-company=true`) is a 400 saying "No resources were found when
//! selecting for update." — recorded from real environments, and what other
//! D365FO clients test for (hotglue's `target-dynamics-finance` sink skips a
//! record on that 400 and text); older answers and the X++ layer say "The
//! record does not exist.". A create with a key already taken says "The
//! record already exists.", as a 400 or, inside a `$batch` changeset, as a
//! 500 part (`crate::d365::errors::from_part`). Those become not-found and
//! conflict errors. An unknown entity set is a
//! 404 naming the segment; its error points at the tool that finds the
//! right name. D365FO's own message is always kept.

use crate::error::WorkerError;

/// D365FO's words for a write to a key no record has: the OData layer's
/// (first) and the X++ layer's.
const NO_RECORD: [&str; 2] = [
    "No resources were found when selecting for update",
    "The record does not exist.",
];

/// D365FO's words for a create whose key is taken.
const DUPLICATE: &str = "The record already exists.";

/// Explains a 404 that names `entity_set` as the unknown segment.
pub fn unknown_set(error: WorkerError, entity_set: &str) -> WorkerError {
    match error {
        WorkerError::NotFound { message } if names_unknown_set(&message, entity_set) => {
            WorkerError::NotFound {
                message: format!(
                    "{message} No entity set is called `{entity_set}` (names are \
                     case-sensitive); d365fo_search_entities finds entity sets by name"
                ),
            }
        }
        other => other,
    }
}

/// Whether a 404's message says that `entity_set` itself is unknown: the
/// segment message of reads and keyed writes, or the routing message a
/// create to `/data/{entity_set}` gets.
fn names_unknown_set(message: &str, entity_set: &str) -> bool {
    message.contains(&format!(
        "Resource not found for the segment '{entity_set}'"
    )) || (message.contains("No HTTP resource was found")
        && message.contains(&format!("/data/{entity_set}'")))
}

/// Explains `error` from a request on one record of `entity_set` (with
/// `cross_company` as sent).
pub fn explain(error: WorkerError, entity_set: &str, cross_company: bool) -> WorkerError {
    // The error's own text follows these words with ". Check …".
    let other_company = if cross_company {
        ""
    } else {
        "; if it belongs to a company other than the default one, pass `cross_company: true`"
    };
    match unknown_set(error, entity_set) {
        e @ WorkerError::NotFound { .. } if e.to_string().contains("d365fo_search_entities") => e,
        WorkerError::NotFound { message } => WorkerError::NotFound {
            message: format!("{message} No record of `{entity_set}` has that key{other_company}"),
        },
        // A 400, or a batch part's 5xx with a validation message.
        WorkerError::Rejected { message, .. } if NO_RECORD.iter().any(|w| message.contains(w)) => {
            WorkerError::NotFound {
                message: format!(
                    "{message} No record of `{entity_set}` has that key{other_company}"
                ),
            }
        }
        WorkerError::Rejected { message, .. } if message.contains(DUPLICATE) => {
            WorkerError::Conflict(format!(
                "a record of `{entity_set}` with this key already exists (D365FO: {message}). \
                 Change it with d365fo_update_entity_record, or create the record under \
                 another key"
            ))
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use common::ErrorCode;

    use super::*;

    #[test]
    fn messages_become_codes_with_hints() {
        let e = explain(
            WorkerError::NotFound {
                message: "Resource not found for the segment 'Nope'.".into(),
            },
            "Nope",
            false,
        );
        assert_eq!(e.code(), ErrorCode::NotFound);
        assert!(e.to_string().contains("d365fo_search_entities"), "{e}");

        let e = explain(
            WorkerError::NotFound {
                message:
                    "No HTTP resource was found that matches the request URI 'http://h/data/Nope'."
                        .into(),
            },
            "Nope",
            true,
        );
        assert!(e.to_string().contains("d365fo_search_entities"), "{e}");
        let e = explain(
            WorkerError::NotFound {
                message: "No resources were found for the key in segment 'CustomersV3'.".into(),
            },
            "CustomersV3",
            false,
        );
        assert!(!e.to_string().contains("d365fo_search_entities"), "{e}");
        assert!(e.to_string().contains("has that key; if it belongs"), "{e}");

        let e = explain(
            WorkerError::Rejected {
                status: 400,
                message: "Write failed. (Cannot edit a record in Customers (CustCustomerV3Entity). The record does not exist.)".into(),
            },
            "CustomersV3",
            false,
        );
        assert_eq!(e.code(), ErrorCode::NotFound);
        assert!(e.to_string().contains("cross_company: true"), "{e}");
        // D365FO's OData layer's words for a missing record, and a
        // duplicate refused inside a batch changeset (a 500 part).
        let cases = [
            (
                400,
                "No resources were found when selecting for update.",
                ErrorCode::NotFound,
            ),
            (
                500,
                "Write failed. The record already exists.",
                ErrorCode::Conflict,
            ),
        ];
        for (status, message, code) in cases {
            let rejected = WorkerError::Rejected {
                status,
                message: message.into(),
            };
            let e = explain(rejected, "Currencies", false);
            assert_eq!(e.code(), code, "{e}");
            assert!(e.to_string().contains(message), "{e}");
        }
        let e = explain(
            WorkerError::NotFound {
                message: "No resources were found.".into(),
            },
            "CustomersV3",
            true,
        );
        assert!(!e.to_string().contains("cross_company: true"), "{e}");

        let e = explain(
            WorkerError::Rejected {
                status: 400,
                message: "Cannot create a record in Customers. The record already exists.".into(),
            },
            "CustomersV3",
            false,
        );
        assert!(matches!(e, WorkerError::Conflict(_)), "{e:?}");
        assert!(e.to_string().contains("already exists"), "{e}");

        let other = explain(
            WorkerError::Rejected {
                status: 400,
                message: "Could not find a property named 'Foo'.".into(),
            },
            "CustomersV3",
            false,
        );
        assert_eq!(other.code(), ErrorCode::UpstreamRejected);
        assert!(other.to_string().contains("property named 'Foo'"));
    }
}
