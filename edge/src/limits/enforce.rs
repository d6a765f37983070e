//! The middleware that applies the [`Limiter`] to each JSON-RPC request, and
//! the refusals a client reads: `429` (or `503`) with `Retry-After`, and a
//! JSON-RPC error in the same shape as every other error of the edge
//! ([`crate::error::refusal`]: `data.code`, `data.retryable`,
//! `data.retryAfterSeconds`), plus `data.limit` naming the bucket.

use std::{sync::Arc, time::Duration};

use axum::{
    extract::{Request, State},
    middleware::Next,
    response::Response,
};
use common::{ErrorCode, Failure, config::limits::POLICY_KEY, store::Limit};
use serde_json::{Value, json};

use super::{Limiter, Rejection, RpcRequest, STORE_RETRY, Scope};
use crate::Principal;

/// Lets a JSON-RPC request through only within its caller's limits. Runs
/// after authentication (the [`Principal`]) and the body guard (the
/// [`RpcRequest`]); anything else passes untouched.
pub async fn enforce(
    State(limiter): State<Arc<Limiter>>,
    request: Request,
    next: Next,
) -> Response {
    if limiter.is_off() {
        return next.run(request).await;
    }
    let Some(rpc) = request.extensions().get::<RpcRequest>().cloned() else {
        return next.run(request).await;
    };
    let caller = request
        .extensions()
        .get::<Principal>()
        .cloned()
        .unwrap_or_else(Principal::anonymous);
    match limiter.check(&caller, rpc.tool.as_deref()).await {
        Ok(()) => next.run(request).await,
        Err(rejection) => refusal(&rpc.id, &rejection),
    }
}

/// Lets a stream be opened (legacy `GET /sse`) only within its caller's
/// limits: opening one costs a unit of the caller's and its tenant's
/// buckets, as a request does, so that streams cannot be opened unmetered.
pub async fn enforce_stream(
    State(limiter): State<Arc<Limiter>>,
    request: Request,
    next: Next,
) -> Response {
    if limiter.is_off() {
        return next.run(request).await;
    }
    let caller = request
        .extensions()
        .get::<Principal>()
        .cloned()
        .unwrap_or_else(Principal::anonymous);
    match limiter.check(&caller, None).await {
        Ok(()) => next.run(request).await,
        Err(rejection) => refusal(&Value::Null, &rejection),
    }
}

/// The response refusing request `id` (counted).
pub fn refusal(id: &Value, rejection: &Rejection) -> Response {
    crate::metrics::refused(crate::metrics::Refusal::RateLimit);
    let (failure, limit) = match rejection {
        Rejection::Limited {
            scope,
            limit,
            retry_after,
        } => {
            let secs = whole_seconds(*retry_after);
            let message = format!(
                "rate limit exceeded: {}; retry after {secs} s",
                describe(scope, *limit)
            );
            let failure = Failure::new(ErrorCode::RateLimited, message)
                .with_retry_after(Duration::from_secs(secs));
            (failure, scope_name(scope))
        }
        Rejection::StoreDown(error) => {
            let secs = whole_seconds(STORE_RETRY);
            let message = format!(
                "rate limits cannot be checked while the shared store is unreachable ({error}), \
                 and {POLICY_KEY} is `closed`; retry after {secs} s"
            );
            let failure = Failure::new(ErrorCode::Unavailable, message)
                .with_retry_after(Duration::from_secs(secs));
            (failure, "store")
        }
    };
    crate::error::refusal_with(&failure, id.clone(), |data| {
        data.insert("limit".into(), json!(limit));
    })
}

/// Seconds to wait, rounded up (a client told 0.2 s must not retry at 0 s)
/// and at least 1, as `Retry-After` takes whole seconds.
fn whole_seconds(wait: Duration) -> u64 {
    common::error::whole_seconds(wait).max(1)
}

fn scope_name(scope: &Scope) -> &'static str {
    match scope {
        Scope::Tool { .. } => "tool",
        Scope::Principal { .. } => "principal",
        Scope::Tenant { .. } => "tenant",
    }
}

/// Which limit, in words: "caller `erp` may call `d365fo_execute_batch` 2
/// times per second (burst 5)".
fn describe(scope: &Scope, limit: Limit) -> String {
    let (count, unit) = rate_in_words(limit.rate_per_second);
    let burst = limit.burst;
    match scope {
        Scope::Tool { tool, subject } => {
            format!("caller `{subject}` may call `{tool}` {count} times per {unit} (burst {burst})")
        }
        Scope::Principal { subject } => {
            format!("caller `{subject}` may make {count} requests per {unit} (burst {burst})")
        }
        Scope::Tenant { tenant } => {
            format!("tenant `{tenant}` may make {count} requests per {unit} (burst {burst})")
        }
    }
}

/// A rate as a count per second, minute or hour, whichever reads best.
fn rate_in_words(per_second: f64) -> (String, &'static str) {
    let (count, unit) = if per_second >= 1.0 {
        (per_second, "second")
    } else if per_second * 60.0 >= 1.0 {
        (per_second * 60.0, "minute")
    } else {
        (per_second * 3600.0, "hour")
    };
    (format!("{}", (count * 100.0).round() / 100.0), unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_round_up_to_whole_seconds() {
        assert_eq!(whole_seconds(Duration::from_millis(1)), 1);
        assert_eq!(whole_seconds(Duration::ZERO), 1);
        assert_eq!(whole_seconds(Duration::from_millis(2001)), 3);
        assert_eq!(whole_seconds(Duration::from_secs(2)), 2);
    }

    #[test]
    fn rates_read_in_a_fitting_unit() {
        assert_eq!(rate_in_words(50.0), ("50".into(), "second"));
        assert_eq!(rate_in_words(0.5), ("30".into(), "minute"));
        assert_eq!(rate_in_words(0.1), ("6".into(), "minute"));
        assert_eq!(rate_in_words(0.001), ("3.6".into(), "hour"));
    }
}
