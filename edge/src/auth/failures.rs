//! Failed authentication, throttled per client address.
//!
//! Each address (an IPv6 address by its /64, which one host usually owns
//! whole) may fail [`FailureLimit::max`] times in a window started by its
//! first failure; after that every request from it is refused with 429 and
//! `Retry-After` until the window ends — before its key is checked, so that
//! guessing learns nothing more, not even from a right guess. A success
//! does not reset the window: a guesser holding one valid key gains nothing.
//!
//! Bounded: at most [`MAX_CLIENTS`] addresses are followed (expired windows
//! are dropped first; beyond that a new address is not followed), and at
//! most [`LOG_LINES`] warn lines are written per [`LOG_PERIOD`], each naming
//! the address and at most a short prefix of the key, with the count of the
//! lines left out before it.
//!
//! The address is the TCP peer's: behind a proxy every client shares the
//! proxy's address (see README, *API keys*).

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant},
};

use common::config::FailureLimit;
use parking_lot::Mutex;

/// Most client addresses followed at once.
pub const MAX_CLIENTS: usize = 65_536;
/// Most warn lines per [`LOG_PERIOD`].
pub const LOG_LINES: u32 = 10;
/// The period of [`LOG_LINES`].
pub const LOG_PERIOD: Duration = Duration::from_secs(10);

/// One address's failures in its current window.
#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    failures: u32,
}

/// The warn lines written in the current period, and those left out.
#[derive(Debug)]
struct LogBudget {
    started: Instant,
    written: u32,
    suppressed: u64,
}

/// The failed authentications of one edge.
pub struct Failures {
    limit: FailureLimit,
    clients: Mutex<HashMap<IpAddr, Window>>,
    log: Mutex<LogBudget>,
    failed: AtomicU64,
    refused: AtomicU64,
}

/// What [`Failures`] has counted since start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    /// Requests whose credential was wrong.
    pub failed: u64,
    /// Requests refused because their address had failed too often.
    pub refused: u64,
}

impl Failures {
    pub fn new(limit: FailureLimit) -> Self {
        Self {
            limit,
            clients: Mutex::new(HashMap::new()),
            log: Mutex::new(LogBudget {
                started: Instant::now(),
                written: 0,
                suppressed: 0,
            }),
            failed: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        }
    }

    /// The counters.
    pub fn counts(&self) -> Counts {
        Counts {
            failed: self.failed.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
        }
    }

    /// How long `client` must wait when it has failed too often in its
    /// window (the request is then counted as refused); `None` to go on.
    pub fn wait(&self, client: Option<IpAddr>, now: Instant) -> Option<Duration> {
        let client = bucket(client?);
        if self.limit.is_off() {
            return None;
        }
        let clients = self.clients.lock();
        let window = clients.get(&client)?;
        let ends = window.started + self.limit.window;
        if window.failures < self.limit.max || now >= ends {
            return None;
        }
        drop(clients);
        self.refused.fetch_add(1, Ordering::Relaxed);
        Some(ends - now)
    }

    /// Counts a failed authentication from `client`, which presented
    /// `key_hint` (already cut short) and was refused for `reason`.
    pub fn failed(&self, client: Option<IpAddr>, key_hint: &str, reason: &str, now: Instant) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        let failures = client.map_or(0, |c| self.count(bucket(c), now));
        // The first failure of a window, and the one that closes it, are
        // worth a line; the ones between only a count.
        let worth_a_line = failures <= 1 || failures == self.limit.max;
        if !worth_a_line {
            return;
        }
        let Some(suppressed) = self.may_log(now) else {
            return;
        };
        let client = client.map_or_else(|| "unknown".to_owned(), |c| c.to_string());
        let closed = failures >= self.limit.max && !self.limit.is_off();
        tracing::warn!(
            client = %client,
            key = %key_hint,
            failures,
            suppressed,
            "authentication failed: {reason}{}",
            if closed {
                "; this address is refused until its window ends"
            } else {
                ""
            }
        );
    }

    /// The failures of `client`'s window, this one included.
    fn count(&self, client: IpAddr, now: Instant) -> u32 {
        let mut clients = self.clients.lock();
        if !clients.contains_key(&client) && clients.len() >= MAX_CLIENTS {
            let window = self.limit.window;
            clients.retain(|_, w| now < w.started + window);
            if clients.len() >= MAX_CLIENTS {
                return 0;
            }
        }
        let window = clients.entry(client).or_insert(Window {
            started: now,
            failures: 0,
        });
        if now >= window.started + self.limit.window {
            *window = Window {
                started: now,
                failures: 0,
            };
        }
        window.failures = window.failures.saturating_add(1);
        window.failures
    }

    /// Whether a line may be written now, and how many were left out
    /// since the last one.
    fn may_log(&self, now: Instant) -> Option<u64> {
        let mut budget = self.log.lock();
        if now >= budget.started + LOG_PERIOD {
            budget.started = now;
            budget.written = 0;
        }
        if budget.written >= LOG_LINES {
            budget.suppressed += 1;
            return None;
        }
        budget.written += 1;
        Some(std::mem::take(&mut budget.suppressed))
    }
}

/// The address counted for `ip`: an IPv6 address by its /64 (one host
/// usually owns the whole /64, so counting each address would let it
/// choose a fresh one for every guess); an IPv4-mapped one as IPv4.
fn bucket(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                IpAddr::V6(segments.into())
            }
        },
    }
}

/// At most a short prefix of a presented key, for a log line: four
/// printable characters of a key of at least 16 (a longer prefix, or one of
/// a short key, would give away too much of a near miss), and its length.
pub fn key_hint(presented: &str) -> String {
    let length = presented.chars().count();
    if length < 16 {
        return format!("({length} chars)");
    }
    let prefix: String = presented
        .chars()
        .take(4)
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .collect();
    format!("{prefix}… ({length} chars)")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(max: u32) -> FailureLimit {
        FailureLimit {
            max,
            window: Duration::from_secs(60),
        }
    }

    #[test]
    fn an_address_is_refused_after_its_failures_until_the_window_ends() {
        let failures = Failures::new(limit(3));
        let (me, other): (IpAddr, IpAddr) =
            ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(failures.wait(Some(me), t0), None);
            failures.failed(Some(me), "x", "wrong", t0);
        }
        let later = t0 + Duration::from_secs(20);
        assert_eq!(
            failures.wait(Some(me), later),
            Some(Duration::from_secs(40))
        );
        assert_eq!(failures.wait(Some(other), later), None, "per address");
        assert_eq!(failures.wait(None, later), None, "no address, no throttle");
        assert_eq!(failures.wait(Some(me), t0 + Duration::from_secs(60)), None);
        assert_eq!(
            failures.counts(),
            Counts {
                failed: 3,
                refused: 1
            }
        );
    }

    #[test]
    fn a_new_window_starts_after_the_last_one_ends() {
        let failures = Failures::new(limit(2));
        let me: IpAddr = "10.0.0.1".parse().unwrap();
        let t0 = Instant::now();
        failures.failed(Some(me), "x", "wrong", t0);
        let t1 = t0 + Duration::from_secs(61);
        failures.failed(Some(me), "x", "wrong", t1);
        assert_eq!(
            failures.wait(Some(me), t1),
            None,
            "one failure in this window"
        );
        failures.failed(Some(me), "x", "wrong", t1);
        assert!(failures.wait(Some(me), t1).is_some());
    }

    #[test]
    fn off_never_refuses_but_still_counts() {
        let failures = Failures::new(limit(0));
        let me: IpAddr = "10.0.0.1".parse().unwrap();
        let now = Instant::now();
        for _ in 0..100 {
            failures.failed(Some(me), "x", "wrong", now);
        }
        assert_eq!(failures.wait(Some(me), now), None);
        assert_eq!(failures.counts().failed, 100);
    }

    #[test]
    fn ipv6_hosts_count_by_their_slash_64() {
        let failures = Failures::new(limit(2));
        let now = Instant::now();
        failures.failed(Some("2001:db8:1:2::1".parse().unwrap()), "x", "wrong", now);
        failures.failed(
            Some("2001:db8:1:2::ffff".parse().unwrap()),
            "x",
            "wrong",
            now,
        );
        assert!(
            failures
                .wait(Some("2001:db8:1:2:abcd::9".parse().unwrap()), now)
                .is_some()
        );
        assert!(
            failures
                .wait(Some("2001:db8:1:3::1".parse().unwrap()), now)
                .is_none()
        );
        let mapped: IpAddr = "::ffff:10.1.1.1".parse().unwrap();
        assert_eq!(bucket(mapped), "10.1.1.1".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn the_followed_addresses_are_bounded() {
        let failures = Failures::new(limit(1));
        let now = Instant::now();
        for i in 0..(MAX_CLIENTS as u32 + 10) {
            let ip = IpAddr::V4(std::net::Ipv4Addr::from(i));
            failures.failed(Some(ip), "x", "wrong", now);
        }
        assert_eq!(failures.clients.lock().len(), MAX_CLIENTS);
        // Once their windows have ended, room is made for new addresses.
        let later = now + Duration::from_secs(61);
        let fresh = IpAddr::V4(std::net::Ipv4Addr::from(u32::MAX));
        failures.failed(Some(fresh), "x", "wrong", later);
        assert_eq!(failures.clients.lock().len(), 1);
        assert!(failures.wait(Some(fresh), later).is_some());
    }

    #[test]
    fn log_lines_are_bounded_per_period() {
        let failures = Failures::new(limit(1000));
        let now = Instant::now();
        let written = (0..100).filter(|_| failures.may_log(now).is_some()).count();
        assert_eq!(written, LOG_LINES as usize);
        let next = now + LOG_PERIOD;
        assert_eq!(failures.may_log(next), Some(100 - u64::from(LOG_LINES)));
    }

    #[test]
    fn a_key_hint_never_holds_the_key() {
        assert_eq!(key_hint("short-key"), "(9 chars)");
        let key = "sk-live-0123456789abcdef";
        let hint = key_hint(key);
        assert_eq!(hint, "sk-l… (24 chars)");
        assert!(!hint.contains("0123"));
        assert_eq!(
            key_hint("\u{1}\u{2}bcdefghijklmnopqrst"),
            "??bc… (21 chars)"
        );
    }
}
