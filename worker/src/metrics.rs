//! The worker's share of the node's Prometheus families
//! (`common::metrics`): the label values it writes, in one place, and
//! [`init`], which puts every series known in advance at zero when a worker
//! starts, so that dashboards and alerts read 0 rather than "absent".
//!
//! Every label value is bounded: environments come from the configuration,
//! tools from the catalogue ([`OTHER`] otherwise), tenants from the keys
//! file (through the edge's signed assertion; empty when a call names
//! none), and methods, statuses, reasons and results from the code. No
//! record key, principal, session id, URL or entity set is ever a label.

use std::time::Duration;

use common::{
    ErrorCode, catalogue,
    config::WorkerConfig,
    metrics::{self, OTHER},
};
use reqwest::Method;

use crate::{cache::Kind, error::WorkerError};

/// `reason` of `d365mcp_upstream_retries_total`: what a request was sent
/// again after (see [`retry_reason`]).
pub const RETRY_REASONS: [&str; 5] = ["throttled", "unavailable", "timeout", "connection", "auth"];

/// `layer` of the cache families.
pub const CACHE_LAYERS: [&str; 2] = ["l1", "l2"];

/// What became of one HTTP request to D365FO: the `status` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// Nothing left this worker (no token, the deadline had passed, the
    /// breaker refused): not counted as a request.
    NotSent,
    /// D365FO (or a gateway in front of it) answered with this status.
    Answered(u16),
    /// No answer within the request's timeout.
    Timeout,
    /// No answer for any other reason: no connection, a reset.
    Connection,
}

impl Sent {
    /// The request's `status` label; `None` when nothing was sent.
    fn label(self) -> Option<String> {
        match self {
            Self::NotSent => None,
            Self::Answered(status) => Some(status.to_string()),
            Self::Timeout => Some("timeout".into()),
            Self::Connection => Some("connection".into()),
        }
    }
}

/// A keyed or claimed write's fate: the `result` label of
/// `d365mcp_write_claims_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteClaim {
    /// A write's request id was claimed: it goes to D365FO, once
    /// (`d365::write_once`).
    Claimed,
    /// A client's resend of a keyed write was answered from its first
    /// attempt's record: its result, or its outcome unknown (`replay`).
    Replayed,
    /// A resend arrived while the first attempt still ran ("still
    /// running", retryable).
    InProgress,
    /// A request id already claimed (the edge failed over after the write
    /// left), or an idempotency key reused for other arguments: refused,
    /// never sent again.
    Conflict,
    /// No claim could be made or read (no usable request id, the store
    /// unreachable, an unreadable record, too many keyed writes running):
    /// refused before anything was sent.
    Refused,
}

impl WriteClaim {
    /// Every result, for [`init`].
    pub const ALL: [Self; 5] = [
        Self::Claimed,
        Self::Replayed,
        Self::InProgress,
        Self::Conflict,
        Self::Refused,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Claimed => "claimed",
            Self::Replayed => "replayed",
            Self::InProgress => "in_progress",
            Self::Conflict => "conflict",
            Self::Refused => "refused",
        }
    }
}

/// A circuit breaker's state: the `to` label of
/// `d365mcp_breaker_transitions_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Sending.
    Closed,
    /// Refusing every call until its time is up.
    Open,
    /// Its time is up: one probe may go, the others are refused.
    HalfOpen,
}

impl BreakerState {
    /// Every state, for [`init`].
    pub const ALL: [Self; 3] = [Self::Closed, Self::Open, Self::HalfOpen];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }
}

/// Puts at zero every series whose labels are known when a worker starts:
/// per configured environment its throttling, retries (per reason),
/// unknown outcomes and breaker (gauge and transitions per state), and the
/// write claims, the cache (per kind, layer and result) and the store's
/// gauge. Adding 0 creates a series without changing one that exists, so
/// a second worker in the process (tests, `dev`) keeps the first's counts.
pub fn init(config: &WorkerConfig) {
    let m = metrics::get();
    let u = &m.upstream;
    for env in config.environments.iter().map(|e| e.name.as_str()) {
        u.throttled.with_label_values(&[env]).inc_by(0);
        u.throttle_windows.with_label_values(&[env]).inc_by(0);
        u.throttle_window_open.with_label_values(&[env]).add(0);
        for reason in RETRY_REASONS {
            u.retries.with_label_values(&[env, reason]).inc_by(0);
        }
        u.outcome_unknown.with_label_values(&[env]).inc_by(0);
        u.breaker_open.with_label_values(&[env]).add(0);
        for to in BreakerState::ALL {
            u.breaker_transitions
                .with_label_values(&[env, to.as_str()])
                .inc_by(0);
        }
    }
    for result in WriteClaim::ALL {
        u.write_claims
            .with_label_values(&[result.as_str()])
            .inc_by(0);
    }
    let c = &m.cache;
    for kind in Kind::ALL.map(Kind::as_str) {
        c.fills.with_label_values(&[kind]).inc_by(0);
        for layer in CACHE_LAYERS {
            c.evictions.with_label_values(&[kind, layer]).inc_by(0);
            for result in ["hit", "miss"] {
                c.requests
                    .with_label_values(&[kind, layer, result])
                    .inc_by(0);
            }
        }
    }
    // The gauge exists from the start; the store's first answer sets it.
    m.store
        .up
        .with_label_values(&[common::store::REGIONAL])
        .add(0);
}

/// One finished tool call: `tool` as called (outside the catalogue it is
/// [`OTHER`]), `tenant` as the call carries it, `environment` as resolved
/// ([`OTHER`] when it named none configured), `error_type` empty on
/// success, else the error code's name.
pub fn tool_call(tool: &str, tenant: &str, environment: &str, error_type: &str, elapsed: Duration) {
    let tool = catalogue::find(tool).map_or(OTHER, |spec| spec.name);
    let t = &metrics::get().tools;
    t.calls
        .with_label_values(&[tool, tenant, environment, error_type])
        .inc();
    t.duration
        .with_label_values(&[tool, environment])
        .observe(elapsed.as_secs_f64());
    if error_type == ErrorCode::OutcomeUnknown.as_str() {
        metrics::get()
            .upstream
            .outcome_unknown
            .with_label_values(&[environment])
            .inc();
    }
}

/// One HTTP request to D365FO that left this worker (nothing is counted
/// for [`Sent::NotSent`]); a 429 also counts as throttled.
pub fn upstream_request(environment: &str, method: &Method, sent: Sent, elapsed: Duration) {
    let Some(status) = sent.label() else {
        return;
    };
    let u = &metrics::get().upstream;
    let method = method_label(method);
    u.requests
        .with_label_values(&[environment, method, &status])
        .inc();
    u.duration
        .with_label_values(&[environment, method])
        .observe(elapsed.as_secs_f64());
    if sent == Sent::Answered(429) {
        u.throttled.with_label_values(&[environment]).inc();
    }
}

/// The methods the client sends; anything else (none today) is [`OTHER`].
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PATCH => "PATCH",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        _ => OTHER,
    }
}

/// Why a request is sent again after `error`, its last attempt having
/// ended as `sent`: `throttled` (a 429, or the shared window), `timeout` /
/// `connection` (no answer), `auth` (credentials refused), else
/// `unavailable` (a 5xx, a gateway's page).
pub fn retry_reason(error: &WorkerError, sent: Sent) -> &'static str {
    match (error, sent) {
        (WorkerError::Throttled { .. }, _) => "throttled",
        (WorkerError::UpstreamAuth { .. } | WorkerError::Token(_), _) => "auth",
        (_, Sent::Timeout) | (WorkerError::DeadlineExceeded(_), _) => "timeout",
        (_, Sent::Connection) => "connection",
        _ => "unavailable",
    }
}

/// A request to `environment` is sent again, after `reason`.
pub fn retry(environment: &str, reason: &'static str) {
    metrics::get()
        .upstream
        .retries
        .with_label_values(&[environment, reason])
        .inc();
}

/// A write claim's (or a keyed resend's) fate.
pub fn write_claim(result: WriteClaim) {
    metrics::get()
        .upstream
        .write_claims
        .with_label_values(&[result.as_str()])
        .inc();
}

/// A throttle window of `environment` opened, or was learnt of from the
/// store or another worker: counted, and the gauge set.
pub fn throttle_window_opened(environment: &str) {
    let u = &metrics::get().upstream;
    u.throttle_windows.with_label_values(&[environment]).inc();
    u.throttle_window_open
        .with_label_values(&[environment])
        .set(1);
}

/// The throttle window of `environment` ended.
pub fn throttle_window_ended(environment: &str) {
    metrics::get()
        .upstream
        .throttle_window_open
        .with_label_values(&[environment])
        .set(0);
}

/// `environment`'s breaker went to `to`; its gauge is 1 unless closed
/// (half-open refuses every call but the probe).
pub fn breaker_transition(environment: &str, to: BreakerState) {
    let u = &metrics::get().upstream;
    u.breaker_transitions
        .with_label_values(&[environment, to.as_str()])
        .inc();
    u.breaker_open
        .with_label_values(&[environment])
        .set(i64::from(to != BreakerState::Closed));
}

/// A cache lookup of `kind` at `layer` (`l1` or `l2`).
pub fn cache_request(kind: Kind, layer: &'static str, hit: bool) {
    let result = if hit { "hit" } else { "miss" };
    metrics::get()
        .cache
        .requests
        .with_label_values(&[kind.as_str(), layer, result])
        .inc();
}

/// A value of `kind` fetched from D365FO and kept.
pub fn cache_fill(kind: Kind) {
    metrics::get()
        .cache
        .fills
        .with_label_values(&[kind.as_str()])
        .inc();
}

/// A value of `kind` evicted from `layer`.
pub fn cache_eviction(kind: Kind, layer: &'static str) {
    metrics::get()
        .cache
        .evictions
        .with_label_values(&[kind.as_str(), layer])
        .inc();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_are_told_apart_by_what_the_last_attempt_saw() {
        let unavailable = WorkerError::Unavailable("x".into());
        let throttled = WorkerError::Throttled { retry_after: None };
        assert_eq!(retry_reason(&throttled, Sent::Answered(429)), "throttled");
        assert_eq!(retry_reason(&throttled, Sent::NotSent), "throttled");
        assert_eq!(
            retry_reason(&unavailable, Sent::Answered(503)),
            "unavailable"
        );
        assert_eq!(retry_reason(&unavailable, Sent::Connection), "connection");
        assert_eq!(retry_reason(&unavailable, Sent::Timeout), "timeout");
        for reason in [
            retry_reason(&throttled, Sent::NotSent),
            retry_reason(&unavailable, Sent::Timeout),
        ] {
            assert!(RETRY_REASONS.contains(&reason));
        }
    }

    #[test]
    fn statuses_and_methods_are_bounded() {
        assert_eq!(Sent::Answered(429).label().as_deref(), Some("429"));
        assert_eq!(Sent::NotSent.label(), None);
        assert_eq!(method_label(&Method::PATCH), "PATCH");
        assert_eq!(method_label(&Method::from_bytes(b"BREW").unwrap()), OTHER);
    }
}
