//! `d365fo_create_entity_record`, `d365fo_update_entity_record` and
//! `d365fo_delete_entity_record`: one write each.
//!
//! Every write goes the same way: claim the call's request id in the shared
//! store (so a failover never sends it twice), send it once (again only
//! after a 429, which D365FO answers before doing anything), settle the
//! claim, and build the result from D365FO's answer. An update asks for the
//! updated record in the same round trip (`Prefer: return=representation`)
//! rather than reading it back, which would be a second request that might
//! see someone else's change; when D365FO answers 204 anyway, the result
//! has the new ETag and says how to read the record. A record D365FO sends
//! back that is more than a result may hold is left out with a note: the
//! write is done by then, so failing the call would misreport it.

use common::catalogue::{
    args::data::Key,
    data::{CreateArgs, DeleteArgs, DeleteResult, UpdateArgs, WriteResult},
};
use reqwest::Method;
use serde_json::Value;

use super::{hints, keys::KeyTyper, size};
use crate::tools::Context;
use crate::{
    d365::{
        Answer, Body, Idempotency, Request, Settled, WriteOnce,
        location::key_of_location,
        odata::{QueryOptions, data_url},
    },
    error::WorkerError,
};

use common::catalogue::names;

/// Asks D365FO to answer a write with the record it stored.
const RETURN_RECORD: (&str, &str) = ("Prefer", "return=representation");

/// Creates the record; returns it with its key and ETag.
pub async fn create(ctx: &Context<'_>, args: CreateArgs) -> Result<WriteResult, WorkerError> {
    let url = data_url(
        ctx.client.base_url(),
        &args.entity_set,
        &QueryOptions::default(),
    );
    let body = Value::Object(args.fields);
    let answer = send_write(
        ctx,
        names::CREATE_ENTITY_RECORD,
        Request {
            method: &Method::POST,
            url: &url,
            body: Body::Json(&body),
            headers: &[RETURN_RECORD],
            idempotency: Idempotency::NonIdempotent,
            retry: true,
            deadline: ctx.deadline,
        },
    )
    .await
    // The company of a create is in its fields; no cross-company hint.
    .map_err(|e| hints::explain(e, &args.entity_set, true))?;
    let record = applied_json(&answer)?;
    let location = answer
        .header("location")
        .or_else(|| answer.header("odata-entityid"));
    let mut result = WriteResult {
        key: location.and_then(|l| key_of_location(l, &args.entity_set)),
        etag: etag_of(&answer, &record),
        entity_set: args.entity_set,
        ..WriteResult::default()
    };
    if record.is_object() {
        attach_record(ctx, &mut result, record);
    }
    Ok(result)
}

/// Changes the named fields; returns the new ETag and the record when
/// D365FO sends it.
pub async fn update(ctx: &Context<'_>, args: UpdateArgs) -> Result<WriteResult, WorkerError> {
    let tool = names::UPDATE_ENTITY_RECORD;
    let url = record_url(ctx, tool, &args.entity_set, &args.key, args.cross_company).await?;
    let body = Value::Object(args.fields);
    let mut headers = vec![RETURN_RECORD];
    if let Some(etag) = &args.if_match {
        headers.push(("If-Match", etag));
    }
    let answer = send_write(
        ctx,
        tool,
        Request {
            method: &Method::PATCH,
            url: &url,
            body: Body::Json(&body),
            headers: &headers,
            idempotency: Idempotency::NonIdempotent,
            retry: true,
            deadline: ctx.deadline,
        },
    )
    .await
    .map_err(|e| hints::explain(e, &args.entity_set, args.cross_company))?;
    let record = applied_json(&answer)?;
    let mut result = WriteResult {
        entity_set: args.entity_set,
        key: Some(args.key.fields),
        etag: etag_of(&answer, &record),
        ..WriteResult::default()
    };
    if record.is_object() {
        attach_record(ctx, &mut result, record);
    } else {
        result.note = Some(
            "D365FO applied the change without sending the record back; read it with \
             d365fo_get_entity_record to see it"
                .into(),
        );
    }
    Ok(result)
}

/// Deletes the record.
pub async fn delete(ctx: &Context<'_>, args: DeleteArgs) -> Result<DeleteResult, WorkerError> {
    let tool = names::DELETE_ENTITY_RECORD;
    let url = record_url(ctx, tool, &args.entity_set, &args.key, args.cross_company).await?;
    let headers: Vec<(&str, &str)> = args
        .if_match
        .as_deref()
        .map(|etag| ("If-Match", etag))
        .into_iter()
        .collect();
    send_write(
        ctx,
        tool,
        Request {
            method: &Method::DELETE,
            url: &url,
            body: Body::Empty,
            headers: &headers,
            idempotency: Idempotency::NonIdempotent,
            retry: true,
            deadline: ctx.deadline,
        },
    )
    .await
    .map_err(|e| hints::explain(e, &args.entity_set, args.cross_company))?;
    Ok(DeleteResult {
        entity_set: args.entity_set,
        key: args.key.fields,
        deleted: true,
    })
}

/// Sends a write at most once for this call: claims the request id first,
/// and records how it ended.
async fn send_write(
    ctx: &Context<'_>,
    tool: &str,
    request: Request<'_>,
) -> Result<Answer, WorkerError> {
    let claim = WriteOnce::claim(ctx.global, ctx.request_id, tool).await?;
    let result = ctx.client.request(request).await;
    claim.settle(Settled::of(&result)).await;
    result
}

/// Puts the `record` D365FO sent back into `result`, or, when it alone is
/// more than a result may hold, a note saying how to read it instead.
fn attach_record(ctx: &Context<'_>, result: &mut WriteResult, record: Value) {
    let bytes = size::json_len(&record);
    let budget = ctx.max_result_bytes;
    if bytes <= budget {
        result.record = Some(record);
        return;
    }
    result.record_omitted = Some(true);
    result.note = Some(format!(
        "D365FO applied the write. The record it sent back is {bytes} bytes of JSON, more \
         than the {budget} bytes a result may hold, so it is left out; read the fields you \
         need with d365fo_get_entity_record and `select`"
    ));
}

/// `{base}/data/{set}({key})`, the key typed by the metadata, with
/// `cross-company=true` when asked. A key that does not fit its types is
/// refused before anything is claimed or sent.
async fn record_url(
    ctx: &Context<'_>,
    tool: &str,
    entity_set: &str,
    key: &Key,
    cross_company: bool,
) -> Result<String, WorkerError> {
    let predicate = KeyTyper::new(ctx)
        .predicate(entity_set, key)
        .await
        .map_err(|why| WorkerError::invalid_args(tool, why))?;
    let query = QueryOptions {
        cross_company,
        ..QueryOptions::default()
    };
    Ok(data_url(
        ctx.client.base_url(),
        &format!("{entity_set}{predicate}"),
        &query,
    ))
}

/// The body of a write D365FO accepted. An unreadable one must not look
/// retryable: the write is done, and repeating it would apply it twice.
fn applied_json(answer: &Answer) -> Result<Value, WorkerError> {
    answer.json().map_err(|e| {
        WorkerError::OutcomeUnknown(format!(
            "D365FO accepted it (HTTP {}), but its answer could not be read ({e})",
            answer.status
        ))
    })
}

/// The record's new ETag: the `ETag` header, else the body's `@odata.etag`.
fn etag_of(answer: &Answer, record: &Value) -> Option<String> {
    answer.header("etag").map(str::to_owned).or_else(|| {
        record
            .get("@odata.etag")
            .and_then(Value::as_str)
            .map(str::to_owned)
    })
}
