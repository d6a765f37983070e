//! When to send a request again, and the call's deadline.
//!
//! The policy is keyed on idempotency. Throttling (429) waits as long as
//! D365FO asks, for reads and writes alike: D365FO's service protection
//! refuses the request before any of it runs, so sending a write again
//! cannot apply it twice. Transient failures (connection errors, 5xx) back
//! off briefly, but only for requests that may be repeated without a second
//! effect: after a write, such a failure leaves its outcome unknown.
//! No wait may cross the call's deadline: when it would, the error is
//! returned as is, so the caller learns why instead of timing out.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use crate::error::WorkerError;

/// Whether repeating a request could apply its effect twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idempotency {
    /// Reads, and actions that only read: safe to send again.
    Idempotent,
    /// Writes: sent again only after a 429, which D365FO answers before
    /// doing anything.
    NonIdempotent,
}

/// Now, in Unix epoch milliseconds: the clock the cluster's shared records
/// (deadlines, throttle windows, write claims) are written in.
pub fn unix_now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// An absolute deadline for a call, or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Deadline(Option<Instant>);

impl Deadline {
    /// No deadline.
    pub const NONE: Self = Self(None);

    /// From the contract's Unix epoch milliseconds (`0` = none).
    pub fn from_unix_ms(ms: u64) -> Self {
        if ms == 0 {
            return Self::NONE;
        }
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        let left = u128::from(ms).saturating_sub(now_ms);
        let left = Duration::from_millis(u64::try_from(left).unwrap_or(u64::MAX));
        Self(Instant::now().checked_add(left))
    }

    /// `after` from now.
    pub fn after(after: Duration) -> Self {
        Self(Instant::now().checked_add(after))
    }

    /// The instant, when there is one.
    pub fn instant(self) -> Option<Instant> {
        self.0
    }

    /// Time left; `None` when there is no deadline.
    pub fn remaining(self) -> Option<Duration> {
        self.0
            .map(|at| at.saturating_duration_since(Instant::now()))
    }

    /// Whether the deadline has passed.
    pub fn is_past(self) -> bool {
        self.remaining().is_some_and(|left| left.is_zero())
    }

    /// The same deadline moved `by` earlier (none stays none).
    pub fn earlier_by(self, by: Duration) -> Self {
        Self(self.0.map(|at| at.checked_sub(by).unwrap_or(at)))
    }

    /// Whether waiting `wait` still leaves time before the deadline.
    pub fn allows(self, wait: Duration) -> bool {
        self.remaining().is_none_or(|left| wait < left)
    }
}

/// How many times, and how long, to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after a 429.
    pub max_throttle_retries: u32,
    /// Retries after a connection error or a 5xx.
    pub max_transient_retries: u32,
    /// First backoff after a transient failure; doubles each time.
    pub backoff: Duration,
    /// Wait after a 429 without `Retry-After`.
    pub default_retry_after: Duration,
    /// Longest single wait honoured; a longer `Retry-After` is reported, not slept.
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_throttle_retries: 3,
            max_transient_retries: 2,
            backoff: Duration::from_millis(200),
            default_retry_after: Duration::from_secs(1),
            max_wait: Duration::from_secs(60),
        }
    }
}

/// Retries made so far in one request.
#[derive(Debug, Clone, Copy, Default)]
pub struct Attempts {
    throttled: u32,
    transient: u32,
}

impl RetryPolicy {
    /// How long to wait before sending again after `error`, or `None` to give up.
    pub fn next_wait(
        &self,
        idempotency: Idempotency,
        attempts: &mut Attempts,
        error: &WorkerError,
        deadline: Deadline,
    ) -> Option<Duration> {
        let wait = match error {
            WorkerError::Throttled { retry_after } => {
                if attempts.throttled >= self.max_throttle_retries {
                    return None;
                }
                attempts.throttled += 1;
                retry_after.unwrap_or(self.default_retry_after)
            }
            WorkerError::Unavailable(_) if idempotency == Idempotency::Idempotent => {
                if attempts.transient >= self.max_transient_retries {
                    return None;
                }
                attempts.transient += 1;
                self.backoff * 2u32.saturating_pow(attempts.transient - 1)
            }
            _ => return None,
        };
        (wait <= self.max_wait && deadline.allows(wait)).then_some(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttled(secs: u64) -> WorkerError {
        WorkerError::Throttled {
            retry_after: Some(Duration::from_secs(secs)),
        }
    }

    #[test]
    fn throttling_is_retried_three_times_for_reads_and_writes() {
        let policy = RetryPolicy::default();
        let mut attempts = Attempts::default();
        for _ in 0..3 {
            let wait = policy.next_wait(
                Idempotency::Idempotent,
                &mut attempts,
                &throttled(2),
                Deadline::NONE,
            );
            assert_eq!(wait, Some(Duration::from_secs(2)));
        }
        let wait = policy.next_wait(
            Idempotency::Idempotent,
            &mut attempts,
            &throttled(2),
            Deadline::NONE,
        );
        assert_eq!(wait, None);
        // A 429 means D365FO did nothing, so a write may be sent again.
        let wait = policy.next_wait(
            Idempotency::NonIdempotent,
            &mut Attempts::default(),
            &throttled(1),
            Deadline::NONE,
        );
        assert_eq!(wait, Some(Duration::from_secs(1)));
    }

    #[test]
    fn writes_are_never_retried_after_anything_else() {
        let policy = RetryPolicy::default();
        for error in [
            WorkerError::Unavailable("reset".into()),
            WorkerError::OutcomeUnknown("timed out".into()),
            WorkerError::DeadlineExceeded("late".into()),
            WorkerError::BadResponse("not json".into()),
        ] {
            let wait = policy.next_wait(
                Idempotency::NonIdempotent,
                &mut Attempts::default(),
                &error,
                Deadline::NONE,
            );
            assert_eq!(wait, None, "{error}");
        }
    }

    #[test]
    fn waits_never_cross_the_deadline() {
        let policy = RetryPolicy::default();
        let deadline = Deadline::after(Duration::from_millis(500));
        let wait = policy.next_wait(
            Idempotency::Idempotent,
            &mut Attempts::default(),
            &throttled(1),
            deadline,
        );
        assert_eq!(wait, None);
        let wait = policy.next_wait(
            Idempotency::Idempotent,
            &mut Attempts::default(),
            &throttled(3600),
            Deadline::NONE,
        );
        assert_eq!(wait, None, "an hour's Retry-After is reported, not slept");
    }

    #[test]
    fn transient_failures_back_off_twice() {
        let policy = RetryPolicy::default();
        let mut attempts = Attempts::default();
        let err = WorkerError::Unavailable("reset".into());
        let waits: Vec<_> = (0..3)
            .map(|_| policy.next_wait(Idempotency::Idempotent, &mut attempts, &err, Deadline::NONE))
            .collect();
        assert_eq!(
            waits,
            [
                Some(Duration::from_millis(200)),
                Some(Duration::from_millis(400)),
                None
            ]
        );
        let bad = WorkerError::BadResponse("not json".into());
        assert_eq!(
            policy.next_wait(
                Idempotency::Idempotent,
                &mut Attempts::default(),
                &bad,
                Deadline::NONE
            ),
            None
        );
    }

    #[test]
    fn deadlines_from_unix_ms() {
        assert_eq!(Deadline::from_unix_ms(0), Deadline::NONE);
        assert!(Deadline::from_unix_ms(1).is_past());
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let d = Deadline::from_unix_ms(now + 10_000);
        assert!(!d.is_past());
        assert!(d.remaining().unwrap() > Duration::from_secs(5));
        // Far beyond what Instant can hold: no panic, no deadline.
        let _ = Deadline::from_unix_ms(u64::MAX);
    }
}
