//! The breaker's pure parts: an open breaker as stored and announced
//! ([`Open`], [`Message`]), and one worker's view of its environment
//! ([`View`]): the latest known open state and the local streak of
//! failures that decides when to open.

use std::{collections::VecDeque, time::Duration};

use tokio::time::Instant;

/// An open breaker: the store's value and the body of an `open` message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Open {
    /// When one probe may be sent, Unix ms. Also the open state's identity:
    /// a later open has a later end, and a close names the end it closes.
    pub until_ms: u64,
    /// How long it was opened for; a failed probe doubles it.
    pub open_ms: u64,
    /// The failures that opened it ...
    pub failures: u32,
    /// ... and the window they fell in.
    pub window_ms: u64,
    /// Probes that failed since it opened.
    pub probes_failed: u32,
}

impl Open {
    /// `"{until_ms} {open_ms} {failures} {window_ms} {probes_failed}"`.
    pub fn encode(&self) -> String {
        format!(
            "{} {} {} {} {}",
            self.until_ms, self.open_ms, self.failures, self.window_ms, self.probes_failed
        )
    }

    /// The inverse of [`Open::encode`]; `None` for anything else.
    pub fn decode(text: &str) -> Option<Self> {
        let mut fields = text.split(' ');
        let mut next = || fields.next().and_then(|f| f.parse::<u64>().ok());
        let open = Self {
            until_ms: next()?,
            open_ms: next()?,
            failures: u32::try_from(next()?).ok()?,
            window_ms: next()?,
            probes_failed: u32::try_from(next()?).ok()?,
        };
        (fields.next().is_none() && open.until_ms > 0).then_some(open)
    }

    /// Time left open at `now_ms`; `None` once a probe may go.
    pub fn left(&self, now_ms: u64) -> Option<Duration> {
        self.until_ms
            .checked_sub(now_ms)
            .filter(|&ms| ms > 0)
            .map(Duration::from_millis)
    }

    /// The same breaker after a failed probe at `now_ms`: open twice as
    /// long, at most `max_ms`.
    pub fn reopened(&self, now_ms: u64, max_ms: u64) -> Self {
        let open_ms = self.open_ms.saturating_mul(2).min(max_ms).max(1);
        Self {
            until_ms: now_ms.saturating_add(open_ms),
            open_ms,
            probes_failed: self.probes_failed.saturating_add(1),
            ..*self
        }
    }
}

/// A message on the breaker channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message<'a> {
    /// `"open {Open::encode} {key}"`: the breaker at `key` opened (or
    /// reopened).
    Opened(Open, &'a str),
    /// `"closed {until_ms} {key}"`: the open state ending at `until_ms`
    /// was closed by a successful probe.
    Closed(u64, &'a str),
}

impl Message<'_> {
    /// The message as sent.
    pub fn encode(&self) -> String {
        match self {
            Self::Opened(open, key) => format!("open {} {key}", open.encode()),
            Self::Closed(until_ms, key) => format!("closed {until_ms} {key}"),
        }
    }

    /// Reads a message; `None` when malformed. The key comes last and may
    /// hold spaces.
    pub fn parse(message: &[u8]) -> Option<Message<'_>> {
        let text = std::str::from_utf8(message).ok()?;
        let (kind, rest) = text.split_once(' ')?;
        let message = match kind {
            "open" => {
                let mut parts = rest.splitn(6, ' ');
                let fields: Vec<&str> = parts.by_ref().take(5).collect();
                let open = Open::decode(&fields.join(" "))?;
                Message::Opened(open, parts.next()?)
            }
            "closed" => {
                let (until, key) = rest.split_once(' ')?;
                Message::Closed(until.parse().ok()?, key)
            }
            _ => return None,
        };
        match message {
            Message::Opened(_, key) | Message::Closed(_, key) if !key.is_empty() => Some(message),
            _ => None,
        }
    }
}

/// One worker's view of one environment's breaker.
#[derive(Debug, Default)]
pub struct View {
    /// The latest known open state (possibly past its end: half-open).
    pub open: Option<Open>,
    /// The end of the latest open state known to be closed; an announced
    /// or stored state ending no later is stale.
    pub closed_through: u64,
    /// When the store was last read (or tried); `None` forces a read.
    pub refreshed: Option<Instant>,
    /// Whether this worker is sending a probe.
    pub probing: bool,
    /// When a probe of another worker was last found running.
    pub probe_elsewhere: Option<Instant>,
    /// This worker's failures since its last success, oldest first.
    failures: VecDeque<Instant>,
}

impl View {
    /// Whether the view was read from the store within `interval`.
    #[cfg(test)]
    pub fn fresh(&self, interval: Duration) -> bool {
        self.refreshed.is_some_and(|at| at.elapsed() < interval)
    }

    /// Takes `open` when it is later than what the view knows and not
    /// closed already; `true` when taken.
    pub fn learn_open(&mut self, open: Open) -> bool {
        let newer = self.open.is_none_or(|known| open.until_ms > known.until_ms);
        if open.until_ms <= self.closed_through || !newer {
            return false;
        }
        self.open = Some(open);
        self.failures.clear();
        true
    }

    /// The open state ending at `until_ms` was closed.
    pub fn learn_close(&mut self, until_ms: u64) {
        self.closed_through = self.closed_through.max(until_ms);
        if self.open.is_some_and(|open| open.until_ms <= until_ms) {
            self.open = None;
            self.probe_elsewhere = None;
            self.failures.clear();
        }
    }

    /// The store holds no open state at `now_ms`: one whose time is up was
    /// closed (or expired) meanwhile. One with time left stays: the store's
    /// copy may not have been written yet, or could not be.
    pub fn learn_absent(&mut self, now_ms: u64) {
        if let Some(open) = self.open
            && open.left(now_ms).is_none()
        {
            self.learn_close(open.until_ms);
        }
    }

    /// A request was answered: the failure streak ends.
    pub fn succeeded(&mut self) {
        self.failures.clear();
    }

    /// A request failed at `now`. Returns the number of failures when they
    /// now open the breaker: at least `threshold` of them within `window`,
    /// no success between them, and the breaker not open already.
    pub fn failed(&mut self, now: Instant, threshold: u32, window: Duration) -> Option<u32> {
        let threshold = usize::try_from(threshold).unwrap_or(usize::MAX);
        if threshold == 0 || self.open.is_some() {
            return None;
        }
        self.failures.push_back(now);
        while self.failures.len() > threshold
            || self
                .failures
                .front()
                .is_some_and(|&first| now.saturating_duration_since(first) > window)
        {
            self.failures.pop_front();
        }
        if self.failures.len() < threshold {
            return None;
        }
        let count = u32::try_from(self.failures.len()).unwrap_or(u32::MAX);
        self.failures.clear();
        Some(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(until_ms: u64) -> Open {
        Open {
            until_ms,
            open_ms: 5_000,
            failures: 20,
            window_ms: 10_000,
            probes_failed: 0,
        }
    }

    #[test]
    fn open_states_round_trip_and_reject_garbage() {
        let o = open(1_700_000_000_000);
        assert_eq!(Open::decode(&o.encode()), Some(o));
        for bad in [
            "",
            "1 2 3 4",
            "1 2 3 4 5 6",
            "0 1 1 1 0",
            "a 2 3 4 5",
            "1 2 99999999999 4 5",
        ] {
            assert_eq!(Open::decode(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn messages_round_trip_with_spaces_in_keys() {
        let o = open(42);
        for message in [
            Message::Opened(o, "d365mcp:breaker:v1:https://a b"),
            Message::Closed(42, "k"),
        ] {
            let text = message.encode();
            assert_eq!(Message::parse(text.as_bytes()), Some(message), "{text}");
        }
        for bad in [
            &b""[..],
            b"open 1 2 3 4 5",
            b"open 1 2 3 4 5 ",
            b"open 1 2 3 4 key",
            b"closed x key",
            b"closed 5",
            b"shut 5 key",
            &[0xff, b' ', b'k'],
        ] {
            assert_eq!(Message::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_failed_probe_doubles_the_time_open_up_to_the_maximum() {
        let first = open(1_000);
        let second = first.reopened(2_000, 12_000);
        assert_eq!((second.open_ms, second.until_ms), (10_000, 12_000));
        assert_eq!(second.probes_failed, 1);
        let third = second.reopened(12_000, 12_000);
        assert_eq!((third.open_ms, third.until_ms), (12_000, 24_000));
        assert_eq!(first.left(999), Some(Duration::from_millis(1)));
        assert_eq!(first.left(1_000), None);
    }

    #[test]
    fn only_a_streak_of_failures_within_the_window_opens() {
        let window = Duration::from_secs(10);
        let mut view = View::default();
        let t0 = Instant::now();
        assert_eq!(view.failed(t0, 3, window), None);
        assert_eq!(view.failed(t0, 3, window), None);
        // A success in between starts the count again.
        view.succeeded();
        assert_eq!(view.failed(t0, 3, window), None);
        assert_eq!(view.failed(t0, 3, window), None);
        // Older than the window: forgotten.
        let late = t0 + Duration::from_secs(11);
        assert_eq!(view.failed(late, 3, window), None);
        assert_eq!(view.failed(late, 3, window), None);
        assert_eq!(view.failed(late, 3, window), Some(3));
        // Off, or open already: never.
        assert_eq!(View::default().failed(t0, 0, window), None);
        view.open = Some(open(1));
        for _ in 0..5 {
            assert_eq!(view.failed(late, 3, window), None);
        }
    }

    #[test]
    fn the_later_open_wins_and_a_close_ends_only_what_it_names() {
        let mut view = View::default();
        assert!(view.learn_open(open(100)));
        assert!(!view.learn_open(open(50)), "older");
        assert!(view.learn_open(open(200)));
        view.learn_close(100);
        assert_eq!(
            view.open.map(|o| o.until_ms),
            Some(200),
            "a newer open stays"
        );
        view.learn_close(200);
        assert_eq!(view.open, None);
        assert!(!view.learn_open(open(200)), "closed already");
        // Absent from the store: only a state whose time is up goes.
        assert!(view.learn_open(open(300)));
        view.learn_absent(250);
        assert!(view.open.is_some());
        view.learn_absent(300);
        assert_eq!(view.open, None);
    }
}
