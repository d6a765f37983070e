//! `d365fo_query_entities`: rows of an entity set, paged.
//!
//! One call asks D365FO for `$top = limit + 1` rows from `$skip`, follows
//! `@odata.nextLink` verbatim while the server pages, and stops as soon as it
//! holds more than `limit` rows. The extra row is how the tool knows there is
//! more without a second round trip; the cursor then resumes at
//! `skip + limit`.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{Context, args::de, check_environment, cursor::Cursor};
use crate::{
    d365::odata::{self, QueryOptions, data_url},
    error::WorkerError,
};

const TOOL: &str = common::catalogue::names::QUERY_ENTITIES;

/// Rows per call when `top` is not given.
const DEFAULT_TOP: usize = 100;

/// Arguments, as the catalogue defines them.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryArgs {
    #[serde(deserialize_with = "de::entity_set")]
    entity_set: String,
    #[serde(default, deserialize_with = "de::filter")]
    filter: Option<String>,
    #[serde(default, deserialize_with = "de::select")]
    select: Vec<String>,
    #[serde(default, deserialize_with = "de::orderby")]
    orderby: Option<String>,
    #[serde(default, deserialize_with = "de::top")]
    top: Option<usize>,
    #[serde(default, deserialize_with = "de::count")]
    count: bool,
    #[serde(default, deserialize_with = "de::cross_company")]
    cross_company: bool,
    #[serde(default, deserialize_with = "de::cursor")]
    cursor: Option<String>,
    #[serde(default, deserialize_with = "de::environment")]
    environment: Option<String>,
}

/// Runs the query.
pub async fn run(ctx: &Context<'_>, args: QueryArgs) -> Result<Value, WorkerError> {
    check_environment(ctx, TOOL, args.environment.as_deref())?;
    let base = ctx.client.base_url();
    // A cursor carries the whole query; the other arguments are ignored, as
    // the catalogue tells the model.
    let plan = match &args.cursor {
        Some(text) => Cursor::decode(TOOL, text, base)?,
        None => Cursor {
            v: super::cursor::VERSION,
            base: super::cursor::base_str(base),
            entity_set: args.entity_set,
            filter: args.filter,
            select: args.select,
            orderby: args.orderby,
            count: args.count,
            cross_company: args.cross_company,
            top: args.top.unwrap_or(DEFAULT_TOP),
            skip: 0,
        },
    };
    let limit = plan.top.min(ctx.max_rows).max(1);
    let options = QueryOptions {
        filter: plan.filter.clone(),
        select: plan.select.clone(),
        orderby: plan.orderby.clone(),
        top: Some(limit + 1),
        skip: Some(plan.skip),
        // Counting costs D365FO a second query; only when someone uses it.
        count: plan.count || ctx.progress.enabled(),
        cross_company: plan.cross_company,
    };
    let mut url = data_url(base, &plan.entity_set, &options);
    let mut rows: Vec<Value> = Vec::new();
    let mut total: Option<u64> = None;
    loop {
        let mut page = into_object(ctx.client.get_json(&url, ctx.deadline).await?)?;
        if total.is_none() {
            total = page.get("@odata.count").and_then(count_of);
        }
        match page.remove("value") {
            Some(Value::Array(values)) => rows.extend(values),
            _ => {
                return Err(WorkerError::BadResponse(
                    "a query page without a `value` array".into(),
                ));
            }
        }
        report_progress(ctx, &plan, limit, rows.len(), total).await;
        if rows.len() > limit {
            break;
        }
        match page.get("@odata.nextLink").and_then(Value::as_str) {
            Some(link) => url = next_link(&url, link, base)?,
            None => break,
        }
    }
    let more = rows.len() > limit;
    rows.truncate(limit);
    let mut result = json!({
        "entity_set": &plan.entity_set,
        "returned": rows.len(),
        "more": more,
    });
    if let Some(total) = total {
        result["total_count"] = json!(total);
    }
    if more {
        let next = Cursor {
            top: limit,
            skip: plan.skip + limit,
            ..plan
        };
        result["next_cursor"] = json!(next.encode());
    }
    result["rows"] = Value::Array(rows);
    Ok(result)
}

fn into_object(value: Value) -> Result<Map<String, Value>, WorkerError> {
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(WorkerError::BadResponse(
            "a query page that is not a JSON object".into(),
        )),
    }
}

/// `@odata.count` is a number, or a string under `IEEE754Compatible=true`.
fn count_of(value: &Value) -> Option<u64> {
    value
        .as_u64()
        .or_else(|| value.as_str().and_then(|s| s.parse().ok()))
}

/// Resolves a next link (absolute in D365FO, relative allowed by OData)
/// and refuses one that leaves the environment.
fn next_link(current: &str, link: &str, base: &url::Url) -> Result<String, WorkerError> {
    let resolved = url::Url::parse(current)
        .and_then(|u| u.join(link))
        .map_err(|_| WorkerError::BadResponse("an unreadable @odata.nextLink".into()))?;
    if !odata::is_within(base, resolved.as_str()) {
        return Err(WorkerError::BadResponse(format!(
            "an @odata.nextLink outside the environment ({}); not followed",
            resolved.host_str().unwrap_or("no host")
        )));
    }
    // Verbatim: the link as D365FO wrote it, when it was absolute already.
    Ok(if link.contains("://") {
        link.to_owned()
    } else {
        resolved.into()
    })
}

async fn report_progress(
    ctx: &Context<'_>,
    plan: &Cursor,
    limit: usize,
    read: usize,
    total: Option<u64>,
) {
    if !ctx.progress.enabled() {
        return;
    }
    let done = read.min(limit);
    let goal = total.map(|t| {
        let remaining = usize::try_from(t)
            .unwrap_or(usize::MAX)
            .saturating_sub(plan.skip);
        remaining.min(limit)
    });
    let message = match total {
        Some(t) => format!("read {done} of {t} rows from {}", plan.entity_set),
        None => format!("read {done} rows from {}", plan.entity_set),
    };
    ctx.progress
        .report(done as f64, goal.map(|g| g as f64), message)
        .await;
}
