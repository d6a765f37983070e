//! What the breaker learns and tells: the health an exchange shows
//! ([`Health`]), the counters a worker's statistics show
//! ([`BreakerCounters`]), the state its metrics show ([`Reported`]), and
//! the refusal a caller reads.

use std::{
    sync::atomic::{AtomicU8, AtomicU64, Ordering},
    time::Duration,
};

use common::error::whole_seconds;
use serde_json::{Value, json};

use super::{Open, state::View};
use crate::metrics::BreakerState;

/// What one exchange with D365FO says about the environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// It answered (2xx, 4xx, 429): it is up.
    Answered,
    /// It failed as an unhealthy environment does: no connection, its
    /// whole timeout, a reset, a 500/502/503/504.
    Failed,
    /// Nothing to learn: nothing was sent, or the caller cut it short.
    Unknown,
}

impl Health {
    /// What an HTTP status says.
    pub fn of_status(status: u16) -> Self {
        match status {
            500 | 502 | 503 | 504 => Self::Failed,
            _ => Self::Answered,
        }
    }

    /// What a request that got no (whole) answer says; `cut_short` when
    /// its timeout was the caller's deadline rather than the request
    /// timeout, which is no sign of ill health.
    pub fn of_transport(error: &reqwest::Error, cut_short: bool) -> Self {
        if error.is_builder() || (error.is_timeout() && cut_short) {
            Self::Unknown
        } else {
            Self::Failed
        }
    }
}

/// The state a breaker last reported to the metrics
/// (`d365mcp_breaker_open`, `d365mcp_breaker_transitions_total`).
///
/// Reported whenever the view changes, and on every admission, which is
/// when an open breaker is seen to have become half-open: the state is a
/// function of the view and the clock, so that move has no event of its
/// own.
#[derive(Debug, Default)]
pub(super) struct Reported(AtomicU8);

impl Reported {
    /// Reports the state `view` shows now to `environment`'s metrics, when
    /// it is not the state reported last. Called with the view locked, so
    /// reports follow the view's order.
    pub(super) fn report(&self, environment: &str, view: &View, now_ms: u64) {
        let state = match view.open {
            None => BreakerState::Closed,
            Some(open) if open.left(now_ms).is_some() => BreakerState::Open,
            Some(_) => BreakerState::HalfOpen,
        };
        let code = match state {
            BreakerState::Closed => 0,
            BreakerState::Open => 1,
            BreakerState::HalfOpen => 2,
        };
        if self.0.swap(code, Ordering::Relaxed) != code {
            crate::metrics::breaker_transition(environment, state);
        }
    }
}

/// A worker's breaker counters, for its statistics.
#[derive(Debug, Default)]
pub struct BreakerCounters {
    pub(super) opened: AtomicU64,
    pub(super) refused: AtomicU64,
    pub(super) probes: AtomicU64,
    pub(super) closed: AtomicU64,
}

impl BreakerCounters {
    /// The counters as JSON: breakers this worker opened (reopens after a
    /// failed probe included), calls refused, probes sent, breakers closed.
    pub fn snapshot(&self) -> Value {
        let n = |c: &AtomicU64| c.load(Ordering::Relaxed);
        json!({
            "opened": n(&self.opened),
            "refused": n(&self.refused),
            "probes": n(&self.probes),
            "closed": n(&self.closed),
        })
    }

    /// Back to zero.
    pub fn reset(&self) {
        for c in [&self.opened, &self.refused, &self.probes, &self.closed] {
            c.store(0, Ordering::Relaxed);
        }
    }

    pub(super) fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// The message of a call refused while `open`: what is failing and why,
/// that nothing was sent, and when to retry (`left`, while a probe runs
/// when `probing`).
pub fn refusal(base_url: &str, open: &Open, left: Duration, probing: bool) -> String {
    let mut why = format!(
        "{} errors in {}",
        open.failures,
        describe_ms(open.window_ms)
    );
    if open.probes_failed > 0 {
        let plural = if open.probes_failed == 1 { "" } else { "s" };
        why.push_str(&format!(
            ", then {} failed probe{plural}",
            open.probes_failed
        ));
    }
    let secs = whole_seconds(left);
    let what = if probing {
        format!(
            "one probe request is checking whether it has recovered, so this call was not sent \
             and changed nothing. Retry in {secs} s."
        )
    } else {
        format!(
            "not sending to it for {secs} s, so this call was not sent and changed nothing. Retry \
             then."
        )
    };
    format!("D365FO environment {base_url} is failing ({why}); {what}")
}

/// `10000` → `10 s`, `250` → `250 ms`.
fn describe_ms(ms: u64) -> String {
    if ms.is_multiple_of(1000) {
        format!("{} s", ms / 1000)
    } else {
        format!("{ms} ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_signs_of_ill_health_count() {
        for status in [500, 502, 503, 504] {
            assert_eq!(Health::of_status(status), Health::Failed, "{status}");
        }
        for status in [200, 204, 400, 401, 404, 409, 412, 429, 501] {
            assert_eq!(Health::of_status(status), Health::Answered, "{status}");
        }
    }

    #[test]
    fn refusals_say_why_and_when() {
        let open = Open {
            until_ms: 1,
            open_ms: 5_000,
            failures: 12,
            window_ms: 250,
            probes_failed: 2,
        };
        let message = refusal("https://x", &open, Duration::from_millis(3_200), false);
        assert_eq!(
            message,
            "D365FO environment https://x is failing (12 errors in 250 ms, then 2 failed probes); \
             not sending to it for 4 s, so this call was not sent and changed nothing. Retry then."
        );
        let probing = refusal("https://x", &open, Duration::from_secs(1), true);
        assert!(probing.ends_with("Retry in 1 s."), "{probing}");
    }
}
