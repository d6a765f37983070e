//! Confirmation before a change to existing data: an update, a delete, a
//! batch with writes, an action or a JSON service call
//! (`catalogue::asks_confirmation`) runs only once the client's user says
//! yes, when the caller's `writes` policy asks for it (`Writes`, default
//! `auto`: ask a client that can ask its user, run for one that cannot).
//!
//! How the user is asked depends on the protocol era:
//!
//! - **2025 sessions and legacy streams**: an elicitation request on the
//!   call's own stream, answered within `confirm_timeout`. The answer may
//!   be POSTed to another edge; `sessions::answers` relays it to this one
//!   (the handler declares that it asks clients things).
//! - **2026-07-28** (stateless): an `input_required` result carrying the
//!   elicitation and a `requestState`; the client retries the call with the
//!   user's answer and that state, on any edge. The state is a random
//!   handle to a record in the shared store (caller, tool and a digest of
//!   the arguments, kept `confirm_timeout`), so nothing in it needs to be
//!   trusted and no secret needs to be shared between edges.
//!
//! At most once: nothing is sent to a worker before the answer. A
//! confirmed 2026-07-28 retry without the client's own idempotency key runs
//! under a request id derived from its handle, so a resend of the same
//! confirmed request is answered from the first attempt's record (the
//! worker's replay) instead of being applied again. In a session the call
//! keeps the request id it already had (the client's key, or the one
//! derived from its session request).

mod describe;

use std::{collections::BTreeMap, time::Duration};

use bytes::Bytes;
use common::{
    ErrorCode, Failure,
    catalogue::{self, ToolSpec},
    config::policy::Writes,
};
use rmcp::{
    RoleServer,
    model::{
        CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ElicitRequest,
        ElicitRequestParams, ElicitResult, ElicitationAction, ElicitationSchema, InputRequest,
        InputRequiredResult,
    },
    service::RequestContext,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::{EdgeState, auth::Principal, retries};

/// The key of the one input request a confirmation makes.
const INPUT: &str = "confirm";

/// Prefix of a 2026-07-28 confirmation's record in the shared store.
const RECORD_PREFIX: &str = "d365mcp:confirm:v1:";

/// Longest `requestState` read back (a handle is a UUID).
const MAX_STATE: usize = 64;

/// What the call does next.
pub enum Gate {
    /// Run it; with the handle of a confirmed 2026-07-28 retry, whose
    /// request id the call takes when the client named no key.
    Proceed { confirmed: Option<String> },
    /// Answer the client this instead (a question, or the user's no).
    Answer(CallToolResponse),
}

/// What the store keeps of a question asked statelessly.
#[derive(Serialize, Deserialize, PartialEq, Eq, Debug)]
struct Asked {
    tenant: String,
    subject: String,
    issuer: String,
    tool: String,
    arguments: String,
}

impl Asked {
    fn of(caller: &Principal, tool: &ToolSpec, arguments: &Map<String, Value>) -> Self {
        Self {
            tenant: caller.tenant.clone(),
            subject: caller.subject.clone(),
            issuer: caller.issuer.clone(),
            tool: tool.name.to_owned(),
            arguments: retries::arguments_digest(arguments),
        }
    }
}

/// Decides whether `tool` runs now with `arguments` (already allowed by the
/// policy), asks its user, or is refused.
pub async fn gate(
    state: &EdgeState,
    caller: &Principal,
    tool: &'static ToolSpec,
    arguments: &Map<String, Value>,
    request: &CallToolRequestParams,
    context: &RequestContext<RoleServer>,
) -> Result<Gate, Failure> {
    let config = &state.config;
    let writes = config
        .policy
        .writes(&caller.subject, &caller.tenant)
        .unwrap_or(config.writes);
    let stateless = retries::scope_of(context).is_none();
    if writes == Writes::Allow {
        return Ok(Gate::Proceed { confirmed: None });
    }
    if writes == Writes::Refuse {
        return Err(Failure::new(
            ErrorCode::PermissionDenied,
            format!(
                "{} changes existing data, which this server refuses \
                 (D365MCP_CONFIRM_WRITES=refuse); creates and reads are allowed",
                tool.name
            ),
        ));
    }
    let answering = request.request_state.is_some() || request.input_responses.is_some();
    if stateless && answering {
        return answered(state, caller, tool, arguments, request).await;
    }
    if !can_ask(context) {
        return match writes {
            Writes::Confirm => Err(Failure::new(
                ErrorCode::PermissionDenied,
                format!(
                    "{} changes existing data, and this tenant's policy makes every such \
                     change wait for the user's confirmation (writes = \"confirm\"), but this \
                     client cannot ask its user (it declares no elicitation support). Nothing \
                     was changed: use a client that supports elicitation, or ask the operator \
                     for writes = \"allow\" for autonomous agents",
                    tool.name
                ),
            )),
            _ => Ok(Gate::Proceed { confirmed: None }),
        };
    }
    let question = describe::question(tool, arguments);
    if stateless {
        ask_statelessly(state, caller, tool, arguments, question).await
    } else {
        ask_in_session(context, tool, question, config.confirm_timeout).await
    }
}

/// Whether the client declared it can show its user a form.
fn can_ask(context: &RequestContext<RoleServer>) -> bool {
    context
        .client_capabilities()
        .and_then(|capabilities| capabilities.elicitation)
        .is_some_and(|elicitation| elicitation.form.is_some() || elicitation.url.is_none())
}

/// The form a user answers: one yes/no, yes by default.
fn request_params(question: String) -> Result<ElicitRequestParams, Failure> {
    let schema = ElicitationSchema::from_json_schema(
        json!({
            "type": "object",
            "properties": {
                "confirm": {
                    "type": "boolean",
                    "title": "Apply this change",
                    "default": true
                }
            }
        })
        .as_object()
        .cloned()
        .unwrap_or_default(),
    )
    .map_err(|e| {
        Failure::new(
            ErrorCode::Internal,
            format!("the confirmation form could not be built: {e}"),
        )
    })?;
    Ok(ElicitRequestParams::FormElicitationParams {
        meta: None,
        message: question,
        requested_schema: schema,
    })
}

/// Whether `answer` says yes: accepted, and not with `confirm: false`.
fn says_yes(answer: &ElicitResult) -> bool {
    answer.action == ElicitationAction::Accept
        && answer
            .content
            .as_ref()
            .and_then(|c| c.get("confirm"))
            .and_then(Value::as_bool)
            != Some(false)
}

/// The answer to a call its user declined: a tool result the model reads.
fn declined(tool: &ToolSpec) -> Gate {
    let text = format!(
        "The user did not confirm {}: nothing was changed. Ask the user before trying again.",
        tool.name
    );
    Gate::Answer(CallToolResponse::Complete(CallToolResult::error(vec![
        ContentBlock::text(text),
    ])))
}

async fn ask_in_session(
    context: &RequestContext<RoleServer>,
    tool: &ToolSpec,
    question: String,
    timeout: Duration,
) -> Result<Gate, Failure> {
    let params = request_params(question)?;
    let asked = context
        .peer
        .create_elicitation_with_timeout(params, Some(timeout))
        .await;
    match asked {
        Ok(answer) if says_yes(&answer) => Ok(Gate::Proceed { confirmed: None }),
        Ok(_) => Ok(declined(tool)),
        Err(e) => Err(Failure::new(
            ErrorCode::DeadlineExceeded,
            format!(
                "the user's confirmation of {} did not arrive ({e}); nothing was changed. \
                 Call the tool again to be asked again",
                tool.name
            ),
        )),
    }
}

async fn ask_statelessly(
    state: &EdgeState,
    caller: &Principal,
    tool: &ToolSpec,
    arguments: &Map<String, Value>,
    question: String,
) -> Result<Gate, Failure> {
    let handle = uuid::Uuid::new_v4().simple().to_string();
    let record = serde_json::to_vec(&Asked::of(caller, tool, arguments))
        .map_err(|e| Failure::new(ErrorCode::Internal, format!("confirmation record: {e}")))?;
    state
        .store
        .set(
            &format!("{RECORD_PREFIX}{handle}"),
            Bytes::from(record),
            Some(state.config.confirm_timeout),
        )
        .await
        .map_err(|e| {
            Failure::new(
                ErrorCode::Unavailable,
                format!(
                    "the confirmation could not be recorded (shared store: {e}); nothing was \
                     changed, retry shortly"
                ),
            )
            .with_retry_after(Duration::from_secs(1))
        })?;
    let params = request_params(question)?;
    let mut requests = BTreeMap::new();
    requests.insert(
        INPUT.to_owned(),
        InputRequest::Elicitation(ElicitRequest::new(params)),
    );
    Ok(Gate::Answer(CallToolResponse::InputRequired(
        InputRequiredResult::new(Some(requests), Some(handle)),
    )))
}

/// A 2026-07-28 retry carrying its user's answer and the state it was given.
async fn answered(
    state: &EdgeState,
    caller: &Principal,
    tool: &ToolSpec,
    arguments: &Map<String, Value>,
    request: &CallToolRequestParams,
) -> Result<Gate, Failure> {
    let ask_again = |why: &str| {
        Failure::new(
            ErrorCode::InvalidArguments,
            format!(
                "{why}; nothing was changed. Call {} again without `requestState` and \
                 `inputResponses` to be asked anew",
                tool.name
            ),
        )
    };
    let handle = request
        .request_state
        .as_deref()
        .filter(|h| (1..=MAX_STATE).contains(&h.len()) && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| ask_again("the `requestState` is not one this server gave"))?;
    let answer = request
        .input_responses
        .as_ref()
        .and_then(|responses| responses.get(INPUT))
        .ok_or_else(|| {
            ask_again("the answer to the confirmation (`inputResponses.confirm`) is missing")
        })?;
    let answer: ElicitResult = serde_json::from_value(answer.clone()).map_err(|e| {
        ask_again(&format!(
            "the answer to the confirmation is not an elicitation result ({e})"
        ))
    })?;
    let stored = state
        .store
        .get(&format!("{RECORD_PREFIX}{handle}"))
        .await
        .map_err(|e| {
            Failure::new(
                ErrorCode::Unavailable,
                format!("the confirmation could not be read (shared store: {e}); retry shortly"),
            )
            .with_retry_after(Duration::from_secs(1))
        })?
        .ok_or_else(|| ask_again("this confirmation expired or is unknown"))?;
    let asked: Asked = serde_json::from_slice(&stored)
        .map_err(|_| ask_again("this confirmation's record is unreadable"))?;
    if asked != Asked::of(caller, tool, arguments) {
        return Err(ask_again(
            "this confirmation was given for another call (caller, tool or arguments differ)",
        ));
    }
    if !says_yes(&answer) {
        return Ok(declined(tool));
    }
    Ok(Gate::Proceed {
        confirmed: Some(handle.to_owned()),
    })
}

/// Whether a call of `tool` with `arguments` goes through [`gate`] at all.
pub fn applies(tool: &ToolSpec, arguments: &Map<String, Value>) -> bool {
    catalogue::asks_confirmation(tool, arguments)
}

#[cfg(test)]
mod tests;
