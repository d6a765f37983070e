//! `d365fo_call_json_service` and `d365fo_list_json_services`: D365FO's
//! custom services under `/api/services`.
//!
//! A POST runs X++ and may change data: it is claimed once and sent once.
//! A GET on the same paths is discovery and is retried like any read.

use common::catalogue::{
    execution::{CallArgs, ListArgs, ServiceListResult, ServiceParameter, ServiceResult},
    names,
};
use serde_json::Value;

use super::outcome::{self, Bounded};
use crate::metadata::str_field as text;
use crate::{
    d365::{Idempotency, Settled, WriteOnce},
    error::WorkerError,
    tools::Context,
};

/// What D365FO's 404 leaves the model to check.
const NOT_FOUND_HINT: &str = "Check the service group, service and operation names with \
    d365fo_list_json_services";

/// The start of the message D365FO's service host sends, with a 500, when a
/// body does not match the operation's parameters (its spelling).
const DESERIALIZATION_FAILURE: &str = "An exception occured when deserializing a parameters";

fn services_url(ctx: &Context<'_>, parts: &[&str]) -> String {
    let mut url = format!(
        "{}/api/services",
        ctx.client.base_url().as_str().trim_end_matches('/')
    );
    for part in parts {
        url.push('/');
        url.push_str(part);
    }
    url
}

/// Claims the call, posts the parameters once and returns the operation's result.
pub async fn call(ctx: &Context<'_>, args: CallArgs) -> Result<ServiceResult, WorkerError> {
    let url = services_url(ctx, &[&args.service_group, &args.service, &args.operation]);
    let claim = WriteOnce::claim(ctx.global, ctx.request_id, names::CALL_JSON_SERVICE).await?;
    let body = Value::Object(args.parameters);
    let answer = ctx
        .client
        .post_json(&url, &body, Idempotency::NonIdempotent, ctx.deadline)
        .await
        .map_err(|e| match e {
            // Parameters that do not bind never reach the operation.
            WorkerError::Unavailable(m) | WorkerError::OutcomeUnknown(m)
                if m.contains(DESERIALIZATION_FAILURE) =>
            {
                WorkerError::invalid_args(
                    names::CALL_JSON_SERVICE,
                    format!(
                        "D365FO could not read `parameters`: {m}. Get the operation's \
                         parameter names and types with d365fo_list_json_services"
                    ),
                )
            }
            other => outcome::not_found_with_hint(other, NOT_FOUND_HINT),
        });
    // Settled after the mapping: parameters D365FO could not read are a
    // refusal, not an open outcome.
    claim.settle(Settled::of(&answer)).await;
    let answer = answer?;
    let limit = ctx.max_result_bytes;
    let bounded = Bounded::new(answer, limit);
    Ok(ServiceResult {
        service_group: args.service_group,
        service: args.service,
        operation: args.operation,
        note: bounded.note("The operation", limit),
        result: bounded.result,
        result_bytes: bounded.bytes,
        result_omitted: bounded.omitted,
    })
}

/// One level of the discovery tree: groups, services, operations, or one
/// operation's signature.
pub async fn list(ctx: &Context<'_>, args: ListArgs) -> Result<ServiceListResult, WorkerError> {
    let invalid = |reason: &str| WorkerError::invalid_args(names::LIST_JSON_SERVICES, reason);
    let parts: Vec<&str> = match (&args.service_group, &args.service, &args.operation) {
        (None, None, None) => Vec::new(),
        (Some(g), None, None) => vec![g],
        (Some(g), Some(s), None) => vec![g, s],
        (Some(g), Some(s), Some(o)) => vec![g, s, o],
        (None, _, _) => return Err(invalid("`service` and `operation` need `service_group`")),
        (Some(_), None, Some(_)) => return Err(invalid("`operation` needs `service`")),
    };
    let url = services_url(ctx, &parts);
    let answer = ctx.client.get_json(&url, ctx.deadline).await.map_err(|e| {
        outcome::not_found_with_hint(
            e,
            "List the level above (leave out the last name) to see the names that exist",
        )
    })?;
    let depth = parts.len();
    let mut out = ServiceListResult {
        service_group: args.service_group,
        service: args.service,
        operation: args.operation,
        ..ServiceListResult::default()
    };
    match depth {
        0 => out.service_groups = Some(names_in(&answer, "ServiceGroups")?),
        1 => out.services = Some(names_in(&answer, "Services")?),
        2 => out.operations = Some(names_in(&answer, "Operations")?),
        _ => {
            let parameters = entries(&answer, "Parameters")?
                .iter()
                .map(|p| ServiceParameter {
                    name: text(p, "Name"),
                    type_name: text(p, "Type"),
                })
                .collect();
            out.parameters = Some(parameters);
            out.returns = Some(text(&answer["Return"], "Type"));
        }
    }
    Ok(out)
}

fn entries<'a>(answer: &'a Value, field: &str) -> Result<&'a Vec<Value>, WorkerError> {
    answer[field].as_array().ok_or_else(|| {
        WorkerError::BadResponse(format!("a service description without a `{field}` list"))
    })
}

fn names_in(answer: &Value, field: &str) -> Result<Vec<String>, WorkerError> {
    Ok(entries(answer, field)?
        .iter()
        .map(|entry| text(entry, "Name"))
        .collect())
}
