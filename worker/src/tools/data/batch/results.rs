//! Mapping D365FO's `$batch` answer back onto the operations, in order.
//!
//! Each unit sent has one unit in the answer. A changeset D365FO applied
//! answers with one response per request; one it rolled back answers with
//! the single error of the request that failed (named by its `Content-ID`),
//! and every other operation of it is reported `rolled_back`. That error
//! comes in one of two shapes: D365FO's, a changeset response holding that
//! one part (recorded from real environments: HTTP 200 outside, inside a
//! changeset whose only part is `HTTP/1.1 500` with an OData error such as
//! an `AxODataWriteException`); or ASP.NET Web API OData's, the error part
//! alone in place of the changeset. Both are read the same way.
//!
//! A part's 5xx that carries D365FO's OData error with a validation
//! message ("The record already exists", an Infolog) is a refusal, as a 400
//! would be: in a changeset nothing was applied (it is atomic), and the
//! message is for the model to act on, not a reason to resend
//! (`errors::is_refusal`). Records count
//! against the result's byte budget; past it a record is left out with a
//! note saying how to read it, never dropped silently.
//!
//! The same outcomes settle the batch's request-id record ([`Built::settled`]):
//! D365FO answers `$batch` 200 even when every write in it failed, so the
//! HTTP status says nothing about what changed.

use common::catalogue::data::{BatchError, BatchResult, OpResult};
use serde_json::Value;

use super::content_id;
use super::plan::{Kind, Operation};
use crate::d365::{
    Settled,
    batch::{PartResponse, Unit},
    errors,
    location::key_of_location,
};
use crate::error::WorkerError;
use crate::tools::data::{hints, size::json_len};

/// The result of a batch, and what became of its writes.
#[derive(Debug)]
pub struct Built {
    /// The tool's result.
    pub result: BatchResult,
    /// How the writes ended, taken together: unknown if any write's outcome
    /// is, else applied if any write was applied, else refused (nothing
    /// changed). Refused for a batch without writes.
    pub settled: Settled,
}

/// Builds the result of a batch from its `responses`.
pub fn build(
    ops: &[Operation],
    units: &[Unit<usize>],
    responses: Vec<Unit<PartResponse>>,
    budget: usize,
) -> Built {
    let mut results: Vec<OpResult> = Vec::with_capacity(ops.len());
    let mut writes = Writes::default();
    let mut answers = responses.into_iter();
    for unit in units {
        let members: &[usize] = match unit {
            Unit::Single(i) => std::slice::from_ref(i),
            Unit::Changeset(members) => members,
        };
        let outcome = match (unit, answers.next()) {
            (Unit::Single(i), Some(Unit::Single(r))) => vec![(*i, Outcome::Answered(r))],
            (Unit::Changeset(_), Some(Unit::Changeset(rs))) if rs.len() == members.len() => members
                .iter()
                .copied()
                .zip(rs.into_iter().map(Outcome::Answered))
                .collect(),
            (Unit::Changeset(_), Some(Unit::Single(r))) if members.len() == 1 && ok(r.status) => {
                vec![(members[0], Outcome::Answered(r))]
            }
            (Unit::Changeset(_), Some(Unit::Single(r))) if !ok(r.status) => rolled_back(members, r),
            (Unit::Changeset(_), Some(Unit::Changeset(mut rs)))
                if rs.len() == 1 && !ok(rs[0].status) =>
            {
                rolled_back(members, rs.remove(0))
            }
            _ => members.iter().map(|&i| (i, Outcome::Unmatched)).collect(),
        };
        for (i, outcome) in outcome {
            if let Some(op) = ops.get(i) {
                if op.kind != Kind::Get {
                    writes.add(&outcome);
                }
                results.push(result(op, outcome));
            }
        }
    }
    let omitted = fit(&mut results, budget);
    let succeeded = results.iter().filter(|r| r.ok).count();
    let note = (omitted > 0).then(|| {
        format!(
            "{omitted} records were left out to keep the result under {budget} bytes; each \
             result without its record says so. Read them with d365fo_get_entity_record"
        )
    });
    Built {
        result: BatchResult {
            operations: ops.len(),
            succeeded,
            failed: results.len() - succeeded,
            results,
            note,
        },
        settled: writes.settled(),
    }
}

/// What became of a batch's writes, counted.
#[derive(Debug, Default)]
struct Writes {
    applied: usize,
    unknown: usize,
}

impl Writes {
    fn add(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Answered(r) if ok(r.status) => self.applied += 1,
            // The same reading as the write's result: D365FO refused it.
            Outcome::Answered(_) | Outcome::RolledBack { .. } => {}
            Outcome::Unmatched => self.unknown += 1,
        }
    }

    fn settled(&self) -> Settled {
        // Unknown before applied: "applied" would tell a replay the whole
        // batch ran, hiding the write that may not have.
        if self.unknown > 0 {
            Settled::Unknown
        } else if self.applied > 0 {
            Settled::Applied
        } else {
            Settled::Refused
        }
    }
}

/// What became of one operation.
enum Outcome {
    /// D365FO's response to it.
    Answered(PartResponse),
    /// Not applied: another request of its changeset failed.
    RolledBack { failed_at: Option<usize> },
    /// The answer could not be matched to it.
    Unmatched,
}

fn ok(status: u16) -> bool {
    (200..300).contains(&status)
}

/// A failed changeset: the request named by the answer's `Content-ID`
/// carries the error, the others were rolled back. Without a usable
/// `Content-ID`, every request carries the error.
fn rolled_back(members: &[usize], response: PartResponse) -> Vec<(usize, Outcome)> {
    let failed_at = response
        .content_id
        .as_deref()
        .and_then(|id| id.trim().parse::<usize>().ok())
        .and_then(|id| members.iter().copied().find(|&i| content_id(i) == id));
    members
        .iter()
        .map(|&i| match failed_at {
            Some(f) if f != i => (i, Outcome::RolledBack { failed_at }),
            _ => (i, Outcome::Answered(response.clone())),
        })
        .collect()
}

fn result(op: &Operation, outcome: Outcome) -> OpResult {
    let mut out = OpResult {
        index: op.index,
        op: op.kind.as_str().into(),
        entity_set: op.entity_set.clone(),
        changeset: op.changeset.clone(),
        ..OpResult::default()
    };
    let response = match outcome {
        Outcome::Answered(r) => r,
        Outcome::RolledBack { failed_at } => {
            let at = failed_at.map_or_else(
                || "one of its operations".into(),
                |f| format!("operation {f}"),
            );
            out.ok = false;
            out.rolled_back = Some(true);
            out.error = Some(error(
                "rolled_back",
                format!(
                    "not applied: {at} of this changeset failed, so D365FO applied none of \
                     its operations"
                ),
            ));
            return out;
        }
        Outcome::Unmatched => {
            let e = WorkerError::OutcomeUnknown(
                "D365FO's answer to the batch did not match its requests".into(),
            );
            out.ok = false;
            out.error = Some(error(e.code().as_str(), e.to_string()));
            return out;
        }
    };
    out.status = Some(response.status);
    if !ok(response.status) {
        let retry_after = errors::parse_retry_after(response.header("retry-after"));
        let e = errors::from_part(response.status, retry_after, &response.body);
        let e = hints::explain(
            e,
            &op.entity_set,
            op.cross_company || op.kind == Kind::Create,
        );
        out.ok = false;
        if response.status == 424 {
            out.rolled_back = Some(true);
        }
        out.error = Some(error(e.code().as_str(), e.to_string()));
        return out;
    }
    out.ok = true;
    let body = errors::without_bom(&response.body).trim();
    let record: Option<Value> = if body.is_empty() {
        None
    } else {
        match serde_json::from_str::<Value>(body) {
            Ok(record) => Some(record),
            Err(_) => {
                out.note = Some(format!(
                    "D365FO answered HTTP {} with a body that is not JSON",
                    response.status
                ));
                None
            }
        }
    };
    if op.kind == Kind::Create {
        out.key = response
            .header("location")
            .or_else(|| response.header("odata-entityid"))
            .and_then(|l| key_of_location(l, &op.entity_set));
    }
    let etag = response.header("etag").map(str::to_owned).or_else(|| {
        record
            .as_ref()
            .and_then(|r| r.get("@odata.etag"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    });
    if op.kind != Kind::Delete {
        out.etag = etag;
    }
    out.record = record.filter(Value::is_object);
    out
}

fn error(code: &str, message: String) -> BatchError {
    BatchError {
        code: code.into(),
        message,
    }
}

/// Leaves records out, last first, until the results fit in `budget`
/// bytes, the notes that replace them counted; returns how many were left
/// out.
fn fit(results: &mut [OpResult], budget: usize) -> usize {
    let mut size: usize = results.iter().map(json_len).sum();
    let mut omitted = 0;
    for result in results.iter_mut().rev() {
        if size <= budget {
            break;
        }
        let before = json_len(result);
        if result.record.take().is_none() {
            continue;
        }
        result.record_omitted = Some(true);
        result.note = Some(
            "the record was left out to keep the batch result small; read it with \
             d365fo_get_entity_record"
                .into(),
        );
        size = size - before + json_len(result);
        omitted += 1;
    }
    omitted
}

#[cfg(test)]
#[path = "results_tests.rs"]
mod tests;
