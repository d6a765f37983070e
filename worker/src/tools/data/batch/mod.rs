//! `d365fo_execute_batch`: several reads and writes in one OData `$batch`.
//!
//! Three steps, as every tool: [`plan`] checks the operations and groups
//! them into units (a lone request, or an atomic changeset); this module
//! encodes them into one `multipart/mixed` request and sends it, once, as a
//! write guarded by the call's request id (a batch of reads only is sent as
//! a read, and may be retried); [`results`] maps D365FO's answer back onto
//! the operations, in order. The request id's record is settled from those
//! per-operation outcomes, not from the `$batch` status, which is 200 even
//! when every write failed.
//!
//! Every request carries `Content-ID` = its index + 1, so a changeset's
//! update or delete can name the record an earlier create made as `$n`,
//! and a failed changeset's answer names the request that failed it.

mod plan;
mod results;

use common::catalogue::{
    data::{BatchArgs, BatchResult, MAX_BATCH_OPERATIONS},
    names,
};
use reqwest::Method;
use serde_json::Value;

use self::plan::{Kind, Operation, Target};
use super::keys::KeyTyper;
use crate::d365::{
    Answer, Body, Idempotency, Request, Settled, WriteOnce,
    batch::{self, PartRequest, PartResponse, Unit},
    odata::{QueryOptions, data_url},
};
use crate::error::WorkerError;
use crate::tools::Context;

const TOOL: &str = names::EXECUTE_BATCH;

/// Runs the batch.
pub async fn run(ctx: &Context<'_>, args: BatchArgs) -> Result<BatchResult, WorkerError> {
    let invalid = |why: String| WorkerError::invalid_args(TOOL, why);
    let mut ops = plan::operations(args.operations, MAX_BATCH_OPERATIONS).map_err(invalid)?;
    let units = plan::units(&ops).map_err(invalid)?;
    type_keys(ctx, &mut ops).await.map_err(invalid)?;
    let requests: Vec<Unit<PartRequest>> = units
        .iter()
        .map(|unit| match unit {
            Unit::Single(i) => Unit::Single(part(ctx, &ops[*i])),
            Unit::Changeset(members) => {
                Unit::Changeset(members.iter().map(|i| part(ctx, &ops[*i])).collect())
            }
        })
        .collect();
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let encoded = batch::encode(&requests, &tag).map_err(WorkerError::Internal)?;
    let read_only = ops.iter().all(|op| op.kind == Kind::Get);
    let url = format!(
        "{}/data/$batch",
        ctx.client.base_url().as_str().trim_end_matches('/')
    );
    let request = Request {
        method: &Method::POST,
        url: &url,
        body: Body::Raw {
            content_type: &encoded.content_type,
            bytes: &encoded.body,
        },
        headers: &[("Accept", "multipart/mixed")],
        idempotency: if read_only {
            Idempotency::Idempotent
        } else {
            Idempotency::NonIdempotent
        },
        retry: true,
        deadline: ctx.deadline,
    };
    let build = |answer: Answer| -> Result<results::Built, WorkerError> {
        let responses = decode(&answer, read_only)?;
        Ok(results::build(
            &ops,
            &units,
            responses,
            ctx.max_result_bytes,
        ))
    };
    if read_only {
        return Ok(build(ctx.client.request(request).await?)?.result);
    }
    let claim = WriteOnce::claim(ctx.global, ctx.request_id, TOOL).await?;
    let built = ctx.client.request(request).await.and_then(build);
    let settled = match &built {
        Ok(built) => built.settled,
        Err(_) => Settled::of(&built),
    };
    claim.settle(settled).await;
    Ok(built?.result)
}

/// Puts each key in the literal form of its types (see [`super::keys`]),
/// reading each entity set's metadata once; a key that does not fit is
/// refused, naming its operation, before anything is sent.
async fn type_keys(ctx: &Context<'_>, ops: &mut [Operation]) -> Result<(), String> {
    let mut typer = KeyTyper::new(ctx);
    for op in ops {
        if let Target::Key(key) = &mut op.target {
            key.predicate = typer
                .predicate(&op.entity_set, key)
                .await
                .map_err(|why| format!("operations[{}]: {why}", op.index))?;
        }
    }
    Ok(())
}

/// D365FO's answer, one response per request. An unreadable answer to a
/// batch with writes leaves their outcome unknown.
fn decode(answer: &Answer, read_only: bool) -> Result<Vec<Unit<PartResponse>>, WorkerError> {
    let content_type = answer.header("content-type").unwrap_or("");
    batch::decode(content_type, &answer.body).map_err(|why| {
        let why = format!(
            "D365FO answered the batch (HTTP {}), but the answer could not be read: {why}",
            answer.status
        );
        if read_only {
            WorkerError::BadResponse(why)
        } else {
            WorkerError::OutcomeUnknown(why)
        }
    })
}

/// The request of one operation.
fn part(ctx: &Context<'_>, op: &Operation) -> PartRequest {
    let base = ctx.client.base_url();
    let query = QueryOptions {
        select: op.select.clone(),
        expand: op.expand.clone(),
        cross_company: op.cross_company,
        ..QueryOptions::default()
    };
    let url = match &op.target {
        Target::New => data_url(base, &op.entity_set, &QueryOptions::default()),
        Target::Key(key) => data_url(base, &format!("{}{}", op.entity_set, key.predicate), &query),
        Target::Created(at) => {
            let qs = query.to_query_string();
            let sep = if qs.is_empty() { "" } else { "?" };
            format!("${}{sep}{qs}", content_id(*at))
        }
    };
    let mut headers = Vec::new();
    if let Some(etag) = &op.if_match {
        headers.push(("If-Match", etag.clone()));
    }
    if matches!(op.kind, Kind::Create | Kind::Update) {
        headers.push(("Prefer", "return=representation".to_owned()));
    }
    PartRequest {
        content_id: content_id(op.index),
        method: match op.kind {
            Kind::Get => "GET",
            Kind::Create => "POST",
            Kind::Update => "PATCH",
            Kind::Delete => "DELETE",
        },
        url,
        headers,
        body: op.fields.clone().map(Value::Object),
    }
}

/// The `Content-ID` of the operation at `index`.
pub(super) fn content_id(index: usize) -> usize {
    index + 1
}
