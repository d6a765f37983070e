//! `d365fo_query_entities`: rows of an entity set, paged.
//!
//! One call asks D365FO for `$top = limit + 1` rows from `$skip`, follows
//! `@odata.nextLink` verbatim while the server pages, and stops as soon as it
//! holds more than `limit` rows. The extra row is how the tool knows there is
//! more without a second round trip; the cursor then resumes at
//! `skip + limit`.
//!
//! Bounds keep one call finite. No more than [`Context::max_rows`] rows are
//! returned, whatever `top` asks; when that cuts the result, it says so.
//! Rows stop being added once their JSON would pass
//! [`Context::max_result_bytes`]; the result then says so and its cursor
//! resumes right after the last row returned. Paging stops with an error
//! when a next link repeats one already read, or after [`MAX_PAGES`] pages
//! (an upstream that pages empty results for ever).

use std::collections::HashSet;

use common::catalogue::data::{QueryArgs, QueryResult};
use serde_json::{Map, Value};

use super::cursor::{self, Cursor};
use super::hints;
use super::size::{json_len, too_wide};
use crate::tools::Context;
use crate::{
    d365::odata::{self, QueryOptions, data_url},
    error::WorkerError,
};

const TOOL: &str = common::catalogue::names::QUERY_ENTITIES;

/// Rows per call when `top` is not given.
const DEFAULT_TOP: usize = 100;

/// Most pages one call reads; D365FO pages hold up to 10,000 rows, so a
/// real query needs one or two.
pub const MAX_PAGES: usize = 100;

/// Runs the query.
pub async fn run(ctx: &Context<'_>, args: QueryArgs) -> Result<QueryResult, WorkerError> {
    let base = ctx.client.base_url();
    // A cursor carries the whole query; the other arguments are ignored, as
    // the catalogue tells the model.
    let plan = match &args.cursor {
        Some(text) => Cursor::decode(TOOL, text, base)?,
        None => Cursor {
            v: cursor::VERSION,
            base: cursor::base_str(base),
            entity_set: args.entity_set,
            filter: args.filter,
            select: args.select,
            expand: args.expand,
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
        expand: plan.expand.clone(),
        orderby: plan.orderby.clone(),
        top: Some(limit + 1),
        skip: Some(plan.skip),
        // Counting costs D365FO a second query; only when someone uses it.
        count: plan.count || ctx.progress.enabled(),
        cross_company: plan.cross_company,
    };
    let mut url = data_url(base, &plan.entity_set, &options);
    let mut visited = HashSet::from([normalized(&url)]);
    let mut rows: Vec<Value> = Vec::new();
    let mut bytes = 0;
    let mut total: Option<u64> = None;
    // Whether rows beyond those returned exist, and whether size cut them.
    let mut more = false;
    let mut cut_by_size = false;
    for page_number in 1.. {
        if page_number > MAX_PAGES {
            return Err(WorkerError::BadResponse(format!(
                "more than {MAX_PAGES} pages for one call ({} rows so far); paging stopped. \
                 Narrow `filter` or lower `top`",
                rows.len()
            )));
        }
        let page = ctx.client.get_json(&url, ctx.deadline).await;
        let page = page.map_err(|e| hints::unknown_set(e, &plan.entity_set))?;
        let mut page = into_object(page)?;
        if total.is_none() {
            total = page.get("@odata.count").and_then(count_of);
        }
        let Some(Value::Array(values)) = page.remove("value") else {
            return Err(WorkerError::BadResponse(
                "a query page without a `value` array".into(),
            ));
        };
        for row in values {
            if rows.len() == limit {
                more = true;
                break;
            }
            let size = json_len(&row);
            if bytes + size > ctx.max_result_bytes {
                if rows.is_empty() {
                    let expanded = !plan.expand.is_empty();
                    let budget = ctx.max_result_bytes;
                    return Err(too_wide(TOOL, "one row", size, budget, expanded));
                }
                more = true;
                cut_by_size = true;
                break;
            }
            bytes += size;
            rows.push(row);
        }
        report_progress(ctx, &plan, limit, rows.len(), total).await;
        if more {
            break;
        }
        let Some(link) = page.get("@odata.nextLink").and_then(Value::as_str) else {
            break;
        };
        url = next_link(&url, link, base)?;
        if !visited.insert(normalized(&url)) {
            return Err(WorkerError::BadResponse(
                "an @odata.nextLink that repeats a page already read; paging stopped".into(),
            ));
        }
    }
    let note = if cut_by_size {
        Some(format!(
            "the result was cut at {} rows to stay under {} bytes; pass `next_cursor` for the \
             rest, or name fewer fields in `select`",
            rows.len(),
            ctx.max_result_bytes
        ))
    } else if more && plan.top > limit {
        // The schema lets `top` reach 10,000; a model told "at most `top`
        // rows" must hear that fewer came by design, not because no more
        // exist.
        Some(format!(
            "this server returns at most {limit} rows per call, fewer than `top` {}; pass \
             `next_cursor` as `cursor` for the next rows",
            plan.top
        ))
    } else {
        None
    };
    let returned = rows.len();
    let entity_set = plan.entity_set.clone();
    let next_cursor = more.then(|| {
        Cursor {
            top: limit,
            skip: plan.skip + returned,
            ..plan
        }
        .encode()
    });
    Ok(QueryResult {
        entity_set,
        rows,
        returned,
        total_count: total,
        more,
        next_cursor,
        note,
    })
}

/// A URL in the url crate's normal form, for comparing links.
fn normalized(link: &str) -> String {
    url::Url::parse(link).map_or_else(|_| link.to_owned(), String::from)
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

/// Resolves a next link (absolute in D365FO, relative allowed by OData,
/// against the URL of the page that carried it) and refuses one that leaves
/// the environment.
fn next_link(current: &str, link: &str, base: &url::Url) -> Result<String, WorkerError> {
    let unreadable = || WorkerError::BadResponse("an unreadable @odata.nextLink".into());
    let (resolved, absolute) = match url::Url::parse(link) {
        Ok(url) => (url, true),
        Err(url::ParseError::RelativeUrlWithoutBase) => {
            let joined = url::Url::parse(current)
                .and_then(|u| u.join(link))
                .map_err(|_| unreadable())?;
            (joined, false)
        }
        Err(_) => return Err(unreadable()),
    };
    if !odata::is_within(base, resolved.as_str()) {
        return Err(WorkerError::BadResponse(format!(
            "an @odata.nextLink outside the environment ({}); not followed",
            resolved.host_str().unwrap_or("no host")
        )));
    }
    // Verbatim: the link as D365FO wrote it, when it was absolute already.
    Ok(if absolute {
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
    let log = crate::call_log::wanted("info");
    if !ctx.progress.enabled() && !log {
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
    if log {
        let line = serde_json::json!({ "message": format!("page read: {message}") });
        crate::call_log::emit("info", line);
    }
    if ctx.progress.enabled() {
        ctx.progress
            .report(done as f64, goal.map(|g| g as f64), message)
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "https://h.example/env/";
    const CURRENT: &str = "https://h.example/env/data/Urls?$top=11";

    fn resolve(link: &str) -> Result<String, WorkerError> {
        next_link(CURRENT, link, &url::Url::parse(BASE).unwrap())
    }

    #[test]
    fn next_links_absolute_and_relative() {
        let absolute = "https://h.example/env/data/Urls?$top=11&$skiptoken=p3%2Bz";
        assert_eq!(resolve(absolute).unwrap(), absolute, "kept verbatim");
        // A relative link whose query holds `://` is still relative.
        assert_eq!(
            resolve("Urls?$filter=Link%20eq%20%27http://x.example/%27&$skiptoken=1").unwrap(),
            "https://h.example/env/data/Urls?$filter=Link%20eq%20%27http://x.example/%27&$skiptoken=1"
        );
        assert_eq!(
            resolve("/env/data/Urls?$skiptoken=2").unwrap(),
            "https://h.example/env/data/Urls?$skiptoken=2"
        );
        for outside in [
            "https://evil.example/env/data/Urls?x=https://h.example/env/",
            "//evil.example/env/data/Urls",
            "http://h.example/env/data/Urls",
            "/other/Urls",
        ] {
            let e = resolve(outside).unwrap_err();
            assert!(
                e.to_string().contains("outside the environment"),
                "{outside}: {e}"
            );
        }
        assert!(resolve("https://").is_err());
    }
}
