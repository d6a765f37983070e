//! Client retries of a keyed write: answered from the first attempt, never
//! sent to D365FO again.
//!
//! A client that names an idempotency key for a write (the edge turns
//! `_meta["io.d365mcp/idempotencyKey"]` into a request id starting with
//! [`KEYED`], the same for every retry by the same caller) may resend the
//! call after a lost answer. Before the tool runs, [`begin`] records the
//! attempt in the shared store (`SET NX`, with a digest of the tool and its
//! arguments and the call's deadline); a later attempt with the same key
//! finds the record and gets:
//!
//! - the first attempt's result, when it finished;
//! - "still running" (retryable, wait a moment) while it runs;
//! - `outcome_unknown` again when the first attempt's outcome was unknown,
//!   or when it stopped without recording one (its worker died) and its
//!   deadline has passed;
//! - a conflict when the key was used for another tool or other arguments.
//!
//! A first attempt that provably applied nothing (D365FO refused it, it
//! was throttled, its arguments were invalid, it was refused before it was
//! sent: an open circuit breaker, no write claim) leaves no record and
//! releases its write claim ([`crate::d365::write_once`]), so a retry with
//! the same key runs afresh. Any other failure — an unreadable answer, an
//! internal error, a lost connection — may hide an applied write, so a
//! retry hears that its outcome is unknown.
//!
//! A first attempt is not cancelled when its caller goes away (its client
//! or its edge gave up or died): the worker runs it to its end on a task of
//! its own and records how it ended (`crate::executor`), as D365FO
//! finishes a request whose caller left — so a resend soon hears the
//! result. Only when the worker itself dies mid-way is no end recorded:
//! retries then hear "still running" until the first attempt's deadline
//! has passed, then that its outcome is unknown. The records need
//! a store the workers share, as the write claims do, and live beside them
//! (the global store across regions, else `--redis-url`): with a store of
//! its own, a worker knows only its own attempts.
//!
//! A record lives a day, or as long as the edge asks in `replay_ttl_ms` (the
//! retry window of a key it derived from a session's request), never longer.

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use common::{
    ErrorCode, Failure, catalogue,
    proto::{CallToolRequest, ToolOutput, ToolResult, tool_result::Outcome},
    store::SharedStore,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{
    d365::{retry::unix_now_ms, write_once},
    metrics::{WriteClaim, write_claim},
};

/// Request ids the edge derives from a client's idempotency key start so.
pub const KEYED: &str = "idem-";

/// Key prefix of the records; the version changes with the format.
pub const PREFIX: &str = "d365mcp:replay:v1:";

/// Largest result kept for a retry; a larger one is reported as applied,
/// with the advice to read the record. Small, because keys are the
/// client's to choose and each lives a day.
const MAX_KEPT_BYTES: usize = 64 * 1024;

/// How long past its deadline a running attempt is presumed dead.
const GRACE_MS: u64 = 5_000;

/// A keyed attempt, as its record in the store holds it.
#[derive(Debug, Serialize, Deserialize)]
struct Record {
    /// Digest of the tool and its arguments.
    digest: String,
    /// The first attempt's deadline (Unix ms; 0 when it had none).
    deadline_ms: u64,
    /// How it ended; absent while it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ended: Option<Ended>,
}

/// How a keyed attempt ended.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Ended {
    /// Its result, to answer retries with.
    Output {
        content_json: String,
        structured_content_json: String,
        is_error: bool,
    },
    /// Applied, but its result was too large to keep.
    Unkept,
    /// Its outcome is unknown.
    Unknown(Failure),
}

/// What [`begin`] decided.
pub enum Begin {
    /// Not a keyed write: run it as usual.
    Untracked,
    /// The first attempt with this key: run it, then [`Attempt::finish`].
    First(Attempt),
    /// A retry: answer with this, and send nothing.
    Retry(ToolResult),
}

/// The first attempt with a key, recorded as running.
#[must_use = "finish the attempt with its result"]
pub struct Attempt {
    store: SharedStore,
    key: String,
    request_id: String,
    record: Record,
    /// How long its record lives, from when it is written.
    ttl: Duration,
}

/// Whether `request` is a keyed write, whose attempts [`begin`] records.
pub fn tracked(request: &CallToolRequest) -> bool {
    request.request_id.starts_with(KEYED)
        && catalogue::find(&request.tool).is_some_and(|spec| !spec.effects.read_only)
}

/// Records `request` as the first attempt of its key, or answers it from
/// the first attempt. A store that cannot be reached refuses a keyed write
/// rather than risk sending it twice.
pub async fn begin(store: &SharedStore, request: &CallToolRequest) -> Begin {
    if !tracked(request) {
        return Begin::Untracked;
    }
    let key = format!("{PREFIX}{}", request.request_id);
    let ttl = record_ttl(request);
    let record = Record {
        digest: digest(request),
        deadline_ms: request.deadline_unix_ms,
        ended: None,
    };
    let Ok(json) = serde_json::to_vec(&record) else {
        return retry_with(Failure::new(
            ErrorCode::Internal,
            "the attempt could not be recorded",
        ));
    };
    // Twice at most: a record may vanish between the two reads (it expired,
    // or a first attempt that applied nothing released it).
    for _ in 0..2 {
        match store
            .set_if_absent(&key, Bytes::from(json.clone()), ttl)
            .await
        {
            Ok(true) => {
                return Begin::First(Attempt {
                    store: Arc::clone(store),
                    key,
                    request_id: request.request_id.clone(),
                    record,
                    ttl,
                });
            }
            Ok(false) => match store.get(&key).await {
                Ok(Some(bytes)) => {
                    return match serde_json::from_slice::<Record>(&bytes) {
                        Ok(first) => {
                            let (claim, result) = answer(&first, &record.digest);
                            write_claim(claim);
                            Begin::Retry(result)
                        }
                        Err(_) => retry_with(unreadable()),
                    };
                }
                Ok(None) => continue,
                Err(e) => return retry_with(store_down(&e.to_string())),
            },
            Err(e) => return retry_with(store_down(&e.to_string())),
        }
    }
    retry_with(
        Failure::new(
            ErrorCode::Unavailable,
            "the first attempt with this idempotency key was just released; retry now",
        )
        .with_retry_after(Duration::from_secs(1)),
    )
}

impl Attempt {
    /// Records how the attempt ended, for its retries. An attempt that
    /// applied nothing is forgotten, its write claim too, so that a retry
    /// with the key is sent afresh.
    pub async fn finish(mut self, result: &ToolResult) {
        let ended = match &result.outcome {
            Some(Outcome::Output(output)) => kept(output),
            Some(Outcome::Failure(failure)) => {
                let failure = Failure::from_proto(failure);
                if applied_nothing(failure.code) {
                    self.forget().await;
                    return;
                }
                Ended::Unknown(unknown_after(&failure))
            }
            None => return,
        };
        self.record.ended = Some(ended);
        let stored = match serde_json::to_vec(&self.record) {
            Ok(json) => {
                self.store
                    .set(&self.key, Bytes::from(json), Some(self.ttl))
                    .await
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not encode how a keyed write ended");
                return;
            }
        };
        if let Err(error) = stored {
            tracing::warn!(%error, "could not record how a keyed write ended");
        }
    }

    async fn forget(&self) {
        // The claim first: a resend that finds no record must find no claim
        // either, or it would take the attempt for one of unknown outcome.
        let claim = format!("{}{}", write_once::PREFIX, self.request_id);
        for key in [&claim, &self.key] {
            if let Err(error) = self.store.delete(key).await {
                tracing::warn!(%error, "could not release a keyed write that applied nothing");
            }
        }
    }
}

/// How long the record of `request`'s attempt lives: what the edge asked
/// for (the window of a key it derived), at most as long as a write claim;
/// a day when it asked for nothing (a client's own key). Never less than
/// the attempt may still run (its deadline, and the grace after it), so a
/// record cannot expire under a running attempt and let a resend through.
fn record_ttl(request: &CallToolRequest) -> Duration {
    let asked = match request.replay_ttl_ms {
        0 => write_once::TTL,
        ms => Duration::from_millis(ms).min(write_once::TTL),
    };
    let running = request
        .deadline_unix_ms
        .saturating_add(GRACE_MS)
        .saturating_sub(unix_now_ms());
    asked.max(Duration::from_millis(running).min(write_once::TTL))
}

/// Whether a failure with `code` proves the write was not applied: D365FO
/// refused it (or never ran it: throttled, credentials refused), or it was
/// refused before it was sent. A write tool fails `unavailable` only before
/// sending: its circuit breaker is open (`crate::d365::breaker`) or the
/// store could not take its write claim; after the send it touches the
/// store no more (the claim is settled best effort).
fn applied_nothing(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::InvalidArguments
            | ErrorCode::UnknownTool
            | ErrorCode::NotFound
            | ErrorCode::UpstreamRejected
            | ErrorCode::Throttled
            | ErrorCode::Unavailable
            | ErrorCode::UpstreamAuth
            | ErrorCode::PermissionDenied
    )
}

/// What a retry hears of a first attempt that failed in a way that may
/// hide an applied write.
fn unknown_after(failure: &Failure) -> Failure {
    if failure.code == ErrorCode::OutcomeUnknown {
        return failure.clone();
    }
    let message: String = failure.message.chars().take(500).collect();
    Failure::new(
        ErrorCode::OutcomeUnknown,
        format!(
            "the first attempt with this idempotency key failed ({}: {message}) in a way that \
             does not tell whether D365FO applied it; read the record before making the change \
             with a new key",
            failure.code
        ),
    )
}

/// The answer to a retry, from the first attempt's record, and what it
/// counts as in the metrics: a key used for another call is a conflict, a
/// first attempt still running is in progress, anything else (its result,
/// its unknown outcome, its end presumed) is replayed from the record.
fn answer(first: &Record, digest: &str) -> (WriteClaim, ToolResult) {
    if first.digest != digest {
        let conflict = result_of(Failure::new(
            ErrorCode::Conflict,
            "this idempotency key was already used for another call (another tool or other \
             arguments); a new change needs a new key",
        ));
        return (WriteClaim::Conflict, conflict);
    }
    let claim = if first.ended.is_none() && !presumed_dead(first) {
        WriteClaim::InProgress
    } else {
        WriteClaim::Replayed
    };
    let result = match &first.ended {
        Some(Ended::Output {
            content_json,
            structured_content_json,
            is_error,
        }) => ToolResult {
            outcome: Some(Outcome::Output(ToolOutput {
                content_json: content_json.clone(),
                structured_content_json: structured_content_json.clone(),
                is_error: *is_error,
            })),
        },
        Some(Ended::Unkept) => result_of(Failure::new(
            ErrorCode::Conflict,
            "this call was already applied with this idempotency key, and its result was too \
             large to keep; read the record to see it",
        )),
        Some(Ended::Unknown(failure)) => result_of(failure.clone()),
        None if presumed_dead(first) => result_of(Failure::new(
            ErrorCode::OutcomeUnknown,
            "the first attempt with this idempotency key stopped without recording its \
                 outcome (its worker may have died); it may or may not have been applied, so read \
                 the record before making the change with a new key",
        )),
        None => result_of(
            Failure::new(
                ErrorCode::Unavailable,
                "the first attempt with this idempotency key is still running; retry in a moment \
                 for its result",
            )
            .with_retry_after(Duration::from_secs(2)),
        ),
    };
    (claim, result)
}

/// Whether a first attempt that recorded no end is past its deadline and
/// grace: its worker died.
fn presumed_dead(first: &Record) -> bool {
    first.deadline_ms > 0 && unix_now_ms() > first.deadline_ms.saturating_add(GRACE_MS)
}

/// A result kept for retries, or [`Ended::Unkept`] when it is too large.
fn kept(output: &ToolOutput) -> Ended {
    if output.content_json.len() + output.structured_content_json.len() > MAX_KEPT_BYTES {
        return Ended::Unkept;
    }
    Ended::Output {
        content_json: output.content_json.clone(),
        structured_content_json: output.structured_content_json.clone(),
        is_error: output.is_error,
    }
}

/// Digest of what a call asks: its tool and arguments, as the edge sent
/// them (serialized with sorted keys, so the same arguments give the same
/// text).
fn digest(request: &CallToolRequest) -> String {
    let mut hasher = Sha256::new();
    hasher.update(request.tool.as_bytes());
    hasher.update([0]);
    hasher.update(request.arguments_json.as_bytes());
    format!("{:x}", hasher.finalize())
}

fn result_of(failure: Failure) -> ToolResult {
    ToolResult {
        outcome: Some(Outcome::Failure(failure.to_proto())),
    }
}

/// A keyed write refused before anything was recorded or sent.
fn retry_with(failure: Failure) -> Begin {
    write_claim(WriteClaim::Refused);
    Begin::Retry(result_of(failure))
}

fn unreadable() -> Failure {
    Failure::new(
        ErrorCode::Internal,
        "the record of this idempotency key's first attempt could not be read; the call was not \
         sent; read the record before making the change with a new key",
    )
}

fn store_down(error: &str) -> Failure {
    Failure::new(
        ErrorCode::Unavailable,
        format!(
            "a write with an idempotency key needs the store that holds write claims, which is \
             unreachable ({error}); nothing was sent; retry shortly"
        ),
    )
    .with_retry_after(Duration::from_secs(1))
}

#[cfg(test)]
#[path = "replay_tests.rs"]
mod tests;
